"""Random trees shaped like a target tree: one key per leaf, split in leaf order."""

from collections.abc import Callable
import inspect
from typing import Any, Optional

import jax


def tree_split_key_like(rng_key: jax.Array, target_tree: Any) -> Any:
  """Splits `rng_key` into one key per leaf of `target_tree`, in leaf order.

  Args:
    rng_key: the key to split.
    target_tree: the tree whose structure the keys take.

  Returns:
    A tree of keys with the structure of `target_tree`.
  """
  treedef = jax.tree.structure(target_tree)
  return jax.tree.unflatten(treedef, list(jax.random.split(rng_key, treedef.num_leaves)))


def tree_random_like(
    rng_key: jax.Array,
    target_tree: Any,
    sampler: Callable[..., jax.typing.ArrayLike] = jax.random.normal,
    dtype: Optional[jax.typing.DTypeLike] = None,
) -> Any:
  """A tree of random arrays shaped like `target_tree`.

  Leaf `i` is `sampler(key_i, leaf.shape, dtype or leaf.dtype)` with `key_i`
  the `i`-th key of `tree_split_key_like(rng_key, target_tree)`; a sampler that
  takes `out_sharding` also gets the leaf's sharding.

  Args:
    rng_key: the key to draw from.
    target_tree: a tree of arrays giving shapes (and default dtypes).
    sampler: `sampler(key, shape, dtype)`, e.g. `jax.random.normal` (default),
      `jax.random.uniform`, or a distribution's `sample` method.
    dtype: dtype passed to `sampler`; by default each leaf's dtype.

  Returns:
    A random tree with the structure of `target_tree`.
  """
  keys = tree_split_key_like(rng_key, target_tree)
  takes_sharding = "out_sharding" in inspect.signature(sampler).parameters

  def draw(leaf, key):
    leaf_dtype = dtype or leaf.dtype
    if takes_sharding:
      return sampler(key, leaf.shape, leaf_dtype, out_sharding=jax.typeof(leaf).sharding)
    return sampler(key, leaf.shape, leaf_dtype)

  return jax.tree.map(draw, target_tree, keys)


def tree_unwrap_random_key_data(input_tree: Any) -> Any:
  """Replaces typed PRNG key leaves (`jax.random.key`) by their raw `key_data`.

  Lets trees holding keys be compared numerically (`allclose`, `==`).

  Args:
    input_tree: a tree of arrays and typed keys.

  Returns:
    The tree with every typed key replaced by its uint32 data.
  """

  def unwrap(x):
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      return jax.random.key_data(x)
    return x

  return jax.tree.map(unwrap, input_tree)
