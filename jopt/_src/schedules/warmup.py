"""Linear warmup followed by a constant, cosine, exponential or linear decay."""

from typing import Optional

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src.schedules import _common
from jopt._src.schedules import cosine
from jopt._src.schedules import exponential
from jopt._src.schedules import join
from jopt._src.schedules import polynomial


@checks.public
def warmup_constant_schedule(
    init_value: jax.typing.ArrayLike,
    peak_value: jax.typing.ArrayLike,
    warmup_steps: int,
) -> base.Schedule:
  """Linear warmup from `init_value` to `peak_value` over `warmup_steps` steps, then constant.

  .. math:: v(t) = I + \\min(t / W, 1)\\,(P - I)

  Differs from optax: `warmup_steps=0` means no warmup (`peak_value` from step
  0); optax then returns `init_value` forever. A negative `warmup_steps` raises
  `ValueError`.

  Args:
    init_value: the value at step 0.
    peak_value: the value from step `warmup_steps` on.
    warmup_steps: the length of the warmup, `>= 0`.

  Returns:
    A function `count -> value`.
  """
  _common.check_values("warmup_constant_schedule", init_value=init_value, peak_value=peak_value)
  _common.check_steps("warmup_constant_schedule", "warmup_steps", warmup_steps, allow_zero=True)
  return polynomial.linear_transition(init_value, peak_value, warmup_steps)


def _check_total(fn: str, warmup_steps, decay_steps) -> None:
  _common.check_steps(fn, "warmup_steps", warmup_steps, allow_zero=True)
  _common.check_steps(fn, "decay_steps", decay_steps, allow_zero=False)
  if _common.is_known(warmup_steps) and _common.is_known(decay_steps):
    if not decay_steps > warmup_steps:
      raise ValueError(
          f"{fn}: `decay_steps` is the total length including warmup and must be > "
          f"warmup_steps={warmup_steps!r}, got {decay_steps!r}."
      )


@checks.public
def warmup_cosine_decay_schedule(
    init_value: jax.typing.ArrayLike,
    peak_value: jax.typing.ArrayLike,
    warmup_steps: int,
    decay_steps: int,
    end_value: jax.typing.ArrayLike = 0.0,
    exponent: jax.typing.ArrayLike = 1.0,
) -> base.Schedule:
  """Linear warmup to `peak_value`, then cosine decay to `end_value` at step `decay_steps`.

  With :math:`W` = `warmup_steps`, :math:`D` = `decay_steps` (total, warmup
  included), :math:`P` = `peak_value`, :math:`E` = `end_value`,
  :math:`\\alpha = E / P` (0 if :math:`P = 0`):

  .. math::
    v(t) = I + (t / W)(P - I) \\ \\ (t < W), \\qquad
    v(t) = P\\big((1 - \\alpha)\\, c^p + \\alpha\\big),\\
    c = \\tfrac12\\big(1 + \\cos(\\pi \\min(t - W, D - W) / (D - W))\\big) \\ \\ (t \\ge W).

  Differs from optax: `decay_steps <= warmup_steps` raises a `ValueError`
  naming `decay_steps` (optax raises about the inner cosine schedule's
  "decay_steps", which the caller never passed).

  Args:
    init_value: the value at step 0.
    peak_value: the value at the end of the warmup.
    warmup_steps: the length of the warmup, `>= 0`.
    decay_steps: the total length of the schedule, warmup included, `> warmup_steps`.
    end_value: the value from step `decay_steps` on.
    exponent: the power of the cosine factor, `>= 0`.

  Returns:
    A function `count -> value`.

  References:
    Loshchilov & Hutter, `SGDR: Stochastic Gradient Descent with Warm Restarts
    <https://arxiv.org/abs/1608.03983>`_, 2017; Goyal et al., `Accurate, Large
    Minibatch SGD <https://arxiv.org/abs/1706.02677>`_, 2017 (warmup).

  Example:
    >>> import jopt
    >>> s = jopt.warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps=10, decay_steps=110)
    >>> [round(float(s(t)), 3) for t in (0, 5, 10, 60, 110)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
  """
  _common.check_values(
      "warmup_cosine_decay_schedule", init_value=init_value, peak_value=peak_value, end_value=end_value)
  fn = "warmup_cosine_decay_schedule"
  _check_total(fn, warmup_steps, decay_steps)
  checks.check_nonnegative(fn, "exponent", exponent)
  if _common.is_known(peak_value):
    alpha = 0.0 if peak_value == 0.0 else end_value / peak_value
  else:
    nonzero = peak_value != 0.0
    alpha = jnp.where(nonzero, end_value / jnp.where(nonzero, peak_value, 1.0), 0.0)
  return join.join_schedules(
      [
          polynomial.linear_transition(init_value, peak_value, warmup_steps),
          cosine.cosine_unchecked(peak_value, decay_steps - warmup_steps, alpha, exponent),
      ],
      [warmup_steps],
  )


