"""Cyclic schedules: PyTorch's CyclicLR triangles and SGDR's cosine warm restarts."""

from typing import Iterable, Optional

import jax
import jax.numpy as jnp

from jopt._src import checks
from jopt._src import base
from jopt._src.schedules import _common
from jopt._src.schedules import join
from jopt._src.schedules import warmup

_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


@checks.public
def cyclic_schedule(
    init_value: jax.typing.ArrayLike,
    peak_value: jax.typing.ArrayLike,
    step_size_up: int = 2000,
    step_size_down: Optional[int] = None,
    mode: str = "triangular",
    gamma: jax.typing.ArrayLike = 1.0,
) -> base.Schedule:
  """Cyclical learning rate: linear up from `init_value` to `peak_value` and back, repeatedly.

  With :math:`U` = `step_size_up`, :math:`D` = `step_size_down` (default
  :math:`U`), :math:`C = U + D`, the cycle index :math:`k = \\lfloor t / C \\rfloor`
  and the position in the cycle :math:`q = t - kC`:

  .. math::
    h(t) = q / U \\ \\ (q \\le U), \\qquad h(t) = (C - q) / D \\ \\ (q > U), \\\\
    v(t) = I + (P - I)\\, h(t)\\, \\sigma(t),

  with the amplitude scale :math:`\\sigma = 1` (`"triangular"`),
  :math:`\\sigma = 2^{-k}` (`"triangular2"`, halved every cycle) or
  :math:`\\sigma = \\gamma^t` (`"exp_range"`).

  Source: PyTorch `torch.optim.lr_scheduler.CyclicLR`
  (https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.CyclicLR.html)
  with `base_lr` = `init_value`, `max_lr` = `peak_value` and the same
  `step_size_up`, `step_size_down`, `mode`, `gamma`; its
  `x = 1 + t/C - cycle` and `x <= step_ratio` tests are the `q / C` and
  `q <= U` above. Step :math:`t` here is PyTorch's `last_epoch` (the number of
  `scheduler.step()` calls). Leslie Smith, `Cyclical Learning Rates for
  Training Neural Networks <https://arxiv.org/abs/1506.01186>`_, 2017.

  Args:
    init_value: the value at the bottom of each cycle (`base_lr`).
    peak_value: the value at the top of the first cycle (`max_lr`).
    step_size_up: steps from bottom to top, `> 0`.
    step_size_down: steps from top to bottom, `> 0`; default `step_size_up`.
    mode: `"triangular"`, `"triangular2"` or `"exp_range"`.
    gamma: the per-step amplitude decay of `"exp_range"`, `> 0`.

  Returns:
    A function `count -> value`.

  Example:
    >>> import jopt
    >>> s = jopt.cyclic_schedule(0.1, 1.0, step_size_up=4, mode="triangular2")
    >>> [round(float(s(t)), 3) for t in (0, 2, 4, 8, 12)]
    [0.1, 0.55, 1.0, 0.1, 0.55]
  """
  _common.check_values("cyclic_schedule", init_value=init_value, peak_value=peak_value)
  fn = "cyclic_schedule"
  _common.check_steps(fn, "step_size_up", step_size_up, allow_zero=False)
  if step_size_down is None:
    step_size_down = step_size_up
  _common.check_steps(fn, "step_size_down", step_size_down, allow_zero=False)
  if mode not in _CYCLIC_MODES:
    raise ValueError(f"{fn}: `mode` must be one of {_CYCLIC_MODES}, got {mode!r}.")
  _common.check_positive(fn, "gamma", gamma)
  cycle_steps = step_size_up + step_size_down

  def schedule(count):
    t = jnp.maximum(count, 0)
    k = _common.floor_div(t, cycle_steps)
    q = t - k * cycle_steps
    height = jnp.where(q <= step_size_up, q / step_size_up, (cycle_steps - q) / step_size_down)
    if mode == "triangular":
      amplitude = 1.0
    elif mode == "triangular2":
      amplitude = jnp.power(0.5, k)
    else:
      amplitude = jnp.power(gamma, t)
    return init_value + (peak_value - init_value) * height * amplitude

  return schedule


@checks.public
def sgdr_schedule(cosine_kwargs: Iterable[dict[str, jax.typing.ArrayLike]]) -> base.Schedule:
  """SGD with warm restarts: `warmup_cosine_decay_schedule` cycles joined end to end.

  Cycle :math:`i` is `warmup_cosine_decay_schedule(**cosine_kwargs[i])` and
  lasts its `decay_steps` steps; it starts at step
  :math:`\\sum_{j<i} D_j` and sees the steps since its own start.

  Differs from optax: a bad cycle raises a `ValueError` that names
  `sgdr_schedule` and the cycle's index.

  Args:
    cosine_kwargs: one dict of `warmup_cosine_decay_schedule` arguments per
      cycle (`init_value`, `peak_value`, `warmup_steps`, `decay_steps`, and
      optionally `end_value`, `exponent`).

  Returns:
    A function `count -> value`.

  References:
    Loshchilov & Hutter, `SGDR: Stochastic Gradient Descent with Warm Restarts
    <https://arxiv.org/abs/1608.03983>`_, 2017.
  """
  fn = "sgdr_schedule"
  schedules, boundaries, step = [], [], 0
  for i, kwargs in enumerate(cosine_kwargs):
    try:
      schedules.append(warmup.warmup_cosine_decay_schedule(**kwargs))
    except (TypeError, ValueError) as e:
      raise ValueError(f"{fn}: `cosine_kwargs[{i}]`: {e}") from e
    step += kwargs["decay_steps"]
    boundaries.append(step)
  if not schedules:
    raise ValueError(f"{fn}: `cosine_kwargs` must hold at least one cycle.")
  return join.join_schedules(schedules, boundaries[:-1])
