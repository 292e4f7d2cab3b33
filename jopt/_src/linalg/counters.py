"""Step counters that saturate at their dtype's maximum instead of overflowing."""

import jax
import jax.numpy as jnp

from jopt._src import numerics


def safe_increment(count: jax.typing.ArrayLike) -> jax.typing.ArrayLike:
  """`count + 1`, staying at the dtype's maximum once it is reached.

  .. math::
    c \\leftarrow \\min(c + 1, c_{\\max})

  An int32 counter at 2**31 - 1 would otherwise wrap to -2**31.

  Args:
    count: an integer or floating-point counter (array or Python number).

  Returns:
    The incremented counter, same dtype.

  Raises:
    ValueError: for a counter that is neither integer nor floating point.
  """
  count = jnp.asarray(count)
  if not (jnp.issubdtype(count.dtype, jnp.integer) or jnp.issubdtype(count.dtype, jnp.floating)):
    raise ValueError(
        f"safe_increment: `count` must have an integer or floating dtype, got {count.dtype}."
    )
  return numerics.safe_increment(count)


def safe_int32_increment(count: jax.typing.ArrayLike) -> jax.typing.ArrayLike:
  """Same as `safe_increment` (optax's older name): `count + 1`, saturating at the dtype's maximum.

  Args:
    count: an integer or floating-point counter.

  Returns:
    The incremented counter, same dtype.
  """
  return safe_increment(count)
