"""D-Adaptation for AdamW, and the distance-estimate pieces that Prodigy (a D-Adaptation variant) shares."""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src.contrib import tree_ops


class DAdaptAdamWState(NamedTuple):
  """State of `dadapt_adamw`."""

  exp_avg: base.Updates  # EMA of dlr * g, like params.
  exp_avg_sq: base.Updates  # EMA of g^2, like params.
  grad_sum: base.Updates  # EMA (decay sqrt(b2)) of dlr * g, like params.
  estim_lr: jax.Array  # shape=(), the distance estimate d (params' lowest dtype).
  numerator_weighted: jax.Array  # shape=(), the numerator of d's estimate.
  count: jax.Array  # shape=(), dtype=int32.


def check_betas(fn: str, betas: Any) -> tuple[Any, Any]:
  """`betas` as `(b1, b2)`, both in [0, 1)."""
  try:
    beta1, beta2 = betas
  except (TypeError, ValueError):
    raise ValueError(f"{checks._name(fn)}: `betas` must be a pair (b1, b2), got {betas!r}.") from None
  checks.check_decay(fn, "betas[0]", beta1)
  checks.check_decay(fn, "betas[1]", beta2)
  return beta1, beta2


def adam_step_correction(beta1: Any, beta2: Any, count: jax.Array) -> jax.Array:
  """Adam's bias corrections folded into the step size: `sqrt(1 - b2^t) / (1 - b1^t)`."""
  return numerics.bias_correction_factor(beta2, count) ** 0.5 / numerics.bias_correction_factor(
      beta1, count
  )


def l1_norm(tree: Any) -> jax.Array:
  """`sum |x|` over every element of every leaf."""
  return sum((jnp.sum(jnp.abs(x)) for x in jax.tree.leaves(tree)), 0)


def raise_estimate(current: jax.Array, numerator: jax.Array, denominator: jax.Array) -> jax.Array:
  """`max(current, numerator / denominator)`; keeps `current` while `denominator` is 0.

  The denominator is a norm of the accumulated gradients: it is 0 exactly when
  every gradient so far was 0, where optax's `0 / 0` makes the estimate NaN for
  good.
  """
  ratio = numerator / jnp.where(denominator > 0, denominator, 1)
  return jnp.maximum(current, jnp.where(denominator > 0, ratio, current))


