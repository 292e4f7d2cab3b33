"""Exponential decay and inverse-time ("time-based") decay."""

from typing import Optional

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src.schedules import _common
from jopt._src.schedules import polynomial


@checks.public
def exponential_decay(
    init_value: jax.typing.ArrayLike,
    transition_steps: int,
    decay_rate: float,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: Optional[jax.typing.ArrayLike] = None,
) -> base.Schedule:
  """Continuous or staircase exponential decay.

  With :math:`B` = `transition_begin`, :math:`T` = `transition_steps`, :math:`r` = `decay_rate`:

  .. math::
    p(t) = (t - B) / T \\ \\ (\\lfloor (t - B) / T \\rfloor \\text{ if staircase}), \\qquad
    v(t) = I \\ \\text{for } t \\le B, \\quad v(t) = I\\, r^{p(t)} \\ \\text{for } t > B,

  then clipped at `end_value` (a lower bound when `r < 1`, an upper bound when `r > 1`).

  Differs from optax:

  * With `staircase=True` and integer steps the floor is an integer division.
    Under `jit` optax's float `(t - B) / T` becomes `(t - B) * (1/T)`, which for
    e.g. `T = 97` gives `0.99999994` at `t = 97`: one stair late at every
    multiple of `T`.
  * A negative `decay_rate` raises `ValueError` (optax returns NaN). As in optax,
    `transition_steps <= 0` or `decay_rate == 0` give the constant `init_value`,
    and a negative `transition_begin` is taken as 0 (all logged at INFO level).

  Args:
    init_value: the value up to `transition_begin`.
    transition_steps: steps per factor of `decay_rate` (`<= 0`: constant `init_value`).
    decay_rate: the factor per `transition_steps` steps, `>= 0` (0: constant `init_value`).
    transition_begin: steps to hold `init_value` (negative: 0).
    staircase: decay in discrete jumps every `transition_steps` steps.
    end_value: optional bound at which the decay stops.

  Returns:
    A function `count -> value`.

  Example:
    >>> import jopt
    >>> s = jopt.exponential_decay(1.0, transition_steps=10, decay_rate=0.5)
    >>> float(s(20))
    0.25
  """
  _common.check_values("exponential_decay", init_value=init_value, end_value=end_value)
  return exponential_decay_checked(
      "exponential_decay", init_value, transition_steps, decay_rate, transition_begin,
      staircase, end_value)


def exponential_decay_checked(fn, init_value, transition_steps, decay_rate, transition_begin,
                              staircase, end_value) -> base.Schedule:
  """`exponential_decay` with its argument errors attributed to the public function `fn`."""
  if _common.no_transition(fn, "transition_steps", transition_steps):
    return polynomial.constant_schedule(init_value)
  _common.check_steps(fn, "transition_steps", transition_steps, allow_zero=False)
  known_rate = checks.concrete_value(decay_rate)
  if known_rate is not None and known_rate.shape == () and known_rate == 0:
    _common.log_constant(fn, "decay_rate", decay_rate)
    return polynomial.constant_schedule(init_value)
  _common.check_positive(fn, "decay_rate", decay_rate)
  transition_begin = _common.begin_or_zero(fn, "transition_begin", transition_begin)
  clip = None
  if end_value is not None:
    if _common.is_known(decay_rate):
      clip = jnp.maximum if decay_rate < 1.0 else jnp.minimum
    else:
      clip = lambda v, e: jnp.where(decay_rate < 1.0, jnp.maximum(v, e), jnp.minimum(v, e))

  def schedule(count):
    steps_done = count - transition_begin
    if staircase:
      p = _common.floor_div(steps_done, transition_steps)
    else:
      p = steps_done / transition_steps
    value = jnp.where(steps_done <= 0, init_value, init_value * jnp.power(decay_rate, p))
    if clip is not None:
      value = clip(value, end_value)
    return value

  return schedule


@checks.public
def inverse_time_decay(
    init_value: jax.typing.ArrayLike,
    decay_steps: int,
    decay_rate: jax.typing.ArrayLike,
    staircase: bool = False,
) -> base.Schedule:
  """Inverse-time ("time-based") decay: the value divided by a linearly growing factor.

  .. math::
    v(t) = \\frac{I}{1 + r\\, t / T}
    \\qquad (\\text{with } \\lfloor t / T \\rfloor \\text{ for } t/T \\text{ if staircase}),

  with :math:`I` = `init_value`, :math:`r` = `decay_rate`, :math:`T` = `decay_steps`.
  With `decay_steps=1` this is Keras' classic `lr = lr0 / (1 + decay * t)`.

  Source: Keras `InverseTimeDecay`
  (https://keras.io/api/optimizers/learning_rate_schedules/inverse_time_decay/),
  same formula and argument order (`initial_learning_rate` is `init_value`).

  Args:
    init_value: the value at step 0.
    decay_steps: the step scale :math:`T`, `> 0`.
    decay_rate: the rate :math:`r`, `>= 0`.
    staircase: use whole periods `floor(t / T)` only.

  Returns:
    A function `count -> value`.

  Example:
    >>> import jopt
    >>> float(jopt.inverse_time_decay(1.0, decay_steps=10, decay_rate=1.0)(10))
    0.5
  """
  _common.check_values("inverse_time_decay", init_value=init_value)
  fn = "inverse_time_decay"
  _common.check_steps(fn, "decay_steps", decay_steps, allow_zero=False)
  checks.check_nonnegative(fn, "decay_rate", decay_rate)

  def schedule(count):
    count = jnp.maximum(count, 0)
    p = _common.floor_div(count, decay_steps) if staircase else count / decay_steps
    return init_value / (1 + decay_rate * p)

  return schedule