@checks.public
def warmup_exponential_decay_schedule(
    init_value: jax.typing.ArrayLike,
    peak_value: jax.typing.ArrayLike,
    warmup_steps: int,
    transition_steps: int,
    decay_rate: jax.typing.ArrayLike,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: Optional[jax.typing.ArrayLike] = None,
) -> base.Schedule:
  """Linear warmup to `peak_value`, then `exponential_decay` from `peak_value`.

  .. math::
    v(t) = I + (t / W)(P - I) \\ \\ (t < W), \\qquad
    v(t) = \\mathrm{exponential\\_decay}(P, T, r, B, \\ldots)(t - W) \\ \\ (t \\ge W).

  Differs from optax as `exponential_decay` does (exact staircase under `jit`,
  `ValueError` for a negative `decay_rate`), and a negative `warmup_steps` raises
  `ValueError`. As in optax, `transition_steps <= 0` or `decay_rate == 0` hold
  `peak_value` after the warmup.

  Args:
    init_value: the value at step 0.
    peak_value: the value at the end of the warmup.
    warmup_steps: the length of the warmup, `>= 0`.
    transition_steps: steps per factor of `decay_rate` (`<= 0`: no decay).
    decay_rate: the factor per `transition_steps` steps, `>= 0` (0: no decay).
    transition_begin: steps after the warmup to hold `peak_value` (negative: 0).
    staircase: decay in discrete jumps.
    end_value: optional bound at which the decay stops.

  Returns:
    A function `count -> value`.
  """
  _common.check_values(
      "warmup_exponential_decay_schedule", init_value=init_value, peak_value=peak_value, end_value=end_value)
  fn = "warmup_exponential_decay_schedule"
  _common.check_steps(fn, "warmup_steps", warmup_steps, allow_zero=True)
  decay = exponential.exponential_decay_checked(
      fn, peak_value, transition_steps, decay_rate, transition_begin, staircase, end_value)
  return join.join_schedules(
      [polynomial.linear_transition(init_value, peak_value, warmup_steps), decay],
      [warmup_steps],
  )


@checks.public
def warmup_linear_decay_schedule(
    init_value: jax.typing.ArrayLike,
    peak_value: jax.typing.ArrayLike,
    warmup_steps: int,
    decay_steps: int,
    end_value: jax.typing.ArrayLike = 0.0,
) -> base.Schedule:
  """Linear warmup to `peak_value`, then linear decay to `end_value` at step `decay_steps`.

  .. math::
    v(t) = I + (t / W)(P - I) \\ \\ (t < W), \\qquad
    v(t) = P + \\min\\big((t - W) / (D - W), 1\\big)(E - P) \\ \\ (t \\ge W).

  With `init_value = end_value = 0` this is Hugging Face's
  `get_linear_schedule_with_warmup(optimizer, num_warmup_steps=W,
  num_training_steps=D)` times `peak_value`: the multiplier is
  `t / max(1, W)` for `t < W`, else `max(0, (D - t) / max(1, D - W))`
  (https://huggingface.co/docs/transformers/main_classes/optimizer_schedules).
  The argument names follow `warmup_cosine_decay_schedule`: `decay_steps` is
  the total length, warmup included.

  Args:
    init_value: the value at step 0.
    peak_value: the value at the end of the warmup.
    warmup_steps: the length of the warmup, `>= 0`.
    decay_steps: the total length of the schedule, warmup included, `> warmup_steps`.
    end_value: the value from step `decay_steps` on.

  Returns:
    A function `count -> value`.

  Example:
    >>> import jopt
    >>> s = jopt.warmup_linear_decay_schedule(0.0, 1.0, warmup_steps=10, decay_steps=110)
    >>> [round(float(s(t)), 3) for t in (0, 5, 10, 60, 110)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
  """
  _common.check_values(
      "warmup_linear_decay_schedule", init_value=init_value, peak_value=peak_value, end_value=end_value)
  fn = "warmup_linear_decay_schedule"
  _check_total(fn, warmup_steps, decay_steps)
  return join.join_schedules(
      [
          polynomial.linear_transition(init_value, peak_value, warmup_steps),
          polynomial.linear_transition(peak_value, end_value, decay_steps - warmup_steps),
      ],
      [warmup_steps],
  )
