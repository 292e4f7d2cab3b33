"""Scaling updates by constants and schedules: `identity`, `scale`, `scale_by_learning_rate`, `scale_by_schedule`."""

import jax
import jax.numpy as jnp
from typing import Any
from typing import Any, NamedTuple, Optional

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics


@checks.public
def identity() -> base.GradientTransformation:
  """Returns the updates unchanged; state is `EmptyState()`."""

  def update_fn(updates, state, params=None):
    del params
    return updates, state

  return base.declare_fusion(
      base.GradientTransformation(base.init_empty_state, update_fn), "elementwise", "identity")


def _scale_leaf(step_size: Any, g: jax.Array) -> jax.Array:
  # Multiply first, then cast: a float32 step size on bfloat16 updates keeps the
  # update's dtype without first rounding the step size to bfloat16.
  return (step_size * g).astype(g.dtype)


@checks.public
def scale(step_size: jax.typing.ArrayLike) -> base.GradientTransformation:
  """Multiplies every update by a constant: `u <- step_size * u`.

  Args:
    step_size: the constant factor (a float or a scalar array).

  Returns:
    A stateless `GradientTransformation`.
  """
  checks.check_finite("scale", "step_size", step_size)

  def update_fn(updates, state, params=None):
    del params
    return numerics.tree_map(lambda g: _scale_leaf(step_size, g), updates), state

  return base.declare_fusion(
      base.GradientTransformation(base.init_empty_state, update_fn), "elementwise", "scale")


class ScaleByScheduleState(NamedTuple):
  """State of `scale_by_schedule`."""

  count: jax.Array  # shape=(), dtype=int32: the number of updates so far.


@checks.public
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
    return ScaleByScheduleState(count=numerics.init_count())

  def update_fn(updates, state, params=None):
    del params
    step_size = step_size_fn(state.count)
    updates = numerics.tree_map(lambda g: _scale_leaf(step_size, g), updates)
    return updates, ScaleByScheduleState(count=numerics.safe_increment(state.count))

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "elementwise", "scale_by_schedule")


@checks.public
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


@checks.public
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
    checks.check_params_structure("centralize", updates, params)
    return numerics.tree_map(_centralize_leaf, updates), state

  return base.declare_fusion(
      base.GradientTransformation(base.init_empty_state, update_fn),
      "per_leaf", "centralize",
      why="the mean of each leaf over its trailing axes")


# --- scaling the gradient in the backward pass ---

@jax.custom_vjp
def _scaled_identity(inputs: Any, scale: jax.typing.ArrayLike) -> Any:
  del scale  # only the backward pass uses it.
  return inputs


def _forward(inputs: Any, scale: jax.typing.ArrayLike) -> tuple[Any, jax.typing.ArrayLike]:
  return inputs, scale


def _backward(scale: jax.typing.ArrayLike, cotangent: Any) -> tuple[Any, None]:
  # The cotangent keeps each input's dtype (a float32 `scale` on a bfloat16 input
  # would otherwise promote it, which `custom_vjp` rejects).
  scaled = jax.tree.map(lambda g: (g * scale).astype(g.dtype), cotangent)
  return scaled, None


_scaled_identity.defvjp(_forward, _backward)


def scale_gradient(inputs: Any, scale: jax.typing.ArrayLike) -> Any:
  """Returns `inputs` unchanged; their gradient on the way back is multiplied by `scale`.

  .. math::
    f(x) = x, \\qquad \\frac{\\partial L}{\\partial x} \\leftarrow \\text{scale} \\cdot \\frac{\\partial L}{\\partial f}

  A known `scale` of 1 returns `inputs` itself, and of 0 `lax.stop_gradient(inputs)`.

  Differs from optax: a traced `scale` (inside `jit`) works; optax compares it
  to 1 in Python and raises a concretization error.

  Args:
    inputs: a tree of arrays.
    scale: the factor applied to the gradient.

  Returns:
    `inputs`, with the scaled backward pass.

  Example:
    >>> import jax, jax.numpy as jnp, jopt
    >>> jax.grad(lambda x: jopt.scale_gradient(x, 0.5) ** 2)(3.0)
    Array(3., dtype=float32, weak_type=True)
  """
  known = checks.concrete_value(scale)
  if known is not None and known.shape == () and known.dtype != object:
    if known == 1.0:
      return inputs
    if known == 0.0:
      return jax.lax.stop_gradient(inputs)
  return _scaled_identity(inputs, scale)
