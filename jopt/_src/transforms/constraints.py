"""Constraints on updates and params: `zero_nans`, `keep_params_nonnegative`."""

from typing import Any, NamedTuple

import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics


class ZeroNansState(NamedTuple):
  """State of `zero_nans`."""

  found_nan: Any  # like params, one bool scalar per leaf: NaN seen at the last update.


@checks.public
def zero_nans() -> base.GradientTransformation:
  """Replaces NaNs in the updates by 0 and records, per leaf, whether it found any.

  .. math::
    u \\leftarrow \\begin{cases} 0 & u \\text{ is NaN} \\\\ u & \\text{otherwise} \\end{cases}

  Returns:
    A `GradientTransformation` with state `ZeroNansState`: `found_nan` is True
    for the leaves that held a NaN at the last update (not used by the
    transform itself). Infinities are kept.

  Differs from optax: an updates tree that does not match the state raises.
  """

  def init_fn(params):
    return ZeroNansState(found_nan=numerics.tree_map(lambda p: jnp.zeros([], jnp.bool_), params))

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure("zero_nans", updates, state.found_nan)
    found = numerics.tree_map(lambda g: jnp.any(jnp.isnan(g)), updates)
    updates = numerics.tree_map(lambda g: jnp.where(jnp.isnan(g), jnp.zeros_like(g), g), updates)
    return updates, ZeroNansState(found_nan=found)

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "elementwise", "zero_nans")


@checks.public
def keep_params_nonnegative() -> base.GradientTransformation:
  """Changes updates so that `params + updates >= 0`; put it last in a chain.

  .. math::
    u \\leftarrow \\begin{cases} -\\theta & \\theta + u < 0 \\\\ u & \\text{otherwise} \\end{cases}

  Params that are already negative are moved to 0.

  Returns:
    A stateless `GradientTransformation` that needs `params`.
  """

  def update_fn(updates, state, params=None):
    checks.require_params("keep_params_nonnegative", params)
    checks.check_same_structure("keep_params_nonnegative", updates, params, "params", shapes=True)
    updates = numerics.tree_map(
        lambda u, p: jnp.where(p + u < 0, -p, u).astype(u.dtype), updates, params
    )
    return updates, state

  return base.declare_fusion(
      base.GradientTransformation(base.init_empty_state, update_fn),
      "elementwise", "keep_params_nonnegative")
