"""PyTorch's Adam-family scalings: Adam/AMSGrad, Adamax, NAdam (momentum_decay) and RAdam (threshold 5)."""

from typing import Any, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src.torch import conventions as _common


class ScaleByAdamState(NamedTuple):
  """State of `scale_by_adam` (PyTorch conventions)."""

  count: jax.Array  # shape=(), dtype=int32: updates so far.
  exp_avg: base.Updates  # first moment, like params.
  exp_avg_sq: base.Updates  # second moment, like params.
  max_exp_avg_sq: Optional[base.Updates]  # running max of exp_avg_sq (amsgrad), else None.


def _moments(g, m, v, b1, b2):
  return b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g


@checks.public
def scale_by_adam(
    betas: Sequence[jax.typing.ArrayLike] = (0.9, 0.999),
    eps: jax.typing.ArrayLike = 1e-8,
    amsgrad: bool = False,
) -> base.GradientTransformation:
  """PyTorch's Adam scaling, with PyTorch's AMSGrad.

  .. math::
    m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t, \\quad v_t = \\beta_2 v_{t-1} + (1-\\beta_2) g_t^2, \\quad
    \\hat v_t = \\max(\\hat v_{t-1}, v_t) \\ (\\text{amsgrad, else } v_t), \\\\
    u_t = \\frac{m_t / (1-\\beta_1^t)}{\\sqrt{\\hat v_t} / \\sqrt{1-\\beta_2^t} + \\epsilon}

  Without AMSGrad this is `jopt.scale_by_adam(b1, b2, eps)`. With AMSGrad,
  PyTorch keeps the maximum of the *uncorrected* `v_t` and bias-corrects it with
  the current step; `optax.scale_by_amsgrad` keeps the maximum of the corrected
  `v_t / (1 - b2^t)`, so the two differ whenever the maximum is an old value.
  `1 - beta^t` is evaluated with `log(beta)` taken in float64 at build time, as
  PyTorch evaluates it in float64. Kingma & Ba, 2014 (https://arxiv.org/abs/1412.6980);
  Reddi et al., 2018, "On the Convergence of Adam and Beyond"
  (https://openreview.net/forum?id=ryQu7f-RZ).

  Args:
    betas: `(beta1, beta2)`, each in [0, 1).
    eps: added to the denominator after the bias correction, >= 0.
    amsgrad: use the running maximum of the second moment.

  Returns:
    A `GradientTransformation` with state `ScaleByAdamState`.
  """
  fn = "scale_by_adam"
  b1, b2 = _common.check_betas(fn, betas)
  checks.check_nonnegative(fn, "eps", eps)
  log_b1, log_b2 = numerics.log_of(b1), numerics.log_of(b2)

  def init_fn(params):
    return ScaleByAdamState(
        count=numerics.init_count(), exp_avg=numerics.zeros_like(params),
        exp_avg_sq=numerics.zeros_like(params),
        max_exp_avg_sq=numerics.zeros_like(params) if amsgrad else None,
    )

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.exp_avg)
    count = numerics.safe_increment(state.count)
    bc1 = numerics.one_minus_pow(log_b1, count)
    bc2_sqrt = jnp.sqrt(numerics.one_minus_pow(log_b2, count))

    def step(m, v):
      return (m / bc1) / (jnp.sqrt(v) / bc2_sqrt + eps)

    if amsgrad:
      def leaf(g, m, v, vmax):
        m, v = _moments(g, m, v, b1, b2)
        vmax = jnp.maximum(vmax, v)
        return step(m, vmax), m, v, vmax

      updates, m, v, vmax = _common.leafwise(
          leaf, updates, state.exp_avg, state.exp_avg_sq, state.max_exp_avg_sq)
    else:
      def leaf(g, m, v):
        m, v = _moments(g, m, v, b1, b2)
        return step(m, v), m, v

      updates, m, v = _common.leafwise(leaf, updates, state.exp_avg, state.exp_avg_sq)
      vmax = None
    return updates, ScaleByAdamState(count, m, v, vmax)

  return base.GradientTransformation(init_fn, update_fn)


class ScaleByAdamaxState(NamedTuple):
  """State of `scale_by_adamax`."""

  count: jax.Array  # shape=(), dtype=int32: updates so far.
  exp_avg: base.Updates  # first moment, like params.
  exp_inf: base.Updates  # exponentially weighted infinity norm, like params.


