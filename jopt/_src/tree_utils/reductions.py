"""Reductions of a pytree to a scalar: inner product, sum, max, min, size, norms, closeness."""

import functools
import operator
from typing import Any, Union

import jax
import jax.numpy as jnp

from jopt._src import numerics


def _leaf_vdot(a: Any, b: Any) -> jax.Array:
  """`sum(conj(a) * b)` over all axes of one leaf, at the highest matmul precision."""
  a, b = jnp.asarray(a), jnp.asarray(b)
  if a.shape != b.shape:
    raise ValueError(
        f"tree_vdot: leaves must have the same shape, got {a.shape} and {b.shape}."
    )
  if jnp.iscomplexobj(a):
    a = jnp.conj(a)
  # A full contraction (not `jnp.vdot`, which ravels): no re-layout, and with
  # explicitly sharded inputs the scalar result is replicated.
  mesh = jax.typeof(a).sharding.mesh
  out_sharding = None
  if mesh.are_all_axes_explicit:
    out_sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  return jnp.tensordot(
      a, b, a.ndim, precision=jax.lax.Precision.HIGHEST, out_sharding=out_sharding
  )


def tree_vdot(tree_x: Any, tree_y: Any) -> jax.typing.ArrayLike:
  """Inner product of two trees, conjugating the first.

  .. math::
    \\langle x, y \\rangle = \\sum_{\\text{leaves}} \\sum_k \\overline{x_k} \\, y_k

  computed at `Precision.HIGHEST`.

  Args:
    tree_x: first tree (conjugated when complex).
    tree_y: second tree, same structure and leaf shapes.

  Returns:
    A scalar (the integer 0 for empty trees).
  """
  return jax.tree.reduce(operator.add, jax.tree.map(_leaf_vdot, tree_x, tree_y), initializer=0)


def tree_sum(tree: Any, associative_reduction: bool = False) -> jax.typing.ArrayLike:
  """Sum of every element of every leaf.

  Args:
    tree: a tree of arrays.
    associative_reduction: if True, combine the per-leaf sums with
      `jax.tree.reduce_associative` (a balanced reduction that can compile
      faster for very large trees; the summation order changes, so the last bits
      may too).

  Returns:
    A scalar (the integer 0 for empty trees).
  """
  sums = jax.tree.map(jnp.sum, tree)
  if not associative_reduction:
    return jax.tree.reduce(operator.add, sums, initializer=0)
  if not hasattr(jax.tree, "reduce_associative"):
    raise ValueError(
        "tree_sum: `associative_reduction=True` needs jax.tree.reduce_associative "
        "(JAX >= 0.6.0); upgrade JAX or pass associative_reduction=False."
    )
  return jax.tree.reduce_associative(operator.add, sums, identity=0)


def _reduce_nonempty(tree: Any, leaf_fn, combine, initializer: float):
  # Empty leaves have no max/min; they are skipped (mapped to an empty subtree).
  per_leaf = jax.tree.map(lambda x: None if jnp.size(x) == 0 else leaf_fn(x), tree)
  return jax.tree.reduce(combine, per_leaf, initializer=initializer)


def tree_max(tree: Any) -> jax.typing.ArrayLike:
  """Largest element over all leaves (`-inf` when the tree has no elements).

  Args:
    tree: a tree of real arrays.

  Returns:
    A scalar.
  """
  return _reduce_nonempty(tree, jnp.max, jnp.maximum, -float("inf"))


def tree_min(tree: Any) -> jax.typing.ArrayLike:
  """Smallest element over all leaves (`inf` when the tree has no elements).

  Args:
    tree: a tree of real arrays.

  Returns:
    A scalar.
  """
  return _reduce_nonempty(tree, jnp.min, jnp.minimum, float("inf"))


def tree_size(tree: Any) -> int:
  """Total number of elements over all leaves, a Python int.

  Args:
    tree: a tree of arrays.

  Returns:
    The number of elements.
  """
  return sum(jnp.size(leaf) for leaf in jax.tree.leaves(tree))


