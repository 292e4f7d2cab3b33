"""Sharpness-Aware Minimization: `sam` alternates adversarial ascent steps with outer descent steps."""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src import update as update_lib

NormalizeState = base.EmptyState


def normalize() -> base.GradientTransformation:
  """Divides the updates by their global norm: `u <- u / ||u||`.

  The adversarial direction of SAM: `chain(normalize(), sgd(rho))` is a step of
  length `rho` along the gradient (after the sign flip inside `sam`).

  Returns:
    A stateless `GradientTransformation` (state `NormalizeState()`).
  """

  def update_fn(updates, state, params=None):
    del params
    norm = numerics.global_norm(updates)
    return numerics.tree_map(lambda g: (g / norm).astype(g.dtype), updates), state

  return base.declare_fusion(
      base.GradientTransformation(base.init_empty_state, update_fn), "global", "normalize")


class SAMState(NamedTuple):
  """State of `sam`."""

  steps_since_sync: jax.Array  # shape=(), int32: adversarial steps since the last outer step.
  opt_state: base.OptState  # the outer optimizer's state.
  adv_state: base.OptState  # the adversarial optimizer's state.
  cache: Optional[base.Params]  # the outer params (None in opaque mode).


def _select(cond: jax.Array, if_true: Any, if_false: Any) -> Any:
  return jax.tree.map(lambda a, b: jnp.where(cond, a, b), if_true, if_false)


def _check_transform(fn: str, name: str, tx: Any) -> None:
  if not (hasattr(tx, "init") and hasattr(tx, "update")):
    raise TypeError(f"{fn}: `{name}` must be a GradientTransformation, got {type(tx).__name__}.")


@checks.public
def sam(
    optimizer: base.GradientTransformation,
    adv_optimizer: base.GradientTransformation,
    sync_period: int = 2,
    reset_state: bool = True,
    opaque_mode: bool = False,
    batch_axis_name: Optional[str] = None,
) -> base.GradientTransformationExtraArgs:
  """Sharpness-Aware Minimization: `sync_period - 1` adversarial steps, then one outer step.

  With outer params :math:`w` (the cache), adversarial steps move the evaluated
  point :math:`\\tilde w \\leftarrow \\tilde w - \\text{adv}(g(\\tilde w))` (an
  ascent, since the adversarial optimizer's descent update is negated); the
  outer step then applies :math:`\\text{opt}(g(\\tilde w))` from :math:`w`, and
  the adversarial point restarts there. The paper's SAM is
  `sam(sgd(lr), chain(normalize(), sgd(rho)), sync_period=2)`. Foret et al.,
  2021, "Sharpness-Aware Minimization for Efficiently Improving Generalization"
  (https://arxiv.org/abs/2010.01412).

  Transparent mode (default): each `update` call is one step; the adversarial
  points are visible to the training loop. Opaque mode: each `update` call runs
  the adversarial steps internally with `update(g, state, params, grad_fn=f)`,
  where `f(params, i)` returns the gradient at the `i`-th adversarial point, and
  returns the outer update only (use it when the loss has side effects such as
  batch-norm statistics).

  Args:
    optimizer: the outer optimizer.
    adv_optimizer: the adversarial optimizer (its update is negated).
    sync_period: steps per cycle (the last is the outer step), an integer >= 1.
    reset_state: re-initialise the adversarial optimizer's state after each
      outer step.
    opaque_mode: run the adversarial steps inside one `update` call.
    batch_axis_name: opaque mode under `pmap`: the axis over which the
      adversarial gradients are averaged.

  Returns:
    A `GradientTransformationExtraArgs` with state `SAMState`; `update` needs
    `params`.
  """
  fn = "sam"
  _check_transform(fn, "optimizer", optimizer)
  _check_transform(fn, "adv_optimizer", adv_optimizer)
  checks.check_positive_int(fn, "sync_period", sync_period)

  def init_fn(params):
    return SAMState(
        steps_since_sync=numerics.init_count(),
        opt_state=optimizer.init(params),
        adv_state=adv_optimizer.init(params),
        cache=None if opaque_mode else params,
    )

  def negate(updates):
    return numerics.tree_map(lambda u: -u, updates)

  def transparent_update_fn(updates, state, params=None, *, grad_fn=None, **extra_args):
    del grad_fn, extra_args
    checks.require_params(fn, params)
    first_step = state.steps_since_sync == 0
    last_step = state.steps_since_sync == sync_period - 1

    adv_updates, adv_state = adv_optimizer.update(updates, state.adv_state, params)
    adv_updates = negate(adv_updates)
    # The outer step is taken from the cached outer params, expressed relative
    # to the current (adversarial) params.
    opt_updates, opt_state = optimizer.update(updates, state.opt_state, state.cache)
    opt_updates = jax.tree.map(
        lambda c, p, u: (c - p + u).astype(p.dtype), state.cache, params, opt_updates
    )

    new_updates = _select(last_step, opt_updates, adv_updates)
    if reset_state:
      adv_state = _select(last_step, adv_optimizer.init(params), adv_state)
    else:
      adv_state = _select(last_step, state.adv_state, adv_state)
    return new_updates, SAMState(
        steps_since_sync=(state.steps_since_sync + 1) % sync_period,
        opt_state=_select(last_step, opt_state, state.opt_state),
        adv_state=adv_state,
        cache=_select(first_step, params, state.cache),
    )

  def opaque_update_fn(updates, state, params=None, *, grad_fn=None, **extra_args):
    del extra_args
    checks.require_params(fn, params)
    if grad_fn is None:
      raise ValueError(
          f"{fn}: with opaque_mode=True, `update` needs `grad_fn=f` where "
          "`f(params, i)` returns the gradient at the i-th adversarial point."
      )
    adv_params, adv_updates, adv_state = params, updates, state.adv_state
    for i in range(sync_period - 1):
      adv_updates, adv_state = adv_optimizer.update(adv_updates, adv_state, adv_params)
      adv_params = update_lib.apply_updates(adv_params, negate(adv_updates))
      adv_updates = grad_fn(adv_params, i)
      if batch_axis_name is not None:
        adv_updates = jax.lax.pmean(adv_updates, axis_name=batch_axis_name)
    if reset_state:
      adv_state = adv_optimizer.init(params)
    new_updates, opt_state = optimizer.update(adv_updates, state.opt_state, params)
    return new_updates, SAMState(
        steps_since_sync=numerics.init_count(),
        opt_state=opt_state,
        adv_state=adv_state,
        cache=None,
    )

  update_fn = opaque_update_fn if opaque_mode else transparent_update_fn
  return base.GradientTransformationExtraArgs(init_fn, update_fn)
