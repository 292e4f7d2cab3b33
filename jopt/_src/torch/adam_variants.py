"""PyTorch's Adam-family scalings: Adam/AMSGrad with float64 bias corrections, jopt's Adamax, NAdam, RAdam."""

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src.torch import conventions as _common
from jopt._src.transforms import adam


class TorchScaleByAmsgradState(NamedTuple):
  """State of `scale_by_adam(amsgrad=True)` (PyTorch's AMSGrad)."""

  count: jax.Array  # shape=(), dtype=int32: updates so far.
  mu: base.Updates  # first moment (PyTorch's `exp_avg`), like params.
  nu: base.Updates  # second moment (`exp_avg_sq`), like params.
  nu_max: base.Updates  # running max of the *uncorrected* nu (`max_exp_avg_sq`), like params.


def _bias_correction(decay, count):
  """PyTorch's `1 - decay ** count`, evaluated in float64: `numerics.one_minus_pow` with a float64 log."""
  return numerics.one_minus_pow(numerics.log_of(decay), count)


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

  Without AMSGrad this is `jopt.scale_by_adam(beta1, beta2, eps)` up to the
  bias corrections: PyTorch evaluates `1 - beta^t` in float64, jopt (as optax)
  in float32, where `beta2 = 0.999` alone moves `1 - beta2` by 1.3e-5 relative
  (`Adam(lr=0.01)` on the README's y = 2x snippet: torch 0.901551, optax
  0.901546). Here `log(beta)` is taken in float64 at build time, which keeps
  PyTorch's value to float32 rounding. With AMSGrad, PyTorch keeps the maximum
  of the *uncorrected* `v_t` and bias-corrects it with the current step;
  `jopt.scale_by_amsgrad` (optax) keeps the maximum of the corrected
  `v_t / (1 - beta2^t)`, so the two differ whenever the maximum is an old
  value. Complex leaves are real views (`torch.view_as_real`). Kingma & Ba,
  2014 (https://arxiv.org/abs/1412.6980); Reddi et al., 2018, "On the
  Convergence of Adam and Beyond" (https://openreview.net/forum?id=ryQu7f-RZ).

  Args:
    betas: `(beta1, beta2)`, each in [0, 1).
    eps: added to the denominator after the bias correction, >= 0.
    amsgrad: use the running maximum of the second moment.

  Returns:
    A `GradientTransformation` with state `jopt.ScaleByAdamState` (`mu`, `nu`
    are PyTorch's `exp_avg`, `exp_avg_sq`), or `TorchScaleByAmsgradState`
    with AMSGrad.
  """
  fn = "scale_by_adam"
  b1, b2 = _common.check_betas(fn, betas)
  checks.check_nonnegative(fn, "eps", eps)

  def init_fn(params):
    count, mu, nu = numerics.init_count(), numerics.zeros_like(params), numerics.zeros_like(params)
    if amsgrad:
      return TorchScaleByAmsgradState(count, mu, nu, numerics.zeros_like(params))
    return adam.ScaleByAdamState(count, mu, nu)

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.mu, shapes=True)
    count = numerics.safe_increment(state.count)
    mu = numerics.update_moment(updates, state.mu, b1, 1)
    nu = numerics.update_moment(updates, state.nu, b2, 2)
    nu_max = numerics.tree_map(jnp.maximum, state.nu_max, nu) if amsgrad else nu
    bc1 = _bias_correction(b1, count)
    bc2_sqrt = jnp.sqrt(_bias_correction(b2, count))
    new_updates = numerics.tree_map(
        lambda g, m, v: ((m / bc1) / (jnp.sqrt(v) / bc2_sqrt + eps)).astype(g.dtype),
        updates, mu, nu_max)
    mu, nu = numerics.cast_like(mu, state.mu), numerics.cast_like(nu, state.nu)
    if amsgrad:
      return new_updates, TorchScaleByAmsgradState(
          count, mu, nu, numerics.cast_like(nu_max, state.nu_max))
    return new_updates, adam.ScaleByAdamState(count, mu, nu)

  return _common.view_as_real(base.GradientTransformation(init_fn, update_fn))


@checks.public
def scale_by_adamax(
    betas: Sequence[jax.typing.ArrayLike] = (0.9, 0.999),
    eps: jax.typing.ArrayLike = 1e-8,
) -> base.GradientTransformation:
  """PyTorch's Adamax scaling: `jopt.scale_by_adamax(beta1, beta2, eps)` on real views.

  .. math::
    m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t, \\quad
    n_t = \\max(\\beta_2 n_{t-1}, |g_t| + \\epsilon), \\quad
    u_t = \\frac{m_t}{(1-\\beta_1^t)\\, n_t}

  `eps` goes inside the running maximum, as in PyTorch and jopt (optax adds it
  to the denominator instead). The bias correction is jopt's float32
  `1 - beta1^t` (PyTorch: float64), 2.4e-7 relative off at `beta1 = 0.9`.
  Complex leaves are real views (`torch.view_as_real`: `|g|` of each part).
  Kingma & Ba, 2014, section 7.1
  (https://arxiv.org/abs/1412.6980); source: `torch.optim.Adamax`.

  Args:
    betas: `(beta1, beta2)`, each in [0, 1).
    eps: added to `|g|` inside the maximum, >= 0.

  Returns:
    A `GradientTransformation` with state `jopt.ScaleByAdamState` (`mu`, `nu`
    are PyTorch's `exp_avg`, `exp_inf`).
  """
  b1, b2 = _common.check_betas("scale_by_adamax", betas)
  return _common.view_as_real(adam.scale_by_adamax(b1, b2, eps))


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
  `beta1` powers. `0.96^(t psi)` and `1 - beta2^t` take their logs in float64
  (`numerics.power`, `scale_by_adam`). Complex leaves are real views
  (`torch.view_as_real`). Dozat,
  2016, "Incorporating Nesterov Momentum into Adam"
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

  def init_fn(params):
    return ScaleByNadamState(
        count=numerics.init_count(), mu_product=jnp.ones([], jnp.float32),
        exp_avg=numerics.zeros_like(params), exp_avg_sq=numerics.zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.exp_avg, shapes=True)
    count = numerics.safe_increment(state.count)
    t = jnp.asarray(count, jnp.float32)
    mu = b1 * (1.0 - 0.5 * numerics.power(0.96, t * momentum_decay))
    mu_next = b1 * (1.0 - 0.5 * numerics.power(0.96, (t + 1) * momentum_decay))
    mu_product = state.mu_product * mu
    coef_g = (1.0 - mu) / (1.0 - mu_product)
    coef_m = mu_next / (1.0 - mu_product * mu_next)
    bc2 = _bias_correction(b2, count)
    m = numerics.update_moment(updates, state.exp_avg, b1, 1)
    v = numerics.update_moment(updates, state.exp_avg_sq, b2, 2)

    def step(g, m, v):
      denom = jnp.sqrt(v / bc2) + eps
      return (coef_g * g / denom + coef_m * m / denom).astype(g.dtype)

    new_updates = numerics.tree_map(step, updates, m, v)
    m, v = numerics.cast_like(m, state.exp_avg), numerics.cast_like(v, state.exp_avg_sq)
    return new_updates, ScaleByNadamState(count, mu_product, m, v)

  return _common.view_as_real(base.GradientTransformation(init_fn, update_fn))


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

  Differs from `jopt.scale_by_radam(beta1, beta2, eps, threshold=5)`, which it
  shares `rho_t` and `r_t` with (`numerics.radam_rho`, `radam_rectifier`): `eps`
  is added to `sqrt(v_t)` *before* the bias correction, and `rho_t = 5` does not
  rectify. Bias corrections as in `scale_by_adam` (float64, as PyTorch).
  Complex leaves are real views (`torch.view_as_real`). Liu et al.,
  2020, "On the Variance of the Adaptive Learning Rate and Beyond"
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

  def init_fn(params):
    return ScaleByRadamState(
        count=numerics.init_count(), exp_avg=numerics.zeros_like(params), exp_avg_sq=numerics.zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.exp_avg, shapes=True)
    count = numerics.safe_increment(state.count)
    rho = numerics.radam_rho(b2, count)
    rectify = rho > 5.0
    rect = numerics.radam_rectifier(b2, jnp.where(rectify, rho, 5.0))
    bc1 = _bias_correction(b1, count)
    bc2_sqrt = jnp.sqrt(_bias_correction(b2, count))
    m = numerics.update_moment(updates, state.exp_avg, b1, 1)
    v = numerics.update_moment(updates, state.exp_avg_sq, b2, 2)

    def step(g, m, v):
      m_hat = m / bc1
      return jnp.where(rectify, m_hat * rect * (bc2_sqrt / (jnp.sqrt(v) + eps)), m_hat).astype(g.dtype)

    new_updates = numerics.tree_map(step, updates, m, v)
    m, v = numerics.cast_like(m, state.exp_avg), numerics.cast_like(v, state.exp_avg_sq)
    return new_updates, ScaleByRadamState(count, m, v)

  return _common.view_as_real(base.GradientTransformation(init_fn, update_fn))
