"""MoMo: momentum methods with a Polyak-type step size from a model of the loss (`momo`, `momo_adam`)."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src.contrib import tree_ops

# No step when the squared norm of the direction is below this (it is 0 in
# exact arithmetic only when every gradient so far was 0).
_TINY = float(np.finfo(np.float64).eps)


class MomoState(NamedTuple):
  """State of `momo`."""

  exp_avg: base.Updates  # d_k: EMA of the gradients, like params.
  barf: jax.Array  # shape=(), lowest params dtype: EMA of the loss values.
  gamma: jax.Array  # shape=(), lowest params dtype: EMA of <g_k, x_k>.
  lb: jax.Array  # shape=(), lowest params dtype: the current lower bound of the loss.
  count: jax.Array  # shape=(), int32.


class MomoAdamState(NamedTuple):
  """State of `momo_adam`."""

  exp_avg: base.Updates  # d_k: EMA of the gradients, like params.
  exp_avg_sq: base.Updates  # EMA of |g_k|^2, like params (real).
  barf: jax.Array  # shape=(), lowest params dtype: EMA of the loss values.
  gamma: jax.Array  # shape=(), lowest params dtype: EMA of <g_k, x_k>.
  lb: jax.Array  # shape=(), lowest params dtype: the current lower bound of the loss.
  count: jax.Array  # shape=(), int32.


def _check_args(fn: str, learning_rate: Any, weight_decay: Any, lower_bound: Any) -> None:
  checks.check_nonnegative(fn, "learning_rate", learning_rate)
  checks.check_nonnegative(fn, "weight_decay", weight_decay)
  checks.check_finite(fn, "lower_bound", lower_bound)


def _require_value(fn: str, value: Any) -> None:
  if value is None:
    raise ValueError(
        f"{fn}: `update` needs the current loss: call `update(grads, state, params, "
        "value=loss)` (e.g. from `jax.value_and_grad`)."
    )


def _polyak_step(
    *, direction, direction_sq_norm, params, barf, gamma, iprod, lb, alpha, weight_decay,
    lower_bound, adapt_lower_bound, bias_correction=1.0,
):
  """MoMo's step: the updates and the new lower bound.

  The model of the loss at `x` is `barf + <d, x> - gamma` (a momentum average of
  linearisations), floored at the lower bound `lb`; the step is the proximal
  point of that model, capped at the learning rate:

  .. math::
    \\tau = \\min\\Big(\\frac{\\alpha}{c},
      \\frac{[(1 + \\alpha\\lambda)(\\bar f - c\\, l - \\gamma) + \\langle d, x \\rangle]_+}{\\langle d, P^{-1} d \\rangle}\\Big),
    \\quad u = -\\frac{\\alpha\\lambda}{1 + \\alpha\\lambda} x - \\tau P^{-1} d

  with `c` the first-moment bias correction (1 for `momo`), `P` Adam's
  preconditioner (identity for `momo`), `direction` = :math:`P^{-1} d`.
  """
  shrink = 1 + alpha * weight_decay
  if adapt_lower_bound:
    cap = shrink * (barf - gamma) + iprod
    lb = jnp.where(
        cap < shrink * bias_correction * lb,
        jnp.maximum(cap / (2 * bias_correction * shrink), lower_bound),
        lb,
    )
  t1 = jnp.maximum(shrink * (barf - bias_correction * lb - gamma) + iprod, 0.0) / direction_sq_norm
  t1 = jnp.where(direction_sq_norm <= _TINY, 0.0, t1)
  tau = jnp.minimum(alpha / bias_correction, t1)
  updates = numerics.tree_map(
      lambda d, p: (-(alpha * weight_decay) / shrink * p - tau * d).astype(p.dtype),
      direction, params,
  )
  if adapt_lower_bound:
    new_lb = jnp.maximum(
        ((barf + iprod - gamma) - (1 / 2) * tau * direction_sq_norm) / bias_correction,
        lower_bound,
    )
  else:
    new_lb = lb
  return updates, new_lb


@checks.public
def momo(
    learning_rate: base.ScalarOrSchedule = 1.0,
    beta: jax.typing.ArrayLike = 0.9,
    lower_bound: jax.typing.ArrayLike = 0.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    adapt_lower_bound: bool = False,
) -> base.GradientTransformationExtraArgs:
  """MoMo: SGD with momentum and the step `min(learning_rate, Polyak-type step)`.

  With :math:`\\beta_0 = 0` (the first step initialises the averages) and
  :math:`\\beta_k = \\beta` after:

  .. math::
    d_k = \\beta_k d_{k-1} + (1 - \\beta_k) g_k, \\quad
    \\bar f_k = \\beta_k \\bar f_{k-1} + (1 - \\beta_k) f(x_k), \\quad
    \\gamma_k = \\beta_k \\gamma_{k-1} + (1 - \\beta_k) \\langle g_k, x_k \\rangle, \\\\
    \\tau_k = \\min\\Big(\\alpha_k, \\frac{[(1 + \\alpha_k\\lambda)(\\bar f_k - l - \\gamma_k)
      + \\langle d_k, x_k \\rangle]_+}{\\|d_k\\|^2}\\Big), \\quad
    x_{k+1} = \\frac{x_k - \\tau_k d_k}{1 + \\alpha_k \\lambda}

  (no step while :math:`d_k = 0`). `l` is `lower_bound`, or with
  `adapt_lower_bound` an estimate updated on the fly. `update` needs the loss:
  `update(grads, state, params, value=loss)`. Returns the parameter change
  itself (no learning-rate scaling should follow). Schaipp et al., 2023, "MoMo:
  Momentum Models for Adaptive Learning Rates" (https://arxiv.org/abs/2305.07583).

  Args:
    learning_rate: the cap on the step (constant or schedule); can be large, >= 0.
    beta: momentum of the averages.
    lower_bound: a lower bound of the loss (0 for most losses).
    weight_decay: weight decay `lambda`, >= 0.
    adapt_lower_bound: estimate the lower bound on the fly.

  Returns:
    A `GradientTransformationExtraArgs` with state `MomoState`; `update` needs
    `params` and `value`.
  """
  fn = "momo"
  _check_args(fn, learning_rate, weight_decay, lower_bound)
  checks.check_range(fn, "beta", beta, 0.0, 1.0)

  def init_fn(params):
    dtype = tree_ops.lowest_dtype(params)
    return MomoState(
        exp_avg=numerics.zeros_like(params),
        barf=jnp.zeros([], dtype),
        gamma=jnp.zeros([], dtype),
        lb=jnp.asarray(lower_bound, dtype),
        count=numerics.init_count(),
    )

  def update_fn(updates, state, params=None, *, value=None, **extra_args):
    del extra_args
    checks.require_params(fn, params)
    _require_value(fn, value)
    checks.check_same_structure(fn, updates, params, "params", shapes=True)
    bt = jnp.where(state.count == 0, 0.0, beta)
    barf = bt * state.barf + (1 - bt) * jnp.asarray(value, state.barf.dtype)
    exp_avg = numerics.update_moment(updates, state.exp_avg, bt, 1)
    gamma = bt * state.gamma + (1 - bt) * tree_ops.vdot(updates, params)
    alpha = numerics.resolve(learning_rate, state.count)
    new_updates, lb = _polyak_step(
        direction=exp_avg, direction_sq_norm=numerics.sum_of_squares(exp_avg), params=params,
        barf=barf, gamma=gamma, iprod=tree_ops.vdot(exp_avg, params), lb=state.lb, alpha=alpha,
        weight_decay=weight_decay, lower_bound=lower_bound, adapt_lower_bound=adapt_lower_bound,
    )
    return new_updates, MomoState(
        exp_avg=numerics.cast_like(exp_avg, state.exp_avg),
        barf=barf.astype(state.barf.dtype),
        gamma=gamma.astype(state.gamma.dtype),
        lb=lb.astype(state.lb.dtype),
        count=numerics.safe_increment(state.count),
    )

  return base.declare_fusion(
      base.GradientTransformationExtraArgs(init_fn, update_fn), "global", "momo")


@checks.public
def momo_adam(
    learning_rate: base.ScalarOrSchedule = 1e-2,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    lower_bound: jax.typing.ArrayLike = 0.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    adapt_lower_bound: bool = False,
) -> base.GradientTransformationExtraArgs:
  """MoMo-Adam: Adam(W) with the step `min(learning_rate, Polyak-type step)`.

  .. math::
    d_k = \\beta_1 d_{k-1} + (1 - \\beta_1) g_k, \\quad
    v_k = \\beta_2 v_{k-1} + (1 - \\beta_2) g_k^2, \\quad
    P_k = \\epsilon + \\sqrt{v_k / (1 - \\beta_2^k)}, \\\\
    \\bar f_k, \\gamma_k \\text{ as in `momo` with } \\beta_1, \\quad
    c_k = 1 - \\beta_1^k, \\\\
    \\tau_k = \\min\\Big(\\frac{\\alpha_k}{c_k}, \\frac{[(1 + \\alpha_k\\lambda)(\\bar f_k - c_k l - \\gamma_k)
      + \\langle d_k, x_k \\rangle]_+}{\\langle d_k, d_k / P_k \\rangle}\\Big), \\quad
    x_{k+1} = \\frac{x_k - \\tau_k d_k / P_k}{1 + \\alpha_k \\lambda}

  `update` needs the loss: `update(grads, state, params, value=loss)`. Returns
  the parameter change itself. Bias corrections are `-expm1(k log b)` (exact in
  float32; optax's `1 - b**k` is up to ~7e-5 relative off). Schaipp et al.,
  2023 (https://arxiv.org/abs/2305.07583).

  Args:
    learning_rate: the cap on the step (constant or schedule), >= 0.
    b1: decay of the first moment and of the loss averages, in [0, 1).
    b2: decay of the second moment, in [0, 1).
    eps: added to the preconditioner, >= 0.
    lower_bound: a lower bound of the loss (0 for most losses).
    weight_decay: decoupled (AdamW-like) weight decay, >= 0.
    adapt_lower_bound: estimate the lower bound on the fly.

  Returns:
    A `GradientTransformationExtraArgs` with state `MomoAdamState`; `update`
    needs `params` and `value`.
  """
  fn = "momo_adam"
  _check_args(fn, learning_rate, weight_decay, lower_bound)
  checks.check_decay(fn, "b1", b1)
  checks.check_decay(fn, "b2", b2)
  checks.check_nonnegative(fn, "eps", eps)

  def init_fn(params):
    dtype = tree_ops.lowest_dtype(params)
    return MomoAdamState(
        exp_avg=numerics.zeros_like(params),
        exp_avg_sq=numerics.real_full_like(params, 0.0),
        barf=jnp.zeros([], dtype),
        gamma=jnp.zeros([], dtype),
        lb=jnp.asarray(lower_bound, dtype),
        count=numerics.init_count(),
    )

  def update_fn(updates, state, params=None, *, value=None, **extra_args):
    del extra_args
    checks.require_params(fn, params)
    _require_value(fn, value)
    checks.check_same_structure(fn, updates, params, "params", shapes=True)
    count = numerics.safe_increment(state.count)
    barf = b1 * state.barf + (1 - b1) * jnp.asarray(value, state.barf.dtype)
    exp_avg = numerics.update_moment(updates, state.exp_avg, b1, 1)
    exp_avg_sq = numerics.update_moment_per_elem_norm(updates, state.exp_avg_sq, b2, 2)
    precond = numerics.tree_map(
        lambda v: eps + jnp.sqrt(v), numerics.bias_correction(exp_avg_sq, b2, count)
    )
    direction = numerics.tree_map(lambda m, p: m / p, exp_avg, precond)
    gamma = b1 * state.gamma + (1 - b1) * tree_ops.vdot(updates, params)
    alpha = numerics.resolve(learning_rate, state.count)
    bc1 = numerics.bias_correction_factor(b1, count).astype(state.barf.dtype)
    new_updates, lb = _polyak_step(
        direction=direction, direction_sq_norm=tree_ops.vdot(exp_avg, direction), params=params,
        barf=barf, gamma=gamma, iprod=tree_ops.vdot(exp_avg, params), lb=state.lb, alpha=alpha,
        weight_decay=weight_decay, lower_bound=lower_bound, adapt_lower_bound=adapt_lower_bound,
        bias_correction=bc1,
    )
    return new_updates, MomoAdamState(
        exp_avg=numerics.cast_like(exp_avg, state.exp_avg),
        exp_avg_sq=numerics.cast_like(exp_avg_sq, state.exp_avg_sq),
        barf=barf.astype(state.barf.dtype),
        gamma=gamma.astype(state.gamma.dtype),
        lb=lb.astype(state.lb.dtype),
        count=count,
    )

  return base.declare_fusion(
      base.GradientTransformationExtraArgs(init_fn, update_fn), "global", "momo_adam")
