"""Regularization added to the updates: L2 weight decay (`add_decayed_weights`) and the L1 subgradient (`add_l1_decay`).

Placed before an adaptive scaling in a chain, `add_decayed_weights` is coupled L2
regularization (PyTorch's `Adam(weight_decay=...)`); placed after it, decoupled
weight decay (AdamW, Loshchilov & Hutter 2019). For L1 penalties that produce
exact zeros, use the proximal transforms in `jopt._src.transforms.proximal` instead of
`add_l1_decay`.
"""

from typing import Callable, Mapping, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src.transforms import masking
from jopt._src import numerics


class WeightDecaySchedule(NamedTuple):
  """State of `add_decayed_weights` with a scheduled weight decay (optax's class name)."""

  count: jax.Array  # shape=(), dtype=int32.


# optax's public name for the state of `add_decayed_weights`: its constant-decay state.
AddDecayedWeightsState = base.EmptyState


class AddL1DecayState(NamedTuple):
  """State of `add_l1_decay` with a scheduled `l1`."""

  count: jax.Array  # shape=(), dtype=int32.


def with_mask(
    fn: str, tx: base.GradientTransformation, mask: Optional[masking.Mask]
) -> base.GradientTransformation:
  """`tx` restricted to the leaves selected by `mask` (or `tx` itself for `mask=None`).

  The mask is checked against the params in `init` and against the updates in
  `update` (in Python, at trace time), so a mask tree that does not match raises
  a `ValueError` naming `fn` and `mask`. The state is `masking.masked`'s.
  """
  if mask is None:
    return tx
  inner = masking.masked(tx, mask)

  def init_fn(params):
    masking.resolve_mask(fn, mask, params)
    return inner.init(params)

  def update_fn(updates, state, params=None, **extra_args):
    checks.check_params_structure(fn, updates, params)
    masking.resolve_mask(fn, mask, updates)
    return inner.update(updates, state, params, **extra_args)

  return base.declare_fusion(
      base.GradientTransformationExtraArgs(init_fn, update_fn), "composite", fn,
      children=(inner,), forwards=True, rebuild=lambda kids, remask: kids[0])


def leafwise_with_params(
    fn: str,
    coefficients: Mapping[str, base.ScalarOrSchedule],
    leaf_update: Callable[..., jax.Array],
    state_type: type,
    mask: Optional[masking.Mask] = None,
) -> base.GradientTransformation:
  """A transform `u <- leaf_update(u, p, **coefficients)` applied leaf by leaf.

  Coefficients may be constants or schedules `count -> value`; with any schedule
  the state is `state_type(count)` and every schedule is evaluated at the same
  count (0 at the first update, as in `scale_by_learning_rate`), otherwise the
  state is `EmptyState()`. Results are cast to each update's dtype.

  Args:
    fn: the public name, for error messages.
    coefficients: name -> scalar or schedule, passed to `leaf_update` by keyword.
    leaf_update: `(u, p, **coefficients) -> new u` for one leaf.
    state_type: a NamedTuple with a single `count` field.
    mask: optional mask (tree of bools or function of the params).

  Returns:
    A `GradientTransformation` that needs `params`.
  """
  scheduled = any(callable(v) for v in coefficients.values())

  def init_fn(params):
    del params
    return state_type(count=numerics.init_count()) if scheduled else base.EmptyState()

  def update_fn(updates, state, params=None):
    checks.require_params(fn, params)
    if updates is not None:  # `None` updates (an empty tree) stay `None`, as in optax
      checks.check_same_structure(fn, updates, params, "params", shapes=True)
    if scheduled:
      values = {k: numerics.resolve(v, state.count) for k, v in coefficients.items()}
      state = state_type(count=numerics.safe_increment(state.count))
    else:
      values = dict(coefficients)
    updates = numerics.tree_map(
        lambda u, p: leaf_update(u, p, **values).astype(u.dtype), updates, params
    )
    return updates, state

  return with_mask(fn, base.GradientTransformation(init_fn, update_fn), mask)


