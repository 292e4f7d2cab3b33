"""Normalizing the whole update to a fixed length: `normalize_by_update_norm`."""

from typing import Optional

import jax

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics


@checks.public
def normalize_by_update_norm(
    scale_factor: jax.typing.ArrayLike = 1.0, eps: jax.typing.ArrayLike = 1e-6
) -> base.GradientTransformation:
  """Divides the updates by their global norm: `u <- scale_factor * u / (||u|| + eps)`.

  The norm is taken over all leaves together, so the result has length
  `scale_factor` (up to `eps`): normalized gradient descent with
  `scale_factor=-lr`.

  Args:
    scale_factor: the length of the result (negative to descend), nonzero.
    eps: added to the norm, >= 0.

  Returns:
    A stateless `GradientTransformation`. Updates keep each param's dtype.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> tx = jopt.normalize_by_update_norm(scale_factor=-1.0, eps=0.0)
    >>> tx.update(jnp.array([3.0, 4.0]), tx.init(None))[0]
    Array([-0.6, -0.8], dtype=float32)
  """
  fn = "normalize_by_update_norm"
  checks.check_range(fn, "scale_factor", scale_factor, finite=True)
  known = checks.concrete_value(scale_factor)
  if known is not None and known == 0:
    raise ValueError(f"{fn}: `scale_factor` must be nonzero (it divides the norm), got {scale_factor!r}.")
  checks.check_nonnegative(fn, "eps", eps)

  def update_fn(updates, state, params: Optional[base.Params] = None):
    checks.check_params_structure(fn, updates, params)
    divisor = (numerics.global_norm(updates) + eps) / scale_factor
    return numerics.tree_map(lambda u: (u / divisor).astype(u.dtype), updates), state

  return base.declare_fusion(
      base.GradientTransformation(base.init_empty_state, update_fn),
      "global", "normalize_by_update_norm")
