"""Tree arithmetic shared by every transform: moments, bias correction, casts, norms.

Each helper treats a `None` leaf as an absent parameter and passes it through.
"""

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp


def _is_none(x: Any) -> bool:
  return x is None


def tree_map(fn: Callable[..., Any], tree: Any, *rest: Any) -> Any:
  """`jax.tree.map` that keeps `None` leaves of `tree` as `None`."""
  return jax.tree.map(
      lambda x, *r: None if x is None else fn(x, *r), tree, *rest, is_leaf=_is_none
  )


def zeros_like(tree: Any, dtype: Optional[jnp.dtype] = None) -> Any:
  """Zeros shaped like each leaf, in `dtype` (default: the leaf's own dtype)."""
  return jax.tree.map(lambda x: jnp.zeros_like(x, dtype=dtype), tree)


def full_like(tree: Any, value: Any, dtype: Optional[jnp.dtype] = None) -> Any:
  """Constant arrays shaped like each leaf."""
  return jax.tree.map(lambda x: jnp.full_like(x, value, dtype=dtype), tree)


def real_full_like(tree: Any, value: Any, dtype: Optional[jnp.dtype] = None) -> Any:
  """Constant arrays shaped like each leaf, in `dtype` or else the leaf's real dtype.

  The init of an accumulator of `|g|^2` (second moments, sums of squares): real
  even for complex params, so it takes half the memory of a complex one.
  """

  def leaf(x):
    leaf_dtype = dtype if dtype is not None else jnp.real(jnp.zeros((), x.dtype)).dtype
    return jnp.full(jnp.shape(x), value, leaf_dtype)

  return jax.tree.map(leaf, tree)


def cast(tree: Any, dtype: Optional[jnp.dtype]) -> Any:
  """Casts every leaf to `dtype`; `None` leaves the tree unchanged."""
  if dtype is None:
    return tree
  return jax.tree.map(lambda x: x.astype(dtype), tree)


def cast_like(tree: Any, like: Any) -> Any:
  """Casts each leaf of `tree` to the dtype of the matching leaf of `like`."""
  return tree_map(lambda x, y: x.astype(y.dtype), tree, like)


def canonicalize_dtype(dtype: Optional[Any]) -> Optional[jnp.dtype]:
  """`dtype` as a canonical JAX dtype, or `None`."""
  return None if dtype is None else jax.dtypes.canonicalize_dtype(dtype)


def abs_sq(x: jax.Array) -> jax.Array:
  """`|x|^2`, real for complex `x`; the same HLO as `x * x` for real `x`."""
  if jnp.iscomplexobj(x):
    return (x.conj() * x).real
  return x * x


def _power_norm(g: jax.Array, order: int) -> jax.Array:
  if not jnp.iscomplexobj(g):
    return g**order
  half = order / 2
  return abs_sq(g) ** (int(half) if float(half).is_integer() else half)


def update_moment(updates: Any, moments: Any, decay: Any, order: int) -> Any:
  """EMA of `g ** order`: `m <- (1 - decay) * g**order + decay * m`."""
  return tree_map(lambda g, m: (1 - decay) * (g**order) + decay * m, updates, moments)


def update_moment_per_elem_norm(updates: Any, moments: Any, decay: Any, order: int) -> Any:
  """EMA of `|g| ** order` (real for complex `g`): `m <- (1 - decay) * |g|**order + decay * m`."""
  return tree_map(
      lambda g, m: (1 - decay) * _power_norm(g, order) + decay * m, updates, moments
  )


def bias_correction_factor(decay: Any, count: jax.Array) -> jax.Array:
  """`1 - decay ** count` computed as `-expm1(count * log(decay))` in float32.

  The direct `1 - decay**count` loses up to ~7e-5 relative accuracy in float32
  for `decay` near 1 (optax uses it); the `expm1` form is exact to rounding.
  `decay = 0` gives exactly 1.
  """
  decay = jnp.asarray(decay, jnp.float32)
  count = jnp.asarray(count, jnp.float32)
  return -jnp.expm1(count * jnp.log(decay))


def bias_correction(moments: Any, decay: Any, count: jax.Array) -> Any:
  """Divides each moment by `1 - decay ** count`, in the moment's own dtype."""
  factor = bias_correction_factor(decay, count)
  return tree_map(lambda m: m / factor.astype(m.dtype), moments)


def safe_increment(count: jax.Array) -> jax.Array:
  """`count + 1`, saturating at the dtype's maximum instead of wrapping."""
  info = jnp.iinfo(count.dtype) if jnp.issubdtype(count.dtype, jnp.integer) else None
  if info is None:
    return count + 1
  return jnp.where(count < info.max, count + 1, info.max).astype(count.dtype)


def init_count() -> jax.Array:
  """The step counter every stateful transform starts from: int32 zero."""
  return jnp.zeros([], jnp.int32)


def sum_of_squares(tree: Any) -> jax.Array:
  """Sum of `|x|^2` over every leaf, in float32 or wider."""
  leaves = [l for l in jax.tree.leaves(tree) if l is not None]
  if not leaves:
    return jnp.zeros([], jnp.float32)
  return sum(jnp.sum(abs_sq(l)) for l in leaves)


def global_norm(tree: Any) -> jax.Array:
  """The l2 norm of all leaves taken together."""
  return jnp.sqrt(sum_of_squares(tree))


def resolve(value: Any, count: jax.Array) -> Any:
  """A hyperparameter's value at step `count`: calls a schedule, passes a constant through.

  This is the one place jopt resolves scalar-or-schedule hyperparameters.
  """
  return value(count) if callable(value) else value
