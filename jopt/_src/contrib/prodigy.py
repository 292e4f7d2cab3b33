"""Prodigy: D-Adaptation for AdamW that weights recent gradients more, so the step size adapts faster."""

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src.contrib import dadapt
from jopt._src.contrib import tree_ops


class ProdigyState(NamedTuple):
  """State of `prodigy`."""

  exp_avg: base.Updates  # EMA of d * g, like params.
  exp_avg_sq: base.Updates  # EMA of (d * g)^2, like params.
  grad_sum: base.Updates  # weighted sum of step-scaled gradients, like params.
  params0: base.Updates  # the params at `init`.
  estim_lr: jax.Array  # shape=(), the distance estimate d (params' lowest dtype).
  numerator_weighted: jax.Array  # shape=(), the numerator of d's estimate.
  count: jax.Array  # shape=(), dtype=int32.


@checks.public
def prodigy(
    learning_rate: base.ScalarOrSchedule = 1.0,
    betas: tuple[jax.typing.ArrayLike, jax.typing.ArrayLike] = (0.9, 0.999),
    beta3: Optional[jax.typing.ArrayLike] = None,
    eps: jax.typing.ArrayLike = 1e-8,
    estim_lr0: jax.typing.ArrayLike = 1e-6,
    estim_lr_coef: jax.typing.ArrayLike = 1.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    safeguard_warmup: bool = False,
) -> base.GradientTransformationExtraArgs:
  r"""Learning-rate-free AdamW by Prodigy.

  With :math:`\gamma_t` = `learning_rate`, the step size
  :math:`\lambda_t = d_t \gamma_t \sqrt{1-\beta_2^t} / (1-\beta_1^t)`,
  :math:`\beta_3` = `beta3` (default :math:`\sqrt{\beta_2}`) and
  :math:`\theta_0` the params at `init`:

  .. math::
    m_t = \beta_1 m_{t-1} + (1-\beta_1) d_t g_t, \quad
    v_t = \beta_2 v_{t-1} + (1-\beta_2) d_t^2 g_t^2, \\
    s_t = \beta_3 s_{t-1} + (d_t / d_0)\, \kappa_t\, g_t, \quad
    r_t = \beta_3 r_{t-1} + (d_t / d_0) \lambda_t \langle g_t, \theta_0 - \theta_t \rangle, \\
    d_{t+1} = \max\big(d_t, c\, r_t / \|s_t\|_1\big), \quad
    u_t = -\lambda_t m_t / (\sqrt{v_t} + d_{t+1} \epsilon) - w \lambda_t \theta_t,

  where :math:`\kappa_t = \lambda_t` (or :math:`d_t` with `safeguard_warmup`,
  which keeps the schedule out of the estimate's denominator during warmup),
  `c` = `estim_lr_coef` and `d_0` = `estim_lr0`. Differs from optax: while
  every gradient so far is zero (`s = 0`), `d` stays put instead of becoming NaN.

  Mishchenko & Defazio, 2023, "Prodigy: An Expeditiously Adaptive
  Parameter-Free Learner" (https://arxiv.org/abs/2306.06101).

  Args:
    learning_rate: multiplier of the adapted step (a float or a schedule;
      1 with warmup and linear decay is typical).
    betas: `(b1, b2)` of the underlying Adam, each in [0, 1).
    beta3: decay of the estimate's sums, in [0, 1) (default `sqrt(b2)`).
    eps: added to the denominator (scaled by `d`), >= 0.
    estim_lr0: the initial (under-)estimate of `d`, > 0.
    estim_lr_coef: multiplies every new estimate of `d`.
    weight_decay: decoupled weight decay, multiplied by the step size.
    safeguard_warmup: leave the schedule out of the estimate's denominator.

  Returns:
    A `GradientTransformationExtraArgs` with state `ProdigyState`; `update`
    needs `params`. Updates keep each param's dtype.

  Example:
    >>> import jax.numpy as jnp
    >>> from jopt.contrib import prodigy
    >>> tx = prodigy()
    >>> state = tx.init(jnp.ones(3))
  """
  fn = "prodigy"
  beta1, beta2 = dadapt.check_betas(fn, betas)
  if beta3 is None:
    beta3 = beta2**0.5
  checks.check_decay(fn, "beta3", beta3)
  checks.check_nonnegative(fn, "eps", eps)
  checks.check_range(fn, "estim_lr0", estim_lr0, 0.0, None, low_inclusive=False)
  checks.check_nonnegative(fn, "estim_lr_coef", estim_lr_coef)
  checks.check_nonnegative(fn, "weight_decay", weight_decay)
  checks.check_bool(fn, "safeguard_warmup", safeguard_warmup)

  def init_fn(params):
    dtype = tree_ops.lowest_dtype(params)
    return ProdigyState(
        exp_avg=numerics.zeros_like(params),
        exp_avg_sq=numerics.zeros_like(params),
        grad_sum=numerics.zeros_like(params),
        params0=params,
        estim_lr=jnp.asarray(estim_lr0, dtype=dtype),
        numerator_weighted=jnp.zeros([], dtype=dtype),
        count=numerics.init_count(),
    )

  def update_fn(updates, state, params=None, **extra_args):
    del extra_args
    checks.require_params(fn, params)
    checks.check_same_structure(fn, updates, state.exp_avg, shapes=True)
    tm = numerics.tree_map
    d = state.estim_lr
    count = numerics.safe_increment(state.count)
    sched = numerics.resolve(learning_rate, state.count)
    dlr = jnp.asarray(d * sched * dadapt.adam_step_correction(beta1, beta2, count), d.dtype)
    dg = tm(lambda g: d * g, updates)
    distance = tree_ops.vdot(updates, tm(lambda p0, p: p0 - p, state.params0, params))
    exp_avg = tm(lambda m, x: beta1 * m + (1 - beta1) * x, state.exp_avg, dg)
    exp_avg_sq = tm(lambda v, x: beta2 * v + (1 - beta2) * x * x, state.exp_avg_sq, dg)
    weight = d if safeguard_warmup else dlr
    grad_sum = tm(lambda s, x: beta3 * s + weight * x / estim_lr0, state.grad_sum, dg)
    numerator = beta3 * state.numerator_weighted + (d / estim_lr0) * dlr * distance
    estim_lr = dadapt.raise_estimate(
        d, estim_lr_coef * numerator, dadapt.l1_norm(grad_sum)
    ).astype(d.dtype)
    new_updates = tm(
        lambda m, v, p: (
            -weight_decay * dlr * p - dlr * m / (jnp.sqrt(v) + estim_lr * eps)
        ).astype(p.dtype),
        exp_avg, exp_avg_sq, params,
    )
    return new_updates, ProdigyState(
        exp_avg=numerics.cast_like(exp_avg, state.exp_avg),
        exp_avg_sq=numerics.cast_like(exp_avg_sq, state.exp_avg_sq),
        grad_sum=numerics.cast_like(grad_sum, state.grad_sum),
        params0=state.params0,
        estim_lr=estim_lr,
        numerator_weighted=numerator.astype(state.numerator_weighted.dtype),
        count=count,
    )

  return base.declare_fusion(
      base.GradientTransformationExtraArgs(init_fn, update_fn), "global", "prodigy")
