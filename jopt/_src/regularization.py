"""Weight decay (L2): `add_decayed_weights`.

Placed before an adaptive scaling in a chain it is coupled L2 regularization
(PyTorch's `Adam(weight_decay=...)`); placed after it, decoupled weight decay
(AdamW, Loshchilov & Hutter 2019).
"""

from typing import Any, NamedTuple, Optional

import jax

from jopt._src import base
from jopt._src import checks
from jopt._src import masking
from jopt._src import tree


class AddDecayedWeightsState(NamedTuple):
  """State of `add_decayed_weights` with a scheduled weight decay."""

  count: jax.Array  # shape=(), dtype=int32.


def add_decayed_weights(
    weight_decay: base.ScalarOrSchedule = 0.0,
    mask: Optional[masking.Mask] = None,
) -> base.GradientTransformation:
  """Adds the weight-decay term to the updates: `u <- u + weight_decay * params`.

  This is the gradient of `weight_decay / 2 * ||params||^2`.

  Args:
    weight_decay: a non-negative float, scalar array or schedule `count -> value`.
    mask: a tree of bools (or a function of the params returning one) selecting
      the leaves to decay; `None` decays every leaf.

  Returns:
    A `GradientTransformation` that needs `params`. Its state is `EmptyState()`
    for a constant and `AddDecayedWeightsState` for a schedule.
  """
  checks.check_nonnegative("add_decayed_weights", "weight_decay", weight_decay)
  scheduled = callable(weight_decay)

  def init_fn(params):
    del params
    return AddDecayedWeightsState(count=tree.init_count()) if scheduled else base.EmptyState()

  def update_fn(updates, state, params=None):
    checks.require_params("add_decayed_weights", params)
    checks.check_same_structure("add_decayed_weights", updates, params, "params")
    if scheduled:
      decay = weight_decay(state.count)
      state = AddDecayedWeightsState(count=tree.safe_increment(state.count))
    else:
      decay = weight_decay
    if isinstance(decay, (int, float)) and decay == 0:
      return updates, state
    updates = tree.tree_map(lambda g, p: (g + decay * p).astype(g.dtype), updates, params)
    return updates, state

  tx = base.GradientTransformation(init_fn, update_fn)
  return tx if mask is None else masking.masked(tx, mask)
