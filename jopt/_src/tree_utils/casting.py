"""Trees of constants shaped like another tree, dtype casts, and the dtype of a tree."""

import functools
from typing import Any, Optional

import jax
import jax.numpy as jnp

from jopt._src import numerics


def tree_zeros_like(tree: Any, dtype: Optional[jax.typing.DTypeLike] = None) -> Any:
  """Zeros shaped like every leaf, in `dtype` (default: each leaf's own dtype).

  Args:
    tree: a tree of arrays.
    dtype: optional dtype of the zeros.

  Returns:
    A tree of the same structure.
  """
  return numerics.zeros_like(tree, dtype)


def tree_ones_like(tree: Any, dtype: Optional[jax.typing.DTypeLike] = None) -> Any:
  """Ones shaped like every leaf, in `dtype` (default: each leaf's own dtype).

  Args:
    tree: a tree of arrays.
    dtype: optional dtype of the ones.

  Returns:
    A tree of the same structure.
  """
  return numerics.full_like(tree, 1, dtype)


def tree_full_like(
    tree: Any,
    fill_value: jax.typing.ArrayLike,
    dtype: Optional[jax.typing.DTypeLike] = None,
) -> Any:
  """`fill_value` everywhere, shaped like every leaf, in `dtype` (default: the leaf's).

  Args:
    tree: a tree of arrays.
    fill_value: the constant.
    dtype: optional dtype of the result.

  Returns:
    A tree of the same structure.
  """
  return numerics.full_like(tree, fill_value, dtype)


def tree_cast(tree: Any, dtype: Optional[jax.typing.DTypeLike]) -> Any:
  """Casts every leaf to `dtype`; `dtype=None` returns `tree` unchanged.

  Args:
    tree: a tree of arrays.
    dtype: the target dtype, or `None`.

  Returns:
    The cast tree.
  """
  return numerics.cast(tree, dtype)


def tree_cast_like(tree: Any, other_tree: Any) -> Any:
  """Casts each leaf of `tree` to the dtype of the matching leaf of `other_tree`.

  A leaf of `other_tree` without a dtype (a Python number) leaves its
  counterpart unchanged.

  Args:
    tree: the tree to cast.
    other_tree: a tree of the same structure giving the dtypes.

  Returns:
    The cast tree.
  """
  return jax.tree.map(
      lambda t, o: numerics.cast(t, getattr(o, "dtype", None)), tree, other_tree
  )


def _is_lower(dtype1: Any, dtype2: Any) -> bool:
  """`dtype1 <= dtype2` in the promotion order: `dtype1` promotes to `dtype2`."""
  return jnp.promote_types(dtype1, dtype2) == dtype2


def _lowest(dtype1: Any, dtype2: Any) -> Any:
  if _is_lower(dtype1, dtype2):
    return dtype1
  if _is_lower(dtype2, dtype1):
    return dtype2
  raise ValueError(
      f"tree_dtype: cannot order {dtype1} and {dtype2}: neither promotes to the other."
  )


def _highest(dtype1: Any, dtype2: Any) -> Any:
  return dtype2 if _lowest(dtype1, dtype2) == dtype1 else dtype1


def tree_dtype(tree: Any, mixed_dtype_handler: Optional[str] = None) -> jax.typing.DTypeLike:
  """The dtype of a tree's leaves.

  Args:
    tree: a tree of arrays (or Python numbers).
    mixed_dtype_handler: what to do when the leaves' dtypes differ.
      `None`: raise `ValueError` (listing the offending paths);
      `"promote"`: the dtype all leaves promote to (`jnp.promote_types`);
      `"highest"` / `"lowest"`: the highest / lowest dtype in the promotion
      order (`a <= b` when `a` promotes to `b`); raises if two dtypes are not
      comparable (e.g. int32 and uint32).

  Returns:
    A dtype; for an empty tree, JAX's default float dtype.
  """
  leaves = jax.tree.leaves(tree)
  if not leaves:
    return jnp.asarray(leaves).dtype
  dtypes = [jnp.asarray(x).dtype for x in leaves]
  if mixed_dtype_handler is None:
    first = dtypes[0]
    bad = [
        f"Expected dtype={first} for {jax.tree_util.keystr(path)} but got {jnp.asarray(x).dtype}."
        for path, x in jax.tree_util.tree_leaves_with_path(tree)
        if jnp.asarray(x).dtype != first
    ]
    if bad:
      raise ValueError("\n".join(bad))
    return first
  reducers = {"promote": jnp.promote_types, "highest": _highest, "lowest": _lowest}
  if mixed_dtype_handler not in reducers:
    raise ValueError(
        f"tree_dtype: `mixed_dtype_handler` must be None, 'promote', 'highest' or "
        f"'lowest', got {mixed_dtype_handler!r}."
    )
  return functools.reduce(reducers[mixed_dtype_handler], dtypes)
