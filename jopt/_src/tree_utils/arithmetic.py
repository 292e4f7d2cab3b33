"""Element-wise arithmetic on pytrees: sums, differences, products, scaling, selection, clipping."""

import operator
from typing import Any, Optional

import jax
import jax.numpy as jnp


def tree_add(tree_x: Any, tree_y: Any, *other_trees: Any) -> Any:
  """Leaf-wise sum of two or more trees of the same structure.

  .. math::
    z_i = x_i + y_i + \\dots

  Args:
    tree_x: first tree.
    tree_y: second tree.
    *other_trees: further trees to add.

  Returns:
    A tree of the same structure holding the sums.
  """
  # `sum` starts from the integer 0, like optax: bool leaves add as integers.
  return jax.tree.map(lambda *leaves: sum(leaves), tree_x, tree_y, *other_trees)


def tree_sub(tree_x: Any, tree_y: Any) -> Any:
  """Leaf-wise difference `x - y` of two trees of the same structure.

  Args:
    tree_x: first tree.
    tree_y: tree subtracted from `tree_x`.

  Returns:
    A tree of the same structure holding `x - y`.
  """
  return jax.tree.map(operator.sub, tree_x, tree_y)


def tree_mul(tree_x: Any, tree_y: Any) -> Any:
  """Leaf-wise (element-wise) product `x * y` of two trees of the same structure.

  Args:
    tree_x: first tree.
    tree_y: second tree.

  Returns:
    A tree of the same structure holding `x * y`.
  """
  return jax.tree.map(operator.mul, tree_x, tree_y)


def tree_div(tree_x: Any, tree_y: Any) -> Any:
  """Leaf-wise (element-wise) quotient `x / y` of two trees of the same structure.

  Args:
    tree_x: numerator tree.
    tree_y: denominator tree.

  Returns:
    A tree of the same structure holding `x / y`.
  """
  return jax.tree.map(operator.truediv, tree_x, tree_y)


def tree_scale(scalar: jax.typing.ArrayLike, tree: Any) -> Any:
  """Multiplies every leaf by one scalar: `scalar * tree`.

  Args:
    scalar: the factor.
    tree: the tree to scale.

  Returns:
    A tree of the same structure as `tree`.
  """
  return jax.tree.map(lambda x: scalar * x, tree)


def tree_add_scale(tree_x: Any, scalar: jax.typing.ArrayLike, tree_y: Any) -> Any:
  """`tree_x + scalar * tree_y`, leaf by leaf (an axpy).

  `None` leaves of `tree_x` stay `None`.

  Args:
    tree_x: the tree added to.
    scalar: factor applied to `tree_y`.
    tree_y: the tree scaled and added.

  Returns:
    A tree of the same structure as `tree_x`.
  """
  scalar = jnp.asarray(scalar)
  return jax.tree.map(
      lambda x, y: None if x is None else x + scalar * y,
      tree_x, tree_y, is_leaf=lambda x: x is None,
  )


def tree_conj(tree: Any) -> Any:
  """Complex conjugate of every leaf (real leaves are unchanged).

  Args:
    tree: a tree of arrays.

  Returns:
    A tree of the same structure.
  """
  return jax.tree.map(jnp.conj, tree)


def tree_real(tree: Any) -> Any:
  """Real part of every leaf.

  Args:
    tree: a tree of arrays.

  Returns:
    A tree of the same structure with real leaves.
  """
  return jax.tree.map(jnp.real, tree)


def tree_where(condition, tree_x, tree_y):
  """Selects leaf-wise: `where(condition, x, y)` for each pair of leaves.

  Args:
    condition: a boolean, broadcast against every leaf.
    tree_x: tree whose values are taken where `condition` is true.
    tree_y: tree whose values are taken where `condition` is false.

  Returns:
    A tree of the same structure as `tree_x` and `tree_y`.
  """
  return jax.tree.map(lambda x, y: jnp.where(condition, x, y), tree_x, tree_y)


def tree_clip(
    tree: Any,
    min_value: Optional[jax.typing.ArrayLike] = None,
    max_value: Optional[jax.typing.ArrayLike] = None,
) -> Any:
  """Clips every element to `[min_value, max_value]`; a `None` bound is not applied.

  Args:
    tree: the tree to clip.
    min_value: lower bound, or `None` for none.
    max_value: upper bound, or `None` for none.

  Returns:
    A tree of the same structure as `tree`.
  """
  return jax.tree.map(lambda x: jnp.clip(x, min_value, max_value), tree)


def tree_batch_shape(tree: Any, shape: tuple[int, ...] = ()):
  """Broadcasts every leaf to `(*shape, *leaf.shape)`: adds leading batch axes.

  Args:
    tree: a tree of arrays.
    shape: the leading batch shape to add.

  Returns:
    A tree of the same structure whose leaves have the extra leading axes.
  """
  return jax.tree.map(lambda x: jnp.broadcast_to(x, (*shape, *jnp.shape(x))), tree)
