"""Mechanic: learns the scale of any base optimizer's updates online (a learning-rate tuner)."""

from typing import Any, NamedTuple, Union

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import combine
from jopt._src import numerics
from jopt._src.contrib import tree_ops


class MechanicState(NamedTuple):
  """State of `mechanize`; `r`, `m`, `v`, `s` hold one entry per beta (shape `[num_betas]`)."""

  base_optimizer_state: base.OptState
  count: jax.Array  # shape=(), dtype=int32.
  r: jax.Array  # discounted reward of each bettor.
  m: jax.Array  # discounted max of |h| (clips h).
  v: jax.Array  # discounted sum of h^2.
  s: jax.Array  # each bettor's scale; the applied scale is their sum.
  x0: base.Updates  # the params at the first update (the reference point).


@checks.public
def mechanize(
    base_optimizer: Union[base.GradientTransformation, base.GradientTransformationExtraArgs],
    weight_decay: jax.typing.ArrayLike = 1e-2,
    eps: jax.typing.ArrayLike = 1e-8,
    s_init: jax.typing.ArrayLike = 1e-6,
    num_betas: int = 6,
) -> base.GradientTransformationExtraArgs:
  r"""Wraps `base_optimizer` so that the scale of its accumulated updates is learned.

  The params are kept as :math:`\theta_t = x_0 - S_{t-1} \Delta_{t-1}`, with
  :math:`x_0` the params at the first update, :math:`\Delta` the (negated) sum
  of the base optimizer's updates and :math:`S = \sum_i s_i` the learned scale.
  With :math:`\beta_i = 1 - 10^{-i}`, `i = 1..n` (`n` = `num_betas`):

  .. math::
    \Delta_{t-1} = (x_0 - \theta_t) / (S_{t-1} + \epsilon), \quad
    \tilde g_t = g_t + w S_{t-1} \frac{\|g_t\|}{\|\theta_t\| + \epsilon} \theta_t, \quad
    h_t = \langle \tilde g_t, \Delta_{t-1} \rangle, \\
    m_{t,i} = \max(\beta_i m_{t-1,i}, |h_t| + \epsilon), \quad
    v_{t,i} = \beta_i^2 v_{t-1,i} + h_t^2, \quad
    r_{t,i} = \beta_i r_{t-1,i} + \mathrm{clip}(h_t, \pm m_{t-1,i})\, s_{t-1,i}, \\
    s_{t,i} = \frac{(s_{init} / n)\, m_{t,i} + \max(r_{t,i}, 0)}{\sqrt{v_{t,i}} + \epsilon}, \quad
    \theta_{t+1} = x_0 - S_t (\Delta_{t-1} - u^{base}_t),

  and the update returned is :math:`\theta_{t+1} - \theta_t`. The base
  optimizer sees the raw gradients `g_t`.
  Use a schedule in the base optimizer with peak 1; mechanic learns the scale.

  Cutkosky, Defazio & Mehta, 2023, "Mechanic: A Learning Rate Tuner"
  (https://arxiv.org/abs/2306.00144).

  Args:
    base_optimizer: the optimizer whose updates are scaled.
    weight_decay: mechanic's own weight decay (not the base optimizer's), >= 0.
    eps: stabilizes the divisions, >= 0.
    s_init: the initial scale of each bettor, > 0.
    num_betas: how many bettors, with betas `1 - 10^-i` (a positive integer).

  Returns:
    A `GradientTransformationExtraArgs` with state `MechanicState`; `update`
    needs `params`. Updates keep each param's dtype.

  Example:
    >>> import jax.numpy as jnp
    >>> import jopt
    >>> from jopt.contrib import mechanize
    >>> tx = mechanize(jopt.adam(1.0))
    >>> state = tx.init(jnp.ones(3))
  """
  fn = "mechanize"
  checks.check_nonnegative(fn, "weight_decay", weight_decay)
  checks.check_nonnegative(fn, "eps", eps)
  checks.check_range(fn, "s_init", s_init, 0.0, None, low_inclusive=False)
  checks.check_positive_int(fn, "num_betas", num_betas)
  base_optimizer = combine.with_extra_args_support(base_optimizer)
  betas_list = [1.0 - 0.1**i for i in range(1, num_betas + 1)]

  def init_fn(params):
    dtype = tree_ops.lowest_dtype(params)
    zeros = jnp.zeros([num_betas], dtype=dtype)
    return MechanicState(
        base_optimizer_state=base_optimizer.init(params),
        count=numerics.init_count(),
        r=zeros,
        m=zeros,
        v=zeros,
        s=jnp.ones([num_betas], dtype=dtype) * s_init,
        x0=params,
    )

  def update_fn(updates, state, params=None, **extra_args: Any):
    checks.require_params(fn, params)
    tm = numerics.tree_map
    base_updates, base_state = base_optimizer.update(
        updates, state.base_optimizer_state, params, **extra_args
    )
    first = state.count == 0
    x0 = tm(lambda p, x: jnp.where(first, p, x), params, state.x0)
    scale_sum = jnp.sum(state.s)
    decay = weight_decay * scale_sum * numerics.global_norm(updates) / (
        numerics.global_norm(params) + eps
    )
    grads = tm(lambda g, p: g + decay * p, updates, params)
    delta_prev = tm(lambda p, x: (x - p) / (scale_sum + eps), params, x0)
    h = tree_ops.vdot(grads, delta_prev)

    betas = jnp.array(betas_list, dtype=state.s.dtype)
    m = jnp.maximum(betas * state.m, jnp.abs(h) + eps)
    v = betas**2 * state.v + h**2
    r = betas * state.r + jnp.clip(h, -state.m, state.m) * state.s
    wealth = (s_init / num_betas) * m + jnp.maximum(0.0, r)
    s = wealth / (jnp.sqrt(v) + eps)

    new_scale = jnp.sum(s)
    new_updates = tm(
        lambda x, d, u, p: (x - new_scale * (d - u) - p).astype(p.dtype),
        x0, delta_prev, base_updates, params,
    )
    return new_updates, MechanicState(
        base_optimizer_state=base_state,
        count=numerics.safe_increment(state.count),
        r=r,
        m=m,
        v=v,
        s=s,
        x0=x0,
    )

  return base.GradientTransformationExtraArgs(init_fn, update_fn)
