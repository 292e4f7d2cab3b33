"""Inner products and linear combinations of parameter trees, as used by L-BFGS and the linesearches."""

import functools
import operator
from typing import Any

import jax
import jax.numpy as jnp

from jopt._src import numerics


def _leaf_real_vdot(x: jax.Array, y: jax.Array) -> jax.Array:
  x, y = jnp.asarray(x), jnp.asarray(y)
  if jnp.iscomplexobj(x) or jnp.iscomplexobj(y):
    # Re(conj(x) y) = Re(x) Re(y) + Im(x) Im(y): no complex product needed.
    acc = numerics.accumulation_dtype(jnp.result_type(x, y))
    return jnp.sum(x.real.astype(acc) * y.real.astype(acc) + x.imag.astype(acc) * y.imag.astype(acc))
  return jnp.tensordot(x, y, x.ndim, precision=jax.lax.Precision.HIGHEST)


def real_vdot(tree_x: Any, tree_y: Any) -> jax.Array:
  """`Re <x, y> = Re sum(conj(x) * y)` over every leaf, the real inner product of two trees.

  Real leaves are contracted with `Precision.HIGHEST` (no reduced-precision
  passes on accelerators); an empty tree gives 0.
  """
  leaves = jax.tree.leaves(jax.tree.map(_leaf_real_vdot, tree_x, tree_y))
  if not leaves:
    return jnp.zeros([], jnp.float32)
  return functools.reduce(operator.add, leaves)


def directional_derivative(grad: Any, direction: Any) -> jax.Array:
  """The derivative of `eta -> f(w + eta * d)` at 0 given `grad = jax.grad(f)(w)`: `Re sum(grad * d)`.

  JAX's gradient of a real function of complex parameters is the conjugate of
  the steepest-ascent direction, so the derivative along `d` is `Re(g d)`, not
  `Re(conj(g) d)`; for real parameters both are `<g, d>`.
  """
  return real_vdot(numerics.tree_map(jnp.conj, grad), direction)


def add_scale(tree_x: Any, scalar: Any, tree_y: Any) -> Any:
  """`x + scalar * y` leaf by leaf, each result in the dtype of `x`."""
  return numerics.tree_map(lambda x, y: (x + scalar * y).astype(x.dtype), tree_x, tree_y)


def select(condition: jax.Array, tree_x: Any, tree_y: Any) -> Any:
  """`tree_x` where the scalar `condition` holds, else `tree_y` (leaf by leaf `jnp.where`)."""
  return jax.tree.map(lambda x, y: jnp.where(condition, x, y), tree_x, tree_y)