@checks.public
def dadapt_adamw(
    learning_rate: base.ScalarOrSchedule = 1.0,
    betas: tuple[jax.typing.ArrayLike, jax.typing.ArrayLike] = (0.9, 0.999),
    eps: jax.typing.ArrayLike = 1e-8,
    estim_lr0: jax.typing.ArrayLike = 1e-6,
    weight_decay: jax.typing.ArrayLike = 0.0,
) -> base.GradientTransformationExtraArgs:
  r"""Learning-rate-free AdamW by D-Adaptation.

  With :math:`\gamma_t` = `learning_rate` (a schedule around 1),
  :math:`\sigma = \sqrt{\beta_2}` and the step size
  :math:`\lambda_t = d_t \gamma_t \sqrt{1-\beta_2^t} / (1-\beta_1^t)`:

  .. math::
    r_t = \sigma r_{t-1} + (1-\sigma) \lambda_t \langle g_t, s_{t-1} / (\sqrt{v_{t-1}} + \epsilon) \rangle, \\
    m_t = \beta_1 m_{t-1} + (1-\beta_1) \lambda_t g_t, \quad
    v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \quad
    s_t = \sigma s_{t-1} + (1-\sigma) \lambda_t g_t, \\
    d_{t+1} = \max\big(d_t, r_t / ((1-\sigma) \|s_t\|_1)\big), \quad
    u_t = -m_t / (\sqrt{v_t} + \epsilon) - w \lambda_t \theta_t.

  `d_0` = `estim_lr0`. Differs from optax: while every gradient so far is zero
  (`s = 0`), `d` stays put instead of becoming NaN.

  Defazio & Mishchenko, 2023, "Learning-Rate-Free Learning by D-Adaptation"
  (https://arxiv.org/abs/2301.07733).

  Args:
    learning_rate: multiplier of the adapted step (a float or a schedule;
      1 with warmup and decay is typical).
    betas: `(b1, b2)` of the underlying Adam, each in [0, 1).
    eps: added to the denominator, >= 0.
    estim_lr0: the initial (under-)estimate of the distance `d`, > 0.
    weight_decay: decoupled weight decay, multiplied by the step size.

  Returns:
    A `GradientTransformationExtraArgs` with state `DAdaptAdamWState`; `update`
    needs `params`. Updates keep each param's dtype.

  Example:
    >>> import jax.numpy as jnp
    >>> from jopt.contrib import dadapt_adamw
    >>> tx = dadapt_adamw()
    >>> state = tx.init(jnp.ones(3))
  """
  fn = "dadapt_adamw"
  beta1, beta2 = check_betas(fn, betas)
  checks.check_nonnegative(fn, "eps", eps)
  checks.check_range(fn, "estim_lr0", estim_lr0, 0.0, None, low_inclusive=False)
  checks.check_nonnegative(fn, "weight_decay", weight_decay)
  sb2 = beta2**0.5

  def init_fn(params):
    dtype = tree_ops.lowest_dtype(params)
    return DAdaptAdamWState(
        exp_avg=numerics.zeros_like(params),
        exp_avg_sq=numerics.zeros_like(params),
        grad_sum=numerics.zeros_like(params),
        estim_lr=jnp.asarray(estim_lr0, dtype=dtype),
        numerator_weighted=jnp.zeros([], dtype=dtype),
        count=numerics.init_count(),
    )

  def update_fn(updates, state, params=None, **extra_args):
    del extra_args
    checks.require_params(fn, params)
    checks.check_same_structure(fn, updates, state.exp_avg, shapes=True)
    tm = numerics.tree_map
    count = numerics.safe_increment(state.count)
    sched = numerics.resolve(learning_rate, state.count)
    dlr = (state.estim_lr * sched * adam_step_correction(beta1, beta2, count)).astype(
        state.numerator_weighted.dtype
    )
    weighted_sum = tm(lambda s, v: s / (jnp.sqrt(v) + eps), state.grad_sum, state.exp_avg_sq)
    numerator = sb2 * state.numerator_weighted + (1 - sb2) * dlr * tree_ops.vdot(
        updates, weighted_sum
    )
    exp_avg = tm(lambda m, g: beta1 * m + (1 - beta1) * dlr * g, state.exp_avg, updates)
    exp_avg_sq = tm(lambda v, g: beta2 * v + (1 - beta2) * g * g, state.exp_avg_sq, updates)
    grad_sum = tm(lambda s, g: sb2 * s + (1 - sb2) * dlr * g, state.grad_sum, updates)
    estim_lr = raise_estimate(state.estim_lr, numerator, (1 - sb2) * l1_norm(grad_sum))
    new_updates = tm(
        lambda m, v, p: (-weight_decay * dlr * p - m / (jnp.sqrt(v) + eps)).astype(p.dtype),
        exp_avg, exp_avg_sq, params,
    )
    return new_updates, DAdaptAdamWState(
        exp_avg=numerics.cast_like(exp_avg, state.exp_avg),
        exp_avg_sq=numerics.cast_like(exp_avg_sq, state.exp_avg_sq),
        grad_sum=numerics.cast_like(grad_sum, state.grad_sum),
        estim_lr=estim_lr.astype(state.estim_lr.dtype),
        numerator_weighted=numerator.astype(state.numerator_weighted.dtype),
        count=count,
    )

  return base.declare_fusion(
      base.GradientTransformationExtraArgs(init_fn, update_fn), "global", "dadapt_adamw")
