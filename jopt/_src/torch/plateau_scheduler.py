"""PyTorch's `ReduceLROnPlateau` as a stateful transform fed the loss through `update(..., value=loss)`."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics


class TorchReduceLROnPlateauState(NamedTuple):
  """State of `reduce_lr_on_plateau` (PyTorch's scheduler attributes)."""

  lr: jax.Array  # shape=(), float32: the current learning rate (PyTorch's param_group["lr"]).
  best: jax.Array  # shape=(), float32: best metric so far (+-inf at the start).
  num_bad_epochs: jax.Array  # shape=(), int32.
  cooldown_counter: jax.Array  # shape=(), int32.
  count: jax.Array  # shape=(), int32: updates so far in the current epoch.
  value_sum: jax.Array  # shape=(), float32: sum of this epoch's values.

  jopt_hyperparams = ("lr",)  # what `jopt.hyperparams(state)` reports.


@checks.public
def reduce_lr_on_plateau(
    lr: float,
    mode: str = "min",
    factor: float = 0.1,
    patience: int = 10,
    threshold: float = 1e-4,
    threshold_mode: str = "rel",
    cooldown: int = 0,
    min_lr: float = 0.0,
    eps: float = 1e-8,
    *,
    steps_per_epoch: int = 1,
) -> base.GradientTransformationExtraArgs:
  """`torch.optim.lr_scheduler.ReduceLROnPlateau` as a transform placed after a `jopt.torch` optimizer.

  Use it as `chain(jopt.torch.sgd(lr=0.1), reduce_lr_on_plateau(0.1, ...))` with
  the same `lr` in both, and pass the metric with every update:
  `tx.update(grads, state, params, value=loss)`. The transform multiplies the
  updates by `state.lr / lr` (the optimizer's `lr` enters every `jopt.torch`
  optimizer except `asgd` as a final factor), then feeds the metric to PyTorch's
  rule, so the metric given with update `k` changes the rate from update `k+1`
  on, as `scheduler.step(loss)` after `optimizer.step()` does.

  PyTorch's rule, once per epoch with metric `a`: `a` is better than `best` if
  `a < best (1 - threshold)` (`min`, `rel`), `a < best - threshold` (`min`,
  `abs`), `a > best (1 + threshold)` or `a > best + threshold` (`max`). A
  better metric resets the count of bad epochs; during `cooldown` epochs after
  a reduction bad epochs are not counted; when they exceed `patience`, the
  rate becomes `max(lr * factor, min_lr)` unless that changes it by at most
  `eps`. With `steps_per_epoch = n > 1` the metric of an epoch is the mean of
  the `n` values passed during it (pass a validation loss with each update of
  the epoch to use it instead).

  Differs from `optax.contrib.reduce_on_plateau`: PyTorch's `threshold_mode`,
  `mode='max'`, `min_lr` in learning-rate units and `eps`, and the new rate
  applies from the next update.

  Args:
    lr: the learning rate the optimizer before this transform was built with, > 0.
    mode: `"min"` (a loss) or `"max"` (an accuracy).
    factor: multiplier of the rate on a plateau, in [0, 1).
    patience: bad epochs tolerated before reducing, a whole number >= 0 (inf: never reduce).
    threshold: what counts as an improvement, >= 0 and finite.
    threshold_mode: `"rel"` or `"abs"`.
    cooldown: epochs to wait after a reduction, >= 0.
    min_lr: the smallest rate, >= 0.
    eps: smallest change of the rate that is applied, >= 0.
    steps_per_epoch: updates per PyTorch `scheduler.step` call, >= 1.

  Returns:
    A `GradientTransformationExtraArgs` whose `update` needs `value=`; state
    `TorchReduceLROnPlateauState` (`state.lr` is the current rate).
  """
  fn = "reduce_lr_on_plateau"
  checks.check_range(fn, "lr", lr, 0.0, None, low_inclusive=False, finite=True, required=True)
  checks.check_choice(fn, "mode", mode, ("min", "max"))
  checks.check_choice(fn, "threshold_mode", threshold_mode, ("rel", "abs"))
  checks.check_range(fn, "factor", factor, 0.0, 1.0, high_inclusive=False)
  # inf patience never reduces the rate (as `jopt.reduce_on_plateau`); else a whole number.
  checks.check_range(fn, "patience", patience, 0, None)
  known = checks.concrete_value(patience)
  if known is not None and np.isfinite(known):
    checks.check_whole(fn, "patience", patience, 0)
  checks.check_nonnegative(fn, "threshold", threshold)
  checks.check_int(fn, "cooldown", cooldown, 0)
  checks.check_nonnegative(fn, "min_lr", min_lr)
  checks.check_nonnegative(fn, "eps", eps)
  checks.check_positive_int(fn, "steps_per_epoch", steps_per_epoch)
  worst = jnp.inf if mode == "min" else -jnp.inf

  def is_better(a, best):
    if mode == "min":
      return a < (best * (1.0 - threshold) if threshold_mode == "rel" else best - threshold)
    return a > (best * (1.0 + threshold) if threshold_mode == "rel" else best + threshold)

  def init_fn(params):
    del params
    zero = jnp.zeros([], jnp.int32)
    return TorchReduceLROnPlateauState(
        lr=jnp.asarray(lr, jnp.float32), best=jnp.asarray(worst, jnp.float32),
        num_bad_epochs=zero, cooldown_counter=zero, count=zero,
        value_sum=jnp.zeros([], jnp.float32))

  def plateau_step(state: TorchReduceLROnPlateauState, current: Any) -> TorchReduceLROnPlateauState:
    better = is_better(current, state.best)
    best = jnp.where(better, current, state.best)
    bad = jnp.where(better, 0, state.num_bad_epochs + 1)
    in_cooldown = state.cooldown_counter > 0
    cooldown_counter = jnp.where(in_cooldown, state.cooldown_counter - 1, state.cooldown_counter)
    bad = jnp.where(in_cooldown, 0, bad)
    reduce = bad > patience
    new_lr = jnp.maximum(state.lr * factor, min_lr)
    lr_now = jnp.where(reduce & (state.lr - new_lr > eps), new_lr, state.lr)
    return state._replace(
        lr=lr_now.astype(jnp.float32), best=best.astype(jnp.float32),
        num_bad_epochs=jnp.where(reduce, 0, bad).astype(jnp.int32),
        cooldown_counter=jnp.where(reduce, cooldown, cooldown_counter).astype(jnp.int32))

  def update_fn(updates, state, params=None, *, value=None, **extra_args):
    del params, extra_args
    if value is None:
      raise ValueError(
          f"{fn}: `update` needs the metric: call `tx.update(grads, state, params, value=loss)`.")
    ratio = state.lr / lr
    updates = numerics.tree_map(lambda u: (ratio * u).astype(u.dtype), updates)
    value_sum = state.value_sum + jnp.asarray(value, jnp.float32)
    count = state.count + 1
    epoch_done = count >= steps_per_epoch
    current = value_sum / steps_per_epoch if steps_per_epoch > 1 else value_sum
    stepped = plateau_step(state, current)
    new_state = jax.tree.map(lambda a, b: jnp.where(epoch_done, a, b), stepped, state)
    new_state = new_state._replace(
        count=jnp.where(epoch_done, 0, count).astype(jnp.int32),
        value_sum=jnp.where(epoch_done, 0.0, value_sum).astype(jnp.float32))
    return updates, new_state

  return base.GradientTransformationExtraArgs(init_fn, update_fn)