def _l2_result_dtype(leaves: list, squared: bool) -> jnp.dtype:
  """The dtype optax's leaf-dtype arithmetic gives the (squared) l2 norm."""
  real = [jnp.real(jnp.zeros((), jnp.asarray(l).dtype)).dtype for l in leaves]
  dtype = jnp.result_type(*real) if real else jnp.int32
  if squared:
    return dtype
  return jnp.sqrt(jnp.zeros((), dtype)).dtype


def _square(x: Any) -> jax.Array:
  return numerics.abs_sq(jnp.asarray(x))


def tree_norm(
    tree: Any,
    ord: int | str | float | None = None,  # pylint: disable=redefined-builtin
    squared: bool = False,
) -> jax.Array:
  """The l1, l2 or l-infinity norm of all leaves taken together.

  .. math::
    \\|x\\|_1 = \\sum |x_k|, \\quad
    \\|x\\|_2 = \\sqrt{\\sum |x_k|^2}, \\quad
    \\|x\\|_\\infty = \\max |x_k|

  The l2 norm sums squares in float32 or wider (bf16/f16 leaves too), then
  returns the dtype the leaves promote to; it is NaN if any element is NaN.

  Args:
    tree: a tree of (possibly complex) arrays.
    ord: `None` or 2 (l2), 1 (l1), or `jnp.inf`, `"inf"`, `"infinity"`.
    squared: return the squared norm.

  Returns:
    A scalar array.

  Differs from optax: the l2 norm of bf16/f16 leaves is accumulated in float32
  (optax sums squares in the leaf dtype); the result dtype is the same.
  """
  if ord is None or ord == 2:
    leaves = jax.tree.leaves(tree)
    sq = numerics.sum_of_squares(leaves)
    out = sq if squared else jnp.sqrt(sq)
    return jnp.asarray(out, _l2_result_dtype(leaves, squared))
  if ord == 1:
    out = tree_sum(jax.tree.map(jnp.abs, tree))
  elif ord == jnp.inf or ord in ("inf", "infinity"):
    out = tree_max(jax.tree.map(jnp.abs, tree))
  else:
    raise ValueError(
        f"tree_norm: `ord` must be None, 1, 2, jnp.inf, 'inf' or 'infinity', got {ord!r}."
    )
  return jnp.array(_square(out) if squared else out)


def tree_l1_norm(tree: Any, *, ord: Union[int, str, float, None] = 1, squared: bool = False) -> jax.Array:  # pylint: disable=redefined-builtin
  """`tree_norm(tree, ord, squared)`; optax's deprecated name and signature, kept for old code."""
  return tree_norm(tree, ord=ord, squared=squared)


def tree_l2_norm(tree: Any, *, ord: Union[int, str, float, None] = 2, squared: bool = False) -> jax.Array:  # pylint: disable=redefined-builtin
  """`tree_norm(tree, ord, squared)`; optax's deprecated name and signature, kept for old code."""
  return tree_norm(tree, ord=ord, squared=squared)


def tree_linf_norm(tree: Any, *, ord: Union[int, str, float, None] = "inf", squared: bool = False) -> jax.Array:  # pylint: disable=redefined-builtin
  """`tree_norm(tree, ord, squared)`; optax's deprecated name and signature, kept for old code."""
  return tree_norm(tree, ord=ord, squared=squared)


def tree_allclose(
    a: Any,
    b: Any,
    rtol: jax.typing.ArrayLike = 1e-05,
    atol: jax.typing.ArrayLike = 1e-08,
    equal_nan: bool = False,
):
  """Whether every pair of leaves satisfies `jnp.allclose(a, b, rtol, atol, equal_nan)`.

  .. math::
    |a - b| \\le \\text{atol} + \\text{rtol} \\cdot |b| \\quad \\text{element-wise}

  Args:
    a: a tree.
    b: a tree of the same structure.
    rtol: relative tolerance.
    atol: absolute tolerance.
    equal_nan: whether NaNs in the same place compare equal.

  Returns:
    A boolean scalar (`True` for empty trees).
  """
  close = jax.tree.map(
      lambda x, y: jnp.allclose(x, y, rtol=rtol, atol=atol, equal_nan=equal_nan), a, b
  )
  return functools.reduce(operator.and_, jax.tree.leaves(close), True)
