"""One-cycle schedules (Smith & Topin's super-convergence): up to a peak, then down far below the start."""

import jax

from jopt._src import base
from jopt._src import checks
from jopt._src.schedules import _common
from jopt._src.schedules import piecewise


def _check_onecycle(fn: str, transition_steps, div_factor, final_div_factor) -> None:
  _common.check_steps(fn, "transition_steps", transition_steps, allow_zero=False)
  _common.check_positive(fn, "div_factor", div_factor)
  _common.check_positive(fn, "final_div_factor", final_div_factor)


def _check_phases(fn: str, transition_steps, names, pcts, bounds) -> None:
  if any(not b2 > b1 for b1, b2 in zip(bounds[:-1], bounds[1:])):
    given = ", ".join(f"{n}={p!r}" for n, p in zip(names, pcts))
    raise ValueError(
        f"{fn}: `transition_steps`={transition_steps!r} is too short for {given}: the phase "
        f"boundaries int(pct * transition_steps) = {list(bounds)!r} must be strictly increasing."
    )


@checks.public
def linear_onecycle_schedule(
    transition_steps: int,
    peak_value: jax.typing.ArrayLike,
    pct_start: float = 0.3,
    pct_final: float = 0.85,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> base.Schedule:
  """Three linear phases: up to `peak_value`, back down to the start, then down to the end.

  With :math:`P` = `peak_value`, :math:`T` = `transition_steps`,
  :math:`b_1 = \\lfloor` `pct_start` :math:`\\cdot T \\rfloor`,
  :math:`b_2 = \\lfloor` `pct_final` :math:`\\cdot T \\rfloor`, start value
  :math:`I = P /` `div_factor` and end value :math:`I /` `final_div_factor`,
  the value is linear from :math:`I` to :math:`P` on :math:`[0, b_1]`, from
  :math:`P` to :math:`I` on :math:`[b_1, b_2]`, from :math:`I` to the end value
  on :math:`[b_2, T]`, and constant afterwards
  (`piecewise_interpolate_schedule("linear", I, {b1: div_factor, b2: 1/div_factor, T: 1/final_div_factor})`).

  Differs from optax: `0 <= pct_start < pct_final < 1` and `b_1 < b_2 < T`
  are required (`ValueError`); optax builds a dict keyed by the boundaries, so
  coinciding boundaries silently drop a phase. `div_factor` and
  `final_div_factor` must be `> 0`. (PyTorch's `OneCycleLR` places its phases
  differently; see the torch-conventions module for that variant.)

  Args:
    transition_steps: the length of the cycle, `> 0`.
    peak_value: the value at step `b_1`.
    pct_start: fraction of the cycle spent going up.
    pct_final: fraction of the cycle at which the value is back at the start value.
    div_factor: `peak_value / div_factor` is the start value.
    final_div_factor: the end value is the start value `/ final_div_factor`.

  Returns:
    A function `count -> value`.

  References:
    Smith & Topin, `Super-Convergence: Very Fast Training of Neural Networks
    Using Large Learning Rates <https://arxiv.org/abs/1708.07120>`_, 2017.
  """
  _common.check_values("linear_onecycle_schedule", peak_value=peak_value)
  fn = "linear_onecycle_schedule"
  _check_onecycle(fn, transition_steps, div_factor, final_div_factor)
  checks.check_range(fn, "pct_start", pct_start, 0.0, 1.0, high_inclusive=False)
  checks.check_range(fn, "pct_final", pct_final, 0.0, 1.0, high_inclusive=False)
  if not pct_start < pct_final:
    raise ValueError(f"{fn}: `pct_final` must be > pct_start={pct_start!r}, got {pct_final!r}.")
  bounds = (int(pct_start * transition_steps), int(pct_final * transition_steps),
            transition_steps)
  _check_phases(fn, transition_steps, ("pct_start", "pct_final"), (pct_start, pct_final), bounds)
  return piecewise.piecewise_interpolate_schedule(
      "linear",
      peak_value / div_factor,
      {bounds[0]: div_factor, bounds[1]: 1.0 / div_factor, bounds[2]: 1.0 / final_div_factor},
  )


@checks.public
def cosine_onecycle_schedule(
    transition_steps: int,
    peak_value: jax.typing.ArrayLike,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> base.Schedule:
  """Half-cosine up to `peak_value`, then half-cosine down to the end value.

  With :math:`P` = `peak_value`, :math:`T` = `transition_steps`,
  :math:`b_1 = \\lfloor` `pct_start` :math:`\\cdot T \\rfloor`, start value
  :math:`I = P /` `div_factor` and end value :math:`I /` `final_div_factor`:
  cosine interpolation (`end + (start - end)(1 + cos(pi p))/2`) from :math:`I`
  to :math:`P` on :math:`[0, b_1]`, from :math:`P` to the end value on
  :math:`[b_1, T]`, constant afterwards.

  Differs from optax: `0 <= pct_start < 1` with `b_1 < T`, and `div_factor`,
  `final_div_factor > 0` are required (`ValueError`).

  Args:
    transition_steps: the length of the cycle, `> 0`.
    peak_value: the value at step `b_1`.
    pct_start: fraction of the cycle spent going up.
    div_factor: `peak_value / div_factor` is the start value.
    final_div_factor: the end value is the start value `/ final_div_factor`.

  Returns:
    A function `count -> value`.

  References:
    Smith & Topin, `Super-Convergence: Very Fast Training of Neural Networks
    Using Large Learning Rates <https://arxiv.org/abs/1708.07120>`_, 2017.
  """
  _common.check_values("cosine_onecycle_schedule", peak_value=peak_value)
  fn = "cosine_onecycle_schedule"
  _check_onecycle(fn, transition_steps, div_factor, final_div_factor)
  checks.check_range(fn, "pct_start", pct_start, 0.0, 1.0, high_inclusive=False)
  bounds = (int(pct_start * transition_steps), int(transition_steps))
  _check_phases(fn, transition_steps, ("pct_start",), (pct_start,), bounds)
  return piecewise.piecewise_interpolate_schedule(
      "cosine",
      peak_value / div_factor,
      {bounds[0]: div_factor, bounds[1]: 1.0 / (div_factor * final_div_factor)},
  )