@checks.public
def scale_by_adamax(
    betas: Sequence[jax.typing.ArrayLike] = (0.9, 0.999),
    eps: jax.typing.ArrayLike = 1e-8,
) -> base.GradientTransformation:
  """PyTorch's Adamax scaling: `eps` inside the running maximum.

  .. math::
    m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t, \\quad
    n_t = \\max(\\beta_2 n_{t-1}, |g_t| + \\epsilon), \\quad
    u_t = \\frac{m_t}{(1-\\beta_1^t)\\, n_t}

  Differs from `optax.scale_by_adamax`, which keeps `max(b2 n, |g|)` and adds
  `eps` to the denominator. Kingma & Ba, 2014, section 7.1
  (https://arxiv.org/abs/1412.6980); source: `torch.optim.Adamax`.

  Args:
    betas: `(beta1, beta2)`, each in [0, 1).
    eps: added to `|g|` inside the maximum, >= 0.

  Returns:
    A `GradientTransformation` with state `ScaleByAdamaxState`.
  """
  fn = "scale_by_adamax"
  b1, b2 = _common.check_betas(fn, betas)
  checks.check_nonnegative(fn, "eps", eps)
  log_b1 = numerics.log_of(b1)

  def init_fn(params):
    return ScaleByAdamaxState(
        count=numerics.init_count(), exp_avg=numerics.zeros_like(params), exp_inf=numerics.zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.exp_avg)
    count = numerics.safe_increment(state.count)
    bc1 = numerics.one_minus_pow(log_b1, count)

    def leaf(g, m, n):
      m = b1 * m + (1 - b1) * g
      n = jnp.maximum(b2 * n, jnp.abs(g) + eps)
      return m / n / bc1, m, n

    updates, m, n = _common.leafwise(leaf, updates, state.exp_avg, state.exp_inf)
    return updates, ScaleByAdamaxState(count, m, n)

  return base.GradientTransformation(init_fn, update_fn)


class ScaleByNadamState(NamedTuple):
  """State of `scale_by_nadam`."""

  count: jax.Array  # shape=(), dtype=int32: updates so far.
  mu_product: jax.Array  # shape=(), dtype=float32: prod_{i<=t} mu_i, as PyTorch stores it.
  exp_avg: base.Updates  # first moment, like params.
  exp_avg_sq: base.Updates  # second moment, like params.


@checks.public
def scale_by_nadam(
    betas: Sequence[jax.typing.ArrayLike] = (0.9, 0.999),
    eps: jax.typing.ArrayLike = 1e-8,
    momentum_decay: jax.typing.ArrayLike = 4e-3,
) -> base.GradientTransformation:
  """PyTorch's NAdam scaling, with Dozat's momentum schedule `mu_t`.

  .. math::
    \\mu_t = \\beta_1 (1 - \\tfrac12\\, 0.96^{t\\, \\psi}), \\quad
    m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t, \\quad v_t = \\beta_2 v_{t-1} + (1-\\beta_2) g_t^2, \\\\
    u_t = \\frac{1}{\\sqrt{v_t / (1-\\beta_2^t)} + \\epsilon}
    \\left(\\frac{1-\\mu_t}{1-\\prod_{i\\le t}\\mu_i} g_t
    + \\frac{\\mu_{t+1}}{1-\\prod_{i\\le t+1}\\mu_i} m_t\\right)

  with `psi = momentum_decay`. Differs from `optax.nadam` (= `jopt.adam(...,
  nesterov=True)`), which has no momentum schedule and bias-corrects with
  `beta1` powers. Dozat, 2016, "Incorporating Nesterov Momentum into Adam"
  (https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ); source: `torch.optim.NAdam`.

  Args:
    betas: `(beta1, beta2)`, each in [0, 1).
    eps: added to the denominator after the bias correction, >= 0.
    momentum_decay: psi, >= 0.

  Returns:
    A `GradientTransformation` with state `ScaleByNadamState`.
  """
  fn = "scale_by_nadam"
  b1, b2 = _common.check_betas(fn, betas)
  checks.check_nonnegative(fn, "eps", eps)
  checks.check_nonnegative(fn, "momentum_decay", momentum_decay)
  log_b2 = numerics.log_of(b2)
  log_096 = numerics.log_of(0.96)

  def init_fn(params):
    return ScaleByNadamState(
        count=numerics.init_count(), mu_product=jnp.ones([], jnp.float32),
        exp_avg=numerics.zeros_like(params), exp_avg_sq=numerics.zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.exp_avg)
    count = numerics.safe_increment(state.count)
    t = jnp.asarray(count, jnp.float32)
    mu = b1 * (1.0 - 0.5 * jnp.exp(t * momentum_decay * log_096))
    mu_next = b1 * (1.0 - 0.5 * jnp.exp((t + 1) * momentum_decay * log_096))
    mu_product = state.mu_product * mu
    coef_g = (1.0 - mu) / (1.0 - mu_product)
    coef_m = mu_next / (1.0 - mu_product * mu_next)
    bc2 = numerics.one_minus_pow(log_b2, count)

    def leaf(g, m, v):
      m, v = _moments(g, m, v, b1, b2)
      denom = jnp.sqrt(v / bc2) + eps
      return coef_g * g / denom + coef_m * m / denom, m, v

    updates, m, v = _common.leafwise(leaf, updates, state.exp_avg, state.exp_avg_sq)
    return updates, ScaleByNadamState(count, mu_product, m, v)

  return base.GradientTransformation(init_fn, update_fn)


