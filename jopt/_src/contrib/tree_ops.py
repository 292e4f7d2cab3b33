"""Tree reductions the contrib optimizers share: the lowest dtype of a tree and the tree inner product."""

import functools
import operator
from typing import Any

import jax
import jax.numpy as jnp


def _lower(d1: jnp.dtype, d2: jnp.dtype) -> jnp.dtype:
  if jnp.promote_types(d1, d2) == d2:
    return d1
  if jnp.promote_types(d1, d2) == d1:
    return d2
  raise ValueError(f"dtypes {d1} and {d2} of the tree cannot be ordered by promotion.")


def lowest_dtype(tree: Any) -> jnp.dtype:
  """The lowest dtype among the leaves (the one every other leaf promotes from).

  Scalar statistics of a whole tree (a distance, a learning rate) are kept in it
  so that multiplying them into the updates never promotes a leaf's dtype. An
  empty tree gives JAX's default float dtype.
  """
  leaves = jax.tree.leaves(tree)
  if not leaves:
    return jnp.asarray([]).dtype
  return functools.reduce(_lower, [jnp.asarray(x).dtype for x in leaves])


def _leaf_vdot(a: Any, b: Any) -> jax.Array:
  a, b = jnp.asarray(a), jnp.asarray(b)
  if jnp.iscomplexobj(a):
    a = jnp.conj(a)
  return jnp.tensordot(a, b, a.ndim, precision=jax.lax.Precision.HIGHEST)


def vdot(tree_x: Any, tree_y: Any) -> jax.Array:
  """`<x, y> = sum over leaves of sum(conj(x) * y)`, leaves added in tree order."""
  return functools.reduce(
      operator.add, jax.tree.leaves(jax.tree.map(_leaf_vdot, tree_x, tree_y)), 0
  )


def sub(tree_x: Any, tree_y: Any) -> Any:
  """`x - y` leaf by leaf (`None` leaves of `x` stay `None`)."""
  return jax.tree.map(
      lambda x, y: None if x is None else x - y, tree_x, tree_y, is_leaf=lambda x: x is None
  )