@checks.public
@base.declare_callable_args("mask")
def add_decayed_weights(
    weight_decay: base.ScalarOrSchedule = 0.0,
    mask: Optional[masking.Mask] = None,
) -> base.GradientTransformation:
  """Adds the weight-decay term to the updates: `u <- u + weight_decay * params`.

  This is the gradient of the L2 penalty `weight_decay / 2 * ||params||^2`.
  Where it sits in a chain decides what it means:

  - `chain(add_decayed_weights(wd), scale_by_adam(), scale_by_learning_rate(lr))`:
    coupled L2, the decay goes through Adam's per-coordinate scaling. This is
    PyTorch's `torch.optim.Adam(weight_decay=wd)` (and `SGD(weight_decay=wd)`).
  - `chain(scale_by_adam(), add_decayed_weights(wd), scale_by_learning_rate(lr))`:
    decoupled weight decay, `theta <- theta - lr * (adam_step + wd * theta)`;
    this is `adamw` and PyTorch's `AdamW(weight_decay=wd)`.

  With plain SGD both placements are the same. Loshchilov & Hutter, 2019,
  "Decoupled Weight Decay Regularization" (https://arxiv.org/abs/1711.05101).

  Args:
    weight_decay: a non-negative float, scalar array or schedule `count -> value`.
    mask: a tree of bools (or a function of the params returning one) selecting
      the leaves to decay; `None` decays every leaf. See `weight_decay_mask`.

  Returns:
    A `GradientTransformation` that needs `params`. Its state is `EmptyState()`
    for a constant and `WeightDecaySchedule` for a schedule (inside a
    `MaskedState` when `mask` is given). `weight_decay=0.0` returns the updates
    untouched (but still needs `params`), as in optax.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> tx = jopt.add_decayed_weights(0.1)
    >>> params = jnp.array([1.0, -2.0])
    >>> tx.update(jnp.zeros(2), tx.init(params), params)[0]
    Array([ 0.1, -0.2], dtype=float32)
  """
  checks.check_nonnegative("add_decayed_weights", "weight_decay", weight_decay)
  if isinstance(weight_decay, (int, float)) and weight_decay == 0:
    leaf_update = lambda u, p, weight_decay: u
  else:
    leaf_update = lambda u, p, weight_decay: u + weight_decay * p
  return base.declare_fusion(leafwise_with_params(
      "add_decayed_weights", {"weight_decay": weight_decay}, leaf_update,
      WeightDecaySchedule, mask,
  ), "elementwise", "add_decayed_weights")


@checks.public
@base.declare_callable_args("mask")
def add_l1_decay(
    l1: base.ScalarOrSchedule,
    mask: Optional[masking.Mask] = None,
) -> base.GradientTransformation:
  """Adds the L1 subgradient to the updates: `u <- u + l1 * sign(params)`.

  This is the (sub)gradient of the penalty `l1 * ||params||_1`, with
  `sign(0) = 0` (PyTorch's gradient of `abs` at 0). Chained before the
  learning rate it is subgradient descent on the L1-penalized loss: parameters
  that the penalty should zero oscillate around 0 with amplitude about
  `lr * l1` and are almost never exactly 0. For exact zeros (sparsity) use
  `l1_proximal` at the end of the chain instead.

  Before an adaptive scaling (`chain(add_l1_decay(l1), scale_by_adam(), ...)`)
  the penalty's subgradient is rescaled per coordinate like the gradient;
  after it (decoupled), every nonzero parameter moves by `lr * l1` towards 0 per
  step. For complex parameters `sign(p) = p / |p|`.

  Args:
    l1: the L1 strength, a non-negative float, scalar array or schedule.
    mask: a tree of bools (or a function of the params returning one) selecting
      the leaves to penalize; `None` penalizes every leaf.

  Returns:
    A `GradientTransformation` that needs `params`; state `EmptyState()` for a
    constant `l1`, `AddL1DecayState` for a schedule.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> tx = jopt.add_l1_decay(0.1)
    >>> params = jnp.array([3.0, 0.0, -2.0])
    >>> tx.update(jnp.zeros(3), tx.init(params), params)[0]
    Array([ 0.1,  0. , -0.1], dtype=float32)
  """
  checks.check_nonnegative("add_l1_decay", "l1", l1)
  return base.declare_fusion(leafwise_with_params(
      "add_l1_decay", {"l1": l1}, lambda u, p, l1: u + l1 * jnp.sign(p),
      AddL1DecayState, mask,
  ), "elementwise", "add_l1_decay")
