"""Projections onto the simplex and the l1 sphere and ball, with an exact Jacobian-vector product."""

from typing import Any

import jax
from jax import flatten_util
import jax.numpy as jnp

from jopt._src import numerics
from jopt._src.tree_utils import arithmetic
from jopt._src.tree_utils import reductions


def project_rows_onto_simplex(x: jax.Array) -> jax.Array:
  r"""Projects every row (last axis) of `x` onto :math:`\{p \ge 0, \sum_i p_i = 1\}`, by sorting.

  With :math:`u` the row sorted in decreasing order and :math:`c_k = u_1 + \dots + u_k`,
  the support size is :math:`\rho = \#\{k : k u_k > c_k - 1\}` and the projection is
  :math:`\max(x - (c_\rho - 1)/\rho, 0)` (Held et al., 1974; Duchi et al., 2008,
  https://doi.org/10.1145/1390156.1390191). On a batch of logits this is sparsemax.
  Computed and returned in float32 (or wider) for half-precision inputs; the
  Jacobian-vector product is exact almost everywhere.
  """
  return _project_rows(x.astype(numerics.accumulation_dtype(x.dtype)))


@jax.custom_jvp
def _project_rows(x: jax.Array) -> jax.Array:
  n = x.shape[-1]
  u = -jnp.sort(-x, axis=-1)
  css = jnp.cumsum(u, axis=-1)
  k = jnp.arange(1, n + 1, dtype=x.dtype)
  rho = jnp.count_nonzero(k * u > css - 1, axis=-1, keepdims=True)
  tau = (jnp.take_along_axis(css, rho - 1, axis=-1) - 1) / rho.astype(x.dtype)
  return jnp.maximum(x - tau, 0)


@_project_rows.defjvp
def _project_rows_jvp(primals, tangents):
  # On the support S the projection is x - tau(x) with the sum over S fixed, so its
  # derivative removes the tangent's mean over S; off S it is 0.
  (x,), (dx,) = primals, tangents
  p = _project_rows(x)
  support = (p > 0).astype(dx.dtype)
  mean_on_support = jnp.sum(support * dx, axis=-1, keepdims=True) / jnp.sum(
      support, axis=-1, keepdims=True)
  return p, support * (dx - mean_on_support)


def _unit_simplex(v: jax.Array) -> jax.Array:
  """The projection of one vector, in its own dtype."""
  return project_rows_onto_simplex(v).astype(v.dtype)


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
