"""Projections onto boxes: the non-negative orthant, a box, a hypercube, the l-infinity ball."""

from typing import Any

import jax
import jax.numpy as jnp

from jopt._src import numerics


def projection_non_negative(tree: Any) -> Any:
  """Projection onto the non-negative orthant.

  .. math::
    \\operatorname{argmin}_{p \\ge 0} \\|x - p\\|_2^2 = \\max(x, 0)

  Args:
    tree: the tree `x` to project.

  Returns:
    The projected tree, same structure.
  """
  return jax.tree.map(jax.nn.relu, tree)


def _per_leaf(bound: Any, tree: Any) -> Any:
  """`bound` as a tree like `tree`: a single number or array applies to every leaf."""
  tree_is_leaf = jax.tree_util.treedef_is_leaf(jax.tree.structure(tree))
  bound_is_leaf = jax.tree_util.treedef_is_leaf(jax.tree.structure(bound))
  if bound_is_leaf and not tree_is_leaf:
    return jax.tree.map(lambda _: bound, tree)
  return bound


def projection_box(tree: Any, lower: Any, upper: Any) -> Any:
  """Projection onto the box `lower <= p <= upper` (element-wise clipping).

  .. math::
    \\operatorname{argmin}_{l \\le p \\le u} \\|x - p\\|_2^2 = \\min(\\max(x, l), u)

  Args:
    tree: the tree `x` to project.
    lower: lower bound: a scalar (for every leaf) or a tree like `tree`.
    upper: upper bound: a scalar (for every leaf) or a tree like `tree`.

  Returns:
    The projected tree, same structure.

  Differs from optax: a scalar bound with a tree of several leaves is applied
  to every leaf (optax raises a pytree structure error).
  """
  return jax.tree.map(jnp.clip, tree, _per_leaf(lower, tree), _per_leaf(upper, tree))


def projection_hypercube(tree: Any, scale: Any = 1) -> Any:
  """Projection onto the hypercube `0 <= p <= scale` (the unit hypercube by default).

  .. math::
    \\operatorname{argmin}_{0 \\le p \\le s} \\|x - p\\|_2^2 = \\min(\\max(x, 0), s)

  Args:
    tree: the tree `x` to project.
    scale: side `s` of the hypercube: a scalar or a tree like `tree`.

  Returns:
    The projected tree, same structure.

  Differs from optax: works for trees of several leaves (optax raises).
  """
  return projection_box(tree, lower=0, upper=scale)


def projection_linf_ball(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
  """Projection onto the l-infinity ball of radius `scale`.

  .. math::
    \\operatorname{argmin}_{\\|p\\|_\\infty \\le s} \\|x - p\\|_2^2
    = \\min(\\max(x, -s), s)

  Args:
    tree: the tree `x` to project.
    scale: the radius `s`.

  Returns:
    The projected tree, same structure and leaf dtypes.
  """
  return projection_box(
      tree, numerics.full_like(tree, -scale), numerics.full_like(tree, scale)
  )
