"""Constant, polynomial and linear schedules."""

from typing import Any

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src.schedules import _common


@checks.public
def constant_schedule(value: jax.typing.ArrayLike) -> base.Schedule:
  """A schedule that returns `value` at every step.

  .. math:: v(t) = \\text{value}

  Differs from optax: returns a JAX array shaped like `count` (with `value`'s
  dtype, weakly typed for a Python float) rather than the raw Python value, so
  every jopt schedule returns the same kind of object (`.dtype`, `.item()`,
  `vmap` over steps all behave alike). The numbers are optax's.

  Args:
    value: the value to hold.

  Returns:
    A function `count -> value`.

  Example:
    >>> import jopt
    >>> float(jopt.constant_schedule(0.1)(100))
    0.1...
  """
  _common.check_values("constant_schedule", value=value)
  value_arr = jnp.asarray(value)

  def schedule(count):
    return jnp.broadcast_to(value_arr, jnp.shape(count))

  return schedule


@checks.public
def polynomial_schedule(
    init_value: jax.typing.ArrayLike,
    end_value: jax.typing.ArrayLike,
    power: jax.typing.ArrayLike,
    transition_steps: int,
    transition_begin: int = 0,
) -> base.Schedule:
  """Polynomial transition from `init_value` to `end_value` over `transition_steps` steps.

  With :math:`I` = `init_value`, :math:`E` = `end_value`, :math:`P` = `power`,
  :math:`B` = `transition_begin`, :math:`T` = `transition_steps`:

  .. math::
    f(t) = \\mathrm{clip}(1 - \\mathrm{clip}(t - B, 0, T) / T,\\ 0,\\ 1), \\qquad
    v(t) = (I - E) f(t)^P + E,

  i.e. `I` until step `B`, `E` from step `B + T` on.

  Differs from optax:

  * The fraction `f` is clipped to [0, 1]. Under `jit` XLA computes `t / T` as
    `t * (1/T)`, which can exceed 1 at `t = B + T`; optax then returns NaN for
    a fractional `power` (a negative number to a fractional power) and a value
    slightly past `end_value` for `power=1`. jopt returns exactly `end_value`.
  * A negative `power` raises `ValueError` (optax returns inf). As in optax,
    `transition_steps <= 0` gives the constant `init_value` and a negative
    `transition_begin` is taken as 0 (both logged at INFO level).

  Args:
    init_value: the value before and at `transition_begin`.
    end_value: the value from `transition_begin + transition_steps` on.
    power: the polynomial's power, `>= 0` (1 is linear).
    transition_steps: number of steps of the transition (`<= 0`: constant `init_value`).
    transition_begin: steps to hold `init_value` before the transition (negative: 0).

  Returns:
    A function `count -> value`.

  Example:
    >>> import jopt
    >>> s = jopt.polynomial_schedule(1.0, 0.01, power=2, transition_steps=100)
    >>> round(float(s(50)), 4)
    0.2575
  """
  _common.check_values("polynomial_schedule", init_value=init_value, end_value=end_value)
  fn = "polynomial_schedule"
  checks.check_nonnegative(fn, "power", power)
  if _common.no_transition(fn, "transition_steps", transition_steps):
    return constant_schedule(init_value)
  _common.check_steps(fn, "transition_steps", transition_steps, allow_zero=False)
  transition_begin = _common.begin_or_zero(fn, "transition_begin", transition_begin)
  return _polynomial(init_value, end_value, power, transition_steps, transition_begin)


def _polynomial(init_value: Any, end_value: Any, power: Any, transition_steps: Any,
                transition_begin: Any) -> base.Schedule:
  """The polynomial schedule without argument checks (warmup schedules allow 0 steps)."""

  def schedule(count):
    steps_done = jnp.clip(count - transition_begin, 0, transition_steps)
    frac = jnp.clip(1 - steps_done / transition_steps, 0.0, 1.0)
    return (init_value - end_value) * (frac**power) + end_value

  return schedule


@checks.public
def linear_schedule(
    init_value: jax.typing.ArrayLike,
    end_value: jax.typing.ArrayLike,
    transition_steps: int,
    transition_begin: int = 0,
) -> base.Schedule:
  """Linear transition from `init_value` to `end_value`: `polynomial_schedule` with `power=1`.

  .. math::
    v(t) = I + \\mathrm{clip}((t - B) / T, 0, 1)\\,(E - I)

  (computed as :math:`(I - E) f + E` with :math:`f = 1 - \\mathrm{clip}((t-B)/T, 0, 1)`,
  optax's arithmetic, so the numbers agree).

  Differs from optax: ends at exactly `end_value` under `jit` (optax can end at
  -1.49e-8 instead of 0 for `linear_schedule(1.0, 0.0, 10)`). As in optax, `transition_steps <= 0`
  gives the constant `init_value` and a negative `transition_begin` is taken as 0.

  Args:
    init_value: the value before and at `transition_begin`.
    end_value: the value from `transition_begin + transition_steps` on.
    transition_steps: number of steps of the transition (`<= 0`: constant `init_value`).
    transition_begin: steps to hold `init_value` before the transition (negative: 0).

  Returns:
    A function `count -> value`.

  Example:
    >>> import jopt
    >>> float(jopt.linear_schedule(1.0, 0.0, transition_steps=10)(5))
    0.5
  """
  _common.check_values("linear_schedule", init_value=init_value, end_value=end_value)
  fn = "linear_schedule"
  if _common.no_transition(fn, "transition_steps", transition_steps):
    return constant_schedule(init_value)
  _common.check_steps(fn, "transition_steps", transition_steps, allow_zero=False)
  transition_begin = _common.begin_or_zero(fn, "transition_begin", transition_begin)
  return _polynomial(init_value, end_value, 1, transition_steps, transition_begin)


def linear_transition(init_value: Any, end_value: Any, transition_steps: Any) -> base.Schedule:
  """A linear warmup that accepts `transition_steps == 0` (no warmup), for the warmup schedules."""
  if _common.is_known(transition_steps) and float(transition_steps) == 0:
    # Zero steps: the transition is over at step 0.
    return constant_schedule(end_value)
  return _polynomial(init_value, end_value, 1, transition_steps, 0)
