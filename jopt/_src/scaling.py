"""Scaling updates by constants and schedules: `identity`, `scale`, `scale_by_learning_rate`, `scale_by_schedule`."""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import tree


def identity() -> base.GradientTransformation:
  """Returns the updates unchanged; state is `EmptyState()`."""

  def update_fn(updates, state, params=None):
    del params
    return updates, state

  return base.GradientTransformation(base.init_empty_state, update_fn)


def _scale_leaf(step_size: Any, g: jax.Array) -> jax.Array:
  # Multiply first, then cast: a float32 step size on bfloat16 updates keeps the
  # update's dtype without first rounding the step size to bfloat16.
  return (step_size * g).astype(g.dtype)


def scale(step_size: jax.typing.ArrayLike) -> base.GradientTransformation:
  """Multiplies every update by a constant: `u <- step_size * u`.

  Args:
    step_size: the constant factor (a float or a scalar array).

  Returns:
    A stateless `GradientTransformation`.
  """

  def update_fn(updates, state, params=None):
    del params
    return tree.tree_map(lambda g: _scale_leaf(step_size, g), updates), state

  return base.GradientTransformation(base.init_empty_state, update_fn)


class ScaleByScheduleState(NamedTuple):
  """State of `scale_by_schedule`."""

  count: jax.Array  # shape=(), dtype=int32: the number of updates so far.


def scale_by_schedule(step_size_fn: base.Schedule) -> base.GradientTransformation:
  """Multiplies updates by a schedule of the step count: `u_t <- step_size_fn(t) * u_t`.

  The first update uses `step_size_fn(0)`.

  Args:
    step_size_fn: a function `count -> factor`.

  Returns:
    A `GradientTransformation` with state `ScaleByScheduleState`.
  """
  if not callable(step_size_fn):
    raise ValueError(
        f"scale_by_schedule: `step_size_fn` must be callable, got {step_size_fn!r}."
    )

  def init_fn(params):
    del params
    return ScaleByScheduleState(count=tree.init_count())

  def update_fn(updates, state, params=None):
    del params
    step_size = step_size_fn(state.count)
    updates = tree.tree_map(lambda g: _scale_leaf(step_size, g), updates)
    return updates, ScaleByScheduleState(count=tree.safe_increment(state.count))

  return base.GradientTransformation(init_fn, update_fn)


def scale_by_learning_rate(
    learning_rate: Optional[base.ScalarOrSchedule] = None,
    *,
    flip_sign: bool = True,
) -> base.GradientTransformation:
  """Scales updates by the learning rate, negated by default: `u <- -lr * u`.

  Args:
    learning_rate: a non-negative float, scalar array or schedule `count -> lr`;
      `None` gives `identity()`.
    flip_sign: negate (descent). Set False to ascend.

  Returns:
    `scale` for a constant, `scale_by_schedule` for a schedule.
  """
  if learning_rate is None:
    return identity()
  checks.check_nonnegative("scale_by_learning_rate", "learning_rate", learning_rate)
  sign = -1 if flip_sign else 1
  if callable(learning_rate):
    return scale_by_schedule(lambda count: sign * learning_rate(count))
  return scale(sign * learning_rate)


def _centralize_leaf(g: jax.Array) -> jax.Array:
  if g.ndim < 2:
    return g
  return (g - g.mean(axis=tuple(range(1, g.ndim)), keepdims=True)).astype(g.dtype)


def centralize() -> base.GradientTransformation:
  """Gradient centralization: subtracts from each leaf with 2+ axes its mean over all axes but the first.

  .. math::
    u_{i,\\dots} \\leftarrow u_{i,\\dots} - \\mathrm{mean}_{\\text{axes} \\ge 1}(u_{i,\\dots})

  Leaves with fewer than 2 axes (biases, scalars) pass through. Yong et al.,
  2020, "Gradient Centralization: A New Optimization Technique for Deep Neural
  Networks" (https://arxiv.org/abs/2004.01461).

  Returns:
    A stateless `GradientTransformation`. Updates keep each leaf's dtype.

  Differs from optax: a `params` tree that does not match the updates raises.
  """

  def update_fn(updates, state, params=None):
    if params is not None:
      checks.check_same_structure("centralize", updates, params, "params")
    return tree.tree_map(_centralize_leaf, updates), state

  return base.GradientTransformation(base.init_empty_state, update_fn)
