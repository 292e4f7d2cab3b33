"""Applying updates to parameters: `apply_updates`."""

from typing import Any

import jax
import jax.numpy as jnp

from jopt._src import checks


def apply_updates(params: Any, updates: Any) -> Any:
  """Returns `params + updates`, each leaf in its param's dtype; `None` leaves stay `None`.

  Args:
    params: the parameter tree.
    updates: a tree of the same structure (e.g. from `tx.update`).

  Returns:
    The updated parameters.
  """
  checks.check_same_structure("apply_updates", updates, params, "params")
  return jax.tree.map(
      lambda p, u: None if p is None else jnp.asarray(p + u).astype(jnp.asarray(p).dtype),
      params,
      updates,
      is_leaf=lambda x: x is None,
  )
