"""Global and safe norms: the l2 norm of a whole tree, and norms clamped from below with finite gradients."""

from typing import Any, Optional, Union

import jax
import jax.numpy as jnp

from jopt._src import numerics


def global_norm(updates: Any) -> jax.Array:
  """The l2 norm of all leaves of a tree taken together.

  .. math::
    \\|u\\| = \\sqrt{\\textstyle\\sum_{\\text{leaves}} \\sum_k |u_k|^2}

  Squares are summed in float32 or wider, also for bf16/f16 leaves; any NaN
  leaf makes the norm NaN (so non-finite guards see it).

  Args:
    updates: a tree of (possibly complex) arrays.

  Returns:
    A scalar, float32 (float64 for float64 leaves).

  Differs from optax: optax (which deprecates this name for `optax.tree.norm`
  and warns) sums bf16/f16 squares in the leaf dtype and returns that dtype.
  """
  return numerics.global_norm(updates)


def safe_norm(
    x: jax.typing.ArrayLike,
    min_norm: jax.typing.ArrayLike,
    ord: Optional[Union[int, float, str]] = None,  # pylint: disable=redefined-builtin
    axis: Union[None, tuple[int, ...], int] = None,
    keepdims: bool = False,
) -> jax.Array:
  """`max(||x||, min_norm)` whose gradient is finite (0) where the norm is clamped.

  .. math::
    \\operatorname{safe\\_norm}(x) = \\max(\\|x\\|_{\\text{ord}}, m)

  The plain expression has a NaN gradient at `x = 0` (the derivative of the
  norm there is 0/0, and `max` differentiates both branches); here the norm is
  evaluated on a dummy input wherever it is clamped.

  Args:
    x: an array.
    min_norm: the lower bound `m`.
    ord: the norm's order, as for `jnp.linalg.norm`.
    axis: the axis or axes to reduce, as for `jnp.linalg.norm`.
    keepdims: keep the reduced axes with size 1.

  Returns:
    The clamped norm.
  """
  x = jnp.asarray(x)
  norm = jnp.linalg.norm(x, ord=ord, axis=axis, keepdims=True)
  clamped = norm <= min_norm
  safe_x = jnp.where(clamped, jnp.ones_like(x), x)
  if not keepdims:
    clamped = jnp.squeeze(clamped, axis=axis)
  safe = jnp.linalg.norm(safe_x, ord=ord, axis=axis, keepdims=keepdims)
  return jnp.where(clamped, min_norm, safe)


def safe_root_mean_squares(x: jax.typing.ArrayLike, min_rms: jax.typing.ArrayLike) -> jax.Array:
  """`max(sqrt(mean(|x|^2)), min_rms)` whose gradient is finite (0) where it is clamped.

  .. math::
    \\max\\left(\\sqrt{\\tfrac{1}{n}\\textstyle\\sum_k |x_k|^2}, m\\right)

  Args:
    x: an array (real or complex).
    min_rms: the lower bound `m`.

  Returns:
    A scalar.
  """
  x = jnp.asarray(x)
  rms = jnp.sqrt(jnp.mean(numerics.abs_sq(x)))
  clamped = rms <= min_rms
  safe_x = jnp.where(clamped, jnp.ones_like(x), x)
  return jnp.where(clamped, min_rms, jnp.sqrt(jnp.mean(numerics.abs_sq(safe_x))))
