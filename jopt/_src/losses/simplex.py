"""Row-wise projection onto the probability simplex (sparsemax), for the sparsemax losses."""

import jax
import jax.numpy as jnp

from jopt._src import numerics


def project_rows_onto_simplex(x: jax.Array) -> jax.Array:
  r"""Projects every row (last axis) of `x` onto :math:`\{p \ge 0, \sum_i p_i = 1\}`.

  With :math:`u` the row sorted in decreasing order and :math:`c_k = u_1 + \dots + u_k`,
  the support size is :math:`\rho = \#\{k : u_k > (c_k - 1) / k\}` and the
  projection is :math:`\max(x - (c_\rho - 1)/\rho, 0)` (Held et al., 1974;
  Duchi et al., 2008, https://doi.org/10.1145/1390156.1390191). This is sparsemax.
  `jopt.projections.projection_simplex` projects a whole pytree as one vector;
  the losses need one projection per row, without `vmap`.

  Computed and returned in float32 (or wider) for half-precision inputs, as optax.
  """
  return _project(x.astype(numerics.accumulation_dtype(x.dtype)))


@jax.custom_jvp
def _project(x: jax.Array) -> jax.Array:
  n = x.shape[-1]
  u = -jnp.sort(-x, axis=-1)
  partial_sums = jnp.cumsum(u, axis=-1)
  k = jnp.arange(1, n + 1, dtype=x.dtype)
  support_size = jnp.count_nonzero(u > (partial_sums - 1) / k, axis=-1, keepdims=True)
  top_sum = jnp.take_along_axis(partial_sums, support_size - 1, axis=-1)
  threshold = (top_sum - 1) / support_size.astype(x.dtype)
  return jnp.maximum(x - threshold, 0)


@_project.defjvp
def _project_jvp(primals, tangents):
  # On the support S the projection is x - tau(x) with sum over S fixed at 1, so
  # its derivative removes the tangent's mean over S; off S it is 0.
  (x,), (dx,) = primals, tangents
  p = _project(x)
  support = (p > 0).astype(dx.dtype)
  mean_on_support = jnp.sum(support * dx, axis=-1, keepdims=True) / jnp.sum(
      support, axis=-1, keepdims=True
  )
  return p, support * (dx - mean_on_support)
