"""Applying updates to parameters: `apply_updates`."""

import jax
import jax.numpy as jnp
from typing import Any

from jopt._src import checks


def apply_updates(params: Any, updates: Any) -> Any:
  """Returns `params + updates`, each leaf in its param's dtype; `None` leaves stay `None`.

  `params=None` (an empty tree) returns `None` whatever the updates, as in optax.

  The trees are checked while tracing (nothing runs in the compiled step): the
  same structure, and every update leaf of its param's shape.

  Differs from optax: an update whose shape differs from its param's is a
  `ValueError` naming the path (optax broadcasts, and a (4,) param silently
  becomes (3, 4)); a floating update for an integer or boolean param is a
  `TypeError` (optax truncates it to the param's dtype, so small steps vanish).

  Args:
    params: the parameter tree.
    updates: a tree of the same structure and leaf shapes (e.g. from `tx.update`).

  Returns:
    The updated parameters.
  """
  if params is None:  # an empty tree: nothing to update (optax returns `None` too)
    return None
  checks.check_same_structure("apply_updates", updates, params, "params", shapes=True)
  return jax.tree.map(
      lambda p, u: None if p is None else jnp.asarray(p + u).astype(jnp.asarray(p).dtype),
      params,
      updates,
      is_leaf=lambda x: x is None,
  )


# --- target-network updates ---

def incremental_update(new_tensors: Any, old_tensors: Any, step_size: jax.typing.ArrayLike) -> Any:
  """Polyak averaging: moves a slow copy of the parameters a fraction `step_size` toward the new ones.

  .. math::
    \\bar\\theta \\leftarrow \\tau \\theta + (1 - \\tau) \\bar\\theta

  with :math:`\\tau` = `step_size` (e.g. 0.005 for a soft target-network
  update). `None` leaves stay `None`. Call it inside the jitted step; a traced
  `step_size` does not recompile.

  Polyak & Juditsky, 1992, "Acceleration of Stochastic Approximation by
  Averaging", https://epubs.siam.org/doi/10.1137/0330046.

  Differs from optax: each result leaf keeps `old_tensors`' dtype (optax
  returns the promoted dtype, e.g. float32 for a bfloat16 copy and a float32
  `step_size`, which changes the type of a `lax.scan` carry).

  Args:
    new_tensors: the latest parameters :math:`\\theta`.
    old_tensors: the slow copy :math:`\\bar\\theta`, same structure.
    step_size: :math:`\\tau`, usually in [0, 1].

  Returns:
    The updated slow copy.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> jopt.incremental_update(jnp.ones(2), jnp.zeros(2), 0.1)
    Array([0.1, 0.1], dtype=float32)
  """
  checks.check_finite("incremental_update", "step_size", step_size)

  def leaf(new, old):
    if new is None:
      return None
    out = step_size * new + (1.0 - step_size) * old
    return out.astype(jnp.result_type(old)) if hasattr(old, "dtype") else out

  return jax.tree.map(leaf, new_tensors, old_tensors, is_leaf=lambda x: x is None)


def _take_new(new: Any, old: Any) -> Any:
  del old
  return new


def _keep_old(new: Any, old: Any) -> Any:
  del new
  return old


def periodic_update(
    new_tensors: Any,
    old_tensors: Any,
    steps: jax.typing.ArrayLike,
    update_period: jax.typing.ArrayLike,
) -> Any:
  """Replaces a slow copy of the parameters by the new ones every `update_period` steps.

  .. math::
    \\bar\\theta \\leftarrow \\theta \\text{ if } \\text{steps} \\bmod K = 0 \\text{ else } \\bar\\theta

  with :math:`K` = `update_period` (hard target-network updates, as in DQN).
  `steps` and `update_period` may be traced integers.

  Mnih et al., 2015, "Human-level control through deep reinforcement
  learning", https://www.nature.com/articles/nature14236; Grill et al., 2020,
  "Bootstrap your own latent", https://arxiv.org/abs/2006.07733.

  Args:
    new_tensors: the latest parameters :math:`\\theta`.
    old_tensors: the slow copy :math:`\\bar\\theta`, same structure, shapes and
      dtypes.
    steps: the number of updates of the online parameters.
    update_period: :math:`K`, >= 1.

  Returns:
    `new_tensors` at multiples of `update_period`, else `old_tensors`.
  """
  checks.check_range("periodic_update", "update_period", update_period, 1, None)
  # Branches defined once at module level: an eager caller reuses the compiled `cond`.
  return jax.lax.cond(
      jnp.mod(steps, update_period) == 0, _take_new, _keep_old, new_tensors, old_tensors
  )
