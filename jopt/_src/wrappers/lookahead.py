"""Lookahead: k fast steps forward, one interpolation step back (`lookahead`, `LookaheadParams`)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import combine
from jopt._src import numerics


class LookaheadState(NamedTuple):
  """State of `lookahead`."""

  fast_state: base.OptState  # the fast optimizer's state.
  steps_since_sync: jax.Array  # shape=(), int32: fast steps since slow and fast params last agreed.


class LookaheadParams(NamedTuple):
  """The fast and slow parameters of `lookahead`.

  Compute gradients at `fast`; evaluate (and deploy) `slow`.
  """

  fast: base.Params
  slow: base.Params

  @classmethod
  def init_synced(cls, params: base.Params) -> "LookaheadParams":
    """Fast and slow parameters both equal to `params`."""
    return cls(fast=params, slow=params)


@checks.public
def lookahead(
    fast_optimizer: base.GradientTransformation,
    sync_period: int,
    slow_step_size: float,
    reset_state: bool = False,
) -> base.GradientTransformationExtraArgs:
  """Lookahead: every `sync_period` fast steps, move the slow weights toward the fast ones.

  With fast weights :math:`\\phi` updated by `fast_optimizer` every step and
  slow weights :math:`\\theta`, after every `k = sync_period`-th fast step

  .. math::
    \\theta \\leftarrow \\theta + \\alpha (\\phi - \\theta), \\qquad \\phi \\leftarrow \\theta,

  with :math:`\\alpha` = `slow_step_size`. `update` returns a `LookaheadParams`
  of updates; apply them unchanged with `jopt.apply_updates` (or optax's).

  Zhang, Lucas, Hinton & Ba, 2019, "Lookahead Optimizer: k steps forward, 1
  step back" (https://arxiv.org/abs/1907.08610).

  Differs from optax: `slow_step_size` is checked to lie in [0, 1] and
  `update` without params raises a clear `ValueError`.

  Args:
    fast_optimizer: the inner (fast) optimizer.
    sync_period: `k`, fast steps per synchronisation, an integer >= 1.
    slow_step_size: `alpha`, in [0, 1].
    reset_state: re-initialise the fast optimizer's state at each
      synchronisation.

  Returns:
    A `GradientTransformationExtraArgs` with state `LookaheadState`; `update`
    needs `params` as `LookaheadParams`.

  Example:
    >>> import jax, jax.numpy as jnp, jopt
    >>> opt = jopt.lookahead(jopt.sgd(0.1), sync_period=2, slow_step_size=0.5)
    >>> params = jopt.LookaheadParams.init_synced(jnp.ones(2))
    >>> state = opt.init(params)
    >>> grads = jax.grad(lambda p: jnp.sum(p ** 2))(params.fast)
    >>> updates, state = opt.update(grads, state, params)
    >>> params = jopt.apply_updates(params, updates)
  """
  checks.check_positive_int("lookahead", "sync_period", sync_period)
  checks.check_range("lookahead", "slow_step_size", slow_step_size, 0.0, 1.0)
  fast_optimizer = combine.with_extra_args_support(fast_optimizer)

  def init_fn(params):
    # Plain params are taken as the fast params (optax logs a warning and does the same).
    fast = params.fast if isinstance(params, LookaheadParams) else params
    return LookaheadState(
        fast_state=fast_optimizer.init(fast), steps_since_sync=numerics.init_count()
    )

  def update_fn(updates, state, params=None, **extra_args):
    checks.require_params("lookahead", params)
    if not isinstance(params, LookaheadParams) and not (
        hasattr(params, "fast") and hasattr(params, "slow")):
      raise ValueError(
          f"lookahead: `params` must be a LookaheadParams(fast, slow), got {type(params).__name__}."
      )
    updates, fast_state = fast_optimizer.update(updates, state.fast_state, params.fast, **extra_args)
    sync = state.steps_since_sync == (sync_period - 1)
    # The slow step moves by alpha * (phi_new - theta); the fast params then jump to the new slow ones.
    diff = jax.tree.map(lambda f, u, s: f + u - s, params.fast, updates, params.slow)
    slow_updates = jax.tree.map(
        lambda d: (slow_step_size * sync * d).astype(d.dtype), diff
    )
    fast_updates = jax.tree.map(
        lambda u, d: (u - sync * (1 - slow_step_size) * d).astype(u.dtype), updates, diff
    )
    if reset_state:
      fresh = fast_optimizer.init(params.fast)
      fast_state = jax.tree.map(
          # `result_type`: a state leaf may be a Python number or bool (optax allows it).
          lambda cur, new: jnp.where(sync, new, cur).astype(jnp.result_type(cur)), fast_state, fresh
      )
    steps = (state.steps_since_sync + 1) % sync_period
    return LookaheadParams(fast=fast_updates, slow=slow_updates), LookaheadState(fast_state, steps)

  return base.declare_fusion(
      base.GradientTransformationExtraArgs(init_fn, update_fn),
      "unknown", "lookahead",
      why="its params are LookaheadParams(fast, slow), not shaped like the updates")
