"""Projections onto the simplex and the l1 sphere and ball, with an exact Jacobian-vector product."""

from typing import Any

import jax
from jax import flatten_util
import jax.numpy as jnp

from jopt._src import numerics
from jopt._src.tree_utils import arithmetic
from jopt._src.tree_utils import reductions


@jax.custom_jvp
def _unit_simplex(v: jax.Array) -> jax.Array:
  """Projection of a vector onto `{p >= 0, sum(p) = 1}` by sorting (Held et al., 1974).

  With `u` sorted in decreasing order and `c_k = u_1 + ... + u_k`, the support
  size is `rho = #{k : k u_k > c_k - 1}` and the projection is
  `max(v - (c_rho - 1) / rho, 0)`. Computed in float32 or wider.
  """
  dtype = numerics.accumulation_dtype(v.dtype)
  w = v.astype(dtype)
  u = jnp.sort(w)[::-1]
  css = jnp.cumsum(u)
  k = jnp.arange(1, w.shape[0] + 1, dtype=dtype)
  rho = jnp.count_nonzero(k * u > css - 1)
  tau = (css[rho - 1] - 1) / rho
  return jnp.maximum(w - tau, 0).astype(v.dtype)


@_unit_simplex.defjvp
def _unit_simplex_jvp(primals, tangents):
  # On the support S the projection is v - tau(v) with sum over S fixed, so its
  # derivative projects the tangent onto {sum over S = 0}; off S it is 0.
  (v,), (dv,) = primals, tangents
  p = _unit_simplex(v)
  support = (p > 0).astype(dv.dtype)
  mean_on_support = jnp.sum(support * dv) / jnp.sum(support)
  return p, support * (dv - mean_on_support)


def projection_simplex(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
  """Projection onto the simplex of all leaves taken together.

  .. math::
    \\operatorname{argmin}_{p} \\|x - p\\|_2^2 \\quad \\text{s.t.} \\quad
    p \\ge 0, \\; \\textstyle\\sum p = s

  Computed by sorting (Held, Wolfe & Crowder, 1974; Duchi et al., 2008,
  https://doi.org/10.1145/1390156.1390191), `O(n log n)`. Differentiable, with
  the exact Jacobian almost everywhere.

  Args:
    tree: the tree `x` to project (real leaves).
    scale: the sum `s` of the projection (default 1: the probability simplex).

  Returns:
    The projected tree, same structure and leaf dtypes.

  Differs from optax: bf16/f16 leaves are projected in float32 (optax sorts
  and sums in the leaf dtype), then cast back.
  """
  values, unravel = flatten_util.ravel_pytree(tree)
  return unravel(scale * _unit_simplex(values / scale))


def projection_l1_sphere(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
  """Projection onto the l1 sphere `{||p||_1 = s}`.

  .. math::
    \\operatorname{argmin}_{\\|p\\|_1 = s} \\|x - p\\|_2^2
    = \\operatorname{sign}(x) \\odot \\Pi_{\\Delta_s}(|x|)

  with `Pi_{Delta_s}` the projection onto the simplex of sum `s`.

  Args:
    tree: the tree `x` to project.
    scale: the radius `s`.

  Returns:
    The projected tree, same structure.
  """
  magnitudes = projection_simplex(jax.tree.map(jnp.abs, tree), scale)
  return arithmetic.tree_mul(jax.tree.map(jnp.sign, tree), magnitudes)


def projection_l1_ball(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
  """Projection onto the l1 ball `{||p||_1 <= s}`.

  .. math::
    \\Pi(x) = x \\text{ if } \\|x\\|_1 \\le s, \\text{ else the l1-sphere projection}

  Args:
    tree: the tree `x` to project.
    scale: the radius `s`.

  Returns:
    The projected tree, same structure.
  """
  inside = reductions.tree_norm(tree, ord=1) <= scale
  return jax.lax.cond(inside, _keep, _onto_l1_sphere, tree, scale)


# Module-level branches: eager `lax.cond` caches its compilation per branch
# function, so fresh lambdas would recompile on every call.
def _keep(tree: Any, scale: Any) -> Any:
  del scale
  return tree


def _onto_l1_sphere(tree: Any, scale: Any) -> Any:
  return projection_l1_sphere(tree, scale)