class ScaleByRadamState(NamedTuple):
  """State of `scale_by_radam`."""

  count: jax.Array  # shape=(), dtype=int32: updates so far.
  exp_avg: base.Updates  # first moment, like params.
  exp_avg_sq: base.Updates  # second moment, like params.


@checks.public
def scale_by_radam(
    betas: Sequence[jax.typing.ArrayLike] = (0.9, 0.999),
    eps: jax.typing.ArrayLike = 1e-8,
) -> base.GradientTransformation:
  """PyTorch's RAdam scaling: rectified Adam once `rho_t > 5`, bias-corrected momentum before.

  .. math::
    \\rho_\\infty = \\frac{2}{1-\\beta_2} - 1, \\quad
    \\rho_t = \\rho_\\infty - \\frac{2 t \\beta_2^t}{1-\\beta_2^t}, \\quad
    r_t = \\sqrt{\\frac{(\\rho_t-4)(\\rho_t-2)\\rho_\\infty}{(\\rho_\\infty-4)(\\rho_\\infty-2)\\rho_t}}, \\\\
    u_t = \\frac{m_t}{1-\\beta_1^t} \\cdot
    \\begin{cases} r_t \\sqrt{1-\\beta_2^t} / (\\sqrt{v_t} + \\epsilon) & \\rho_t > 5 \\\\ 1 & \\text{else} \\end{cases}

  Note `eps` is added to `sqrt(v_t)` *before* the bias correction (optax adds
  it after). `rho_t` is computed without cancellation (see `radam_rho`), and
  the `beta2`-only factors in float64 at build time, as PyTorch does. Liu et
  al., 2020, "On the Variance of the Adaptive Learning Rate and Beyond"
  (https://arxiv.org/abs/1908.03265); source: `torch.optim.RAdam`.

  Args:
    betas: `(beta1, beta2)`, each in [0, 1).
    eps: added to `sqrt(v)`, >= 0.

  Returns:
    A `GradientTransformation` with state `ScaleByRadamState`.
  """
  fn = "scale_by_radam"
  b1, b2 = _common.check_betas(fn, betas)
  checks.check_nonnegative(fn, "eps", eps)
  log_b1, log_b2 = numerics.log_of(b1), numerics.log_of(b2)
  if checks.concrete_value(b2) is not None:
    rho_inf = 2 / (1 - float(b2)) - 1
    inf_factor = rho_inf / ((rho_inf - 4) * (rho_inf - 2)) if rho_inf > 4 else 0.0
  else:
    rho_inf = 2 / (1 - b2) - 1
    inf_factor = rho_inf / ((rho_inf - 4) * (rho_inf - 2))

  def init_fn(params):
    return ScaleByRadamState(
        count=numerics.init_count(), exp_avg=numerics.zeros_like(params), exp_avg_sq=numerics.zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.exp_avg)
    count = numerics.safe_increment(state.count)
    t = jnp.asarray(count, jnp.float32)
    bc1 = numerics.one_minus_pow(log_b1, count)
    bc2_sqrt = jnp.sqrt(numerics.one_minus_pow(log_b2, count))
    rho = numerics.radam_rho(b2, t)
    rectify = rho > 5.0
    rho_safe = jnp.where(rectify, rho, 5.0)
    rect = jnp.sqrt((rho_safe - 4) * (rho_safe - 2) / rho_safe * inf_factor)

    def leaf(g, m, v):
      m, v = _moments(g, m, v, b1, b2)
      m_hat = m / bc1
      adaptive = m_hat * rect * (bc2_sqrt / (jnp.sqrt(v) + eps))
      return jnp.where(rectify, adaptive, m_hat), m, v

    updates, m, v = _common.leafwise(leaf, updates, state.exp_avg, state.exp_avg_sq)
    return updates, ScaleByRadamState(count, m, v)

  return base.GradientTransformation(init_fn, update_fn)
