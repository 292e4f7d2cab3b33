"""Adam's relatives: `scale_by_adamax`, `scale_by_amsgrad`, `scale_by_radam`, `scale_by_belief`, `scale_by_yogi`."""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jopt._src import adam
from jopt._src import base
from jopt._src import checks
from jopt._src import tree


def _first_moment_hat(mu: Any, updates: Any, b1: Any, count: jax.Array, nesterov: bool) -> Any:
  """Bias-corrected first moment; with `nesterov`, NAdam's look-ahead form.

  Nesterov (Dozat 2016): `b1 * m_t / (1 - b1^(t+1)) + (1 - b1) * g_t / (1 - b1^t)`.
  """
  if not nesterov:
    return tree.bias_correction(mu, b1, count)
  return tree.tree_map(
      lambda m, g: b1 * m + (1 - b1) * g,
      tree.bias_correction(mu, b1, tree.safe_increment(count)),
      tree.bias_correction(updates, b1, count),
  )


def _adam_direction(mu_hat: Any, nu_hat: Any, updates: Any, eps: Any, eps_root: Any) -> Any:
  """`m / (sqrt(v + eps_root) + eps)`, cast to each update's dtype."""
  return tree.tree_map(
      lambda g, m, v: (m / (jnp.sqrt(v + eps_root) + eps)).astype(g.dtype),
      updates, mu_hat, nu_hat,
  )


# --- Adamax -------------------------------------------------------------------


def scale_by_adamax(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
) -> base.GradientTransformation:
  """Rescales updates by Adamax's bias-corrected mean over an exponentially weighted infinity norm.

  .. math::
    m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t, \\quad
    u_t^{\\max} = \\max(|g_t| + \\epsilon,\\ \\beta_2 u_{t-1}^{\\max}), \\quad
    u_t = \\frac{m_t / (1-\\beta_1^t)}{u_t^{\\max}}

  Kingma & Ba, 2014, "Adam: A Method for Stochastic Optimization", section 7.1
  (https://arxiv.org/abs/1412.6980).

  Args:
    b1: decay of the first moment, in [0, 1).
    b2: decay of the infinity norm, in [0, 1).
    eps: added to `|g|` before the maximum, >= 0.

  Returns:
    A `GradientTransformation` with state `ScaleByAdamState` (`nu` holds the
    infinity norm, real for complex params).
  """
  fn = "scale_by_adamax"
  checks.check_decay(fn, "b1", b1)
  checks.check_decay(fn, "b2", b2)
  checks.check_nonnegative(fn, "eps", eps)

  def init_fn(params):
    return adam.ScaleByAdamState(
        count=tree.init_count(),
        mu=tree.zeros_like(params),
        nu=tree.real_full_like(params, 0),
    )

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.mu)
    count = tree.safe_increment(state.count)
    mu = tree.update_moment(updates, state.mu, b1, 1)
    nu = tree.tree_map(lambda g, u: jnp.maximum(jnp.abs(g) + eps, b2 * u), updates, state.nu)
    mu_hat = tree.bias_correction(mu, b1, count)
    new_updates = tree.tree_map(lambda g, m, u: (m / u).astype(g.dtype), updates, mu_hat, nu)
    mu = tree.cast_like(mu, state.mu)
    nu = tree.cast_like(nu, state.nu)
    return new_updates, adam.ScaleByAdamState(count=count, mu=mu, nu=nu)

  return base.GradientTransformation(init_fn, update_fn)


# --- AMSGrad ------------------------------------------------------------------


class ScaleByAmsgradState(NamedTuple):
  """State of `scale_by_amsgrad`."""

  count: jax.Array  # shape=(), dtype=int32.
  mu: base.Updates  # first moment, like params (dtype: mu_dtype or the param's).
  nu: base.Updates  # second moment, like params (dtype: nu_dtype or the param's, real).
  nu_max: base.Updates  # running maximum of the (corrected) nu, dtype as nu.


def scale_by_amsgrad(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Optional[Any] = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
    *,
    nu_dtype: Optional[Any] = None,
) -> base.GradientTransformation:
  """Rescales updates by AMSGrad: Adam with the running maximum of the second moment.

  .. math::
    m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t, \\quad
    v_t = \\beta_2 v_{t-1} + (1-\\beta_2) |g_t|^2, \\\\
    \\hat v^{\\max}_t = \\max(\\hat v^{\\max}_{t-1}, \\hat v_t), \\quad
    u_t = \\hat m_t / (\\sqrt{\\hat v^{\\max}_t + \\epsilon_{root}} + \\epsilon)

  where :math:`\\hat m_t = m_t / (1-\\beta_1^t)` if `bias_correction_mu` (else
  :math:`m_t`) and :math:`\\hat v_t = v_t / (1-\\beta_2^t)` if
  `bias_correction_nu` (else :math:`v_t`; both False is the paper's
  algorithm). Reddi, Kale & Kumar, 2018, "On the Convergence of Adam and
  Beyond" (https://openreview.net/forum?id=ryQu7f-RZ).

  Args:
    b1: decay of the first moment, in [0, 1).
    b2: decay of the second moment, in [0, 1).
    eps: added to the denominator outside the square root, >= 0.
    eps_root: added inside the square root, >= 0.
    mu_dtype: dtype of the first moment (default: the param's).
    bias_correction_mu: bias-correct the first moment.
    bias_correction_nu: bias-correct the second moment before the maximum.
    nu_dtype: dtype of `nu` and `nu_max` (default: the param's real dtype).
      jopt extension.

  Returns:
    A `GradientTransformation` with state `ScaleByAmsgradState`.
  """
  fn = "scale_by_amsgrad"
  adam.check_adam_args(fn, b1, b2, eps, eps_root)
  mu_dtype = tree.canonicalize_dtype(mu_dtype)
  nu_dtype = tree.canonicalize_dtype(nu_dtype)

  def init_fn(params):
    return ScaleByAmsgradState(
        count=tree.init_count(),
        mu=tree.zeros_like(params, dtype=mu_dtype),
        nu=adam.init_second_moment(params, nu_dtype),
        nu_max=adam.init_second_moment(params, nu_dtype),
    )

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.mu)
    mu = tree.update_moment(updates, state.mu, b1, 1)
    nu = tree.update_moment_per_elem_norm(updates, state.nu, b2, 2)
    count = tree.safe_increment(state.count)
    mu_hat = tree.bias_correction(mu, b1, count) if bias_correction_mu else mu
    nu_eff = tree.bias_correction(nu, b2, count) if bias_correction_nu else nu
    nu_max = tree.tree_map(jnp.maximum, state.nu_max, nu_eff)
    new_updates = _adam_direction(mu_hat, nu_max, updates, eps, eps_root)
    return new_updates, ScaleByAmsgradState(
        count=count,
        mu=tree.cast_like(mu, state.mu),
        nu=tree.cast_like(nu, state.nu),
        nu_max=tree.cast_like(nu_max, state.nu_max),
    )

  return base.GradientTransformation(init_fn, update_fn)


# --- RAdam --------------------------------------------------------------------

# B_2k / (2k)! for k = 1..5: the Taylor coefficients of y / (e^y - 1) beyond 1 - y/2.
_BERNOULLI_TAYLOR = (1 / 12, -1 / 720, 1 / 30240, -1 / 1209600, 1 / 47900160)


def _neg_log(b: Any) -> jax.Array:
  """`-log(b)` in float32; computed in float64 when `b` is known at build time."""
  known = checks.concrete_value(b)
  if known is not None and known.dtype != object:
    with np.errstate(divide="ignore"):
      return jnp.asarray(-np.log(np.float64(known)), jnp.float32)
  return -jnp.log(jnp.asarray(b, jnp.float32))


def radam_rho(b2: Any, count: jax.Array) -> jax.Array:
  """RAdam's length of the approximated SMA, `rho_t = rho_inf - 2 t b2^t / (1 - b2^t)`.

  Written directly this is a difference of two numbers near
  `rho_inf = 2 / (1 - b2) - 1` (about 2000 for `b2 = 0.999`), which loses ~0.5%
  in float32 for small `t` (optax computes it so). With `L = -log(b2)`,
  `x = t L` and `f(y) = y / (e^y - 1)` the same value is

    rho_t = 1 + 2 (f(L) - f(x)) / L,

  and for `x <= 1` the difference is expanded in `f`'s Taylor series
  (Bernoulli numbers; truncation error < 1e-11 relative), leaving no
  cancellation; for `x > 1`, `f(L) - f(x) > 0.4` and the direct form is exact
  to rounding. `b2 = 0` gives `rho_t = 1`.

  Args:
    b2: the second-moment decay in [0, 1).
    count: the step `t >= 1`.

  Returns:
    `rho_t` as a float32 scalar.
  """
  lam = _neg_log(b2)
  t = jnp.asarray(count, jnp.float32)
  x = t * lam
  # Series branch: (f(L) - f(x)) / L = (t - 1) / 2 + sum_k c_k (L^(2k-1) - t x^(2k-1)).
  lam_s = jnp.minimum(lam, 1.0)
  x_s = jnp.minimum(x, 1.0)
  series = (t - 1) / 2
  for k, c in enumerate(_BERNOULLI_TAYLOR, start=1):
    series = series + c * (lam_s ** (2 * k - 1) - t * x_s ** (2 * k - 1))

  def f(y):
    big = y > 80.0  # y / (e^y - 1) < 1e-33: zero in float32, and y may be inf.
    y_safe = jnp.where(big, 1.0, jnp.maximum(y, 1e-30))
    return jnp.where(big, 0.0, jnp.where(y > 0, y_safe / jnp.expm1(y_safe), 1.0))

  direct = (f(lam) - f(x)) / lam
  mean_lag = jnp.where(x <= 1.0, series, direct)
  return 1.0 + 2.0 * mean_lag


def scale_by_radam(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    threshold: jax.typing.ArrayLike = 5.0,
    *,
    nesterov: bool = False,
    mu_dtype: Optional[Any] = None,
    nu_dtype: Optional[Any] = None,
) -> base.GradientTransformation:
  """Rescales updates by Rectified Adam: Adam once the variance of its step size is tractable.

  .. math::
    \\rho_\\infty = \\frac{2}{1-\\beta_2} - 1, \\quad
    \\rho_t = \\rho_\\infty - \\frac{2 t \\beta_2^t}{1-\\beta_2^t}, \\quad
    r_t = \\sqrt{\\frac{(\\rho_t-4)(\\rho_t-2)\\rho_\\infty}{(\\rho_\\infty-4)(\\rho_\\infty-2)\\rho_t}}, \\\\
    u_t = r_t\\, \\hat m_t / (\\sqrt{\\hat v_t + \\epsilon_{root}} + \\epsilon)
    \\ \\text{ if } \\rho_t \\ge \\text{threshold}, \\ \\text{else } u_t = \\hat m_t

  with Adam's moments (`scale_by_adam`; `nesterov` uses NAdam's first moment).
  Liu et al., 2020, "On the Variance of the Adaptive Learning Rate and Beyond"
  (https://arxiv.org/abs/1908.03265).

  Differs from optax: :math:`\\rho_t` is computed without cancellation (see
  `radam_rho`); optax's float32 difference is off by 0.2-0.7% in the first
  steps after the threshold for `b2 = 0.999`, so the rectified updates differ
  from optax's by up to ~1% there (and agree with optax run in float64).
  `threshold` below 4 raises: :math:`r_t` is the root of a negative number for
  :math:`2 < \\rho_t < 4`.

  Args:
    b1: decay of the first moment, in [0, 1).
    b2: decay of the second moment, in [0, 1).
    eps: added to the denominator outside the square root, >= 0.
    eps_root: added inside the square root, >= 0.
    threshold: rectify once :math:`\\rho_t` reaches it, >= 4.
    nesterov: use NAdam's first moment.
    mu_dtype: dtype of the first moment (default: the param's). jopt extension.
    nu_dtype: dtype of the second moment (default: the param's real dtype).
      jopt extension.

  Returns:
    A `GradientTransformation` with state `ScaleByAdamState`.
  """
  fn = "scale_by_radam"
  adam.check_adam_args(fn, b1, b2, eps, eps_root)
  checks.check_range(fn, "threshold", threshold, 4.0, None)
  mu_dtype = tree.canonicalize_dtype(mu_dtype)
  nu_dtype = tree.canonicalize_dtype(nu_dtype)
  rho_inf = 2.0 / (1.0 - b2) - 1.0

  def init_fn(params):
    return adam.ScaleByAdamState(
        count=tree.init_count(),
        mu=tree.zeros_like(params, dtype=mu_dtype),
        nu=adam.init_second_moment(params, nu_dtype),
    )

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.mu)
    mu = tree.update_moment(updates, state.mu, b1, 1)
    nu = tree.update_moment_per_elem_norm(updates, state.nu, b2, 2)
    count = tree.safe_increment(state.count)
    rho = radam_rho(b2, count)
    rectify = rho >= threshold
    # Outside the rectified regime rho may be < 4: keep the root's argument >= 0.
    rho_r = jnp.where(rectify, rho, rho_inf)
    r = jnp.sqrt(
        (rho_r - 4.0) * (rho_r - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_r)
    )
    mu_hat = _first_moment_hat(mu, updates, b1, count, nesterov)
    nu_hat = tree.bias_correction(nu, b2, count)
    new_updates = tree.tree_map(
        lambda g, m, v: jnp.where(
            rectify, r.astype(m.dtype) * m / (jnp.sqrt(v + eps_root) + eps), m
        ).astype(g.dtype),
        updates, mu_hat, nu_hat,
    )
    mu = tree.cast_like(mu, state.mu)
    nu = tree.cast_like(nu, state.nu)
    return new_updates, adam.ScaleByAdamState(count=count, mu=mu, nu=nu)

  return base.GradientTransformation(init_fn, update_fn)


# --- AdaBelief ----------------------------------------------------------------


class ScaleByBeliefState(NamedTuple):
  """State of `scale_by_belief`."""

  count: jax.Array  # shape=(), dtype=int32.
  mu: base.Updates  # first moment, like params (dtype: mu_dtype or the param's).
  nu: base.Updates  # EMA of |g - m|^2 + eps_root, like params (dtype: nu_dtype or the param's, real).


def scale_by_belief(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-16,
    eps_root: jax.typing.ArrayLike = 1e-16,
    *,
    nesterov: bool = False,
    mu_dtype: Optional[Any] = None,
    nu_dtype: Optional[Any] = None,
) -> base.GradientTransformation:
  """Rescales updates by AdaBelief: Adam with the variance of the gradient around its mean.

  .. math::
    m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t, \\quad
    s_t = \\beta_2 s_{t-1} + (1-\\beta_2) |g_t - m_t|^2 + \\epsilon_{root}, \\\\
    u_t = \\hat m_t / (\\sqrt{s_t / (1-\\beta_2^t)} + \\epsilon)

  :math:`\\epsilon_{root}` is added into the stored :math:`s_t` at every step,
  as in the paper's algorithm and optax. Zhuang et al., 2020, "AdaBelief
  Optimizer: Adapting Stepsizes by the Belief in Observed Gradients"
  (https://arxiv.org/abs/2010.07468).

  Args:
    b1: decay of the first moment, in [0, 1).
    b2: decay of the second central moment, in [0, 1).
    eps: added to the denominator outside the square root, >= 0.
    eps_root: added to the second central moment every step, >= 0.
    nesterov: use NAdam's first moment.
    mu_dtype: dtype of the first moment (default: the param's). jopt extension.
    nu_dtype: dtype of the second moment (default: the param's real dtype).
      jopt extension.

  Returns:
    A `GradientTransformation` with state `ScaleByBeliefState`.
  """
  fn = "scale_by_belief"
  adam.check_adam_args(fn, b1, b2, eps, eps_root)
  mu_dtype = tree.canonicalize_dtype(mu_dtype)
  nu_dtype = tree.canonicalize_dtype(nu_dtype)

  def init_fn(params):
    return ScaleByBeliefState(
        count=tree.init_count(),
        mu=tree.zeros_like(params, dtype=mu_dtype),
        nu=adam.init_second_moment(params, nu_dtype),
    )

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.mu)
    mu = tree.update_moment(updates, state.mu, b1, 1)
    prediction_error = tree.tree_map(lambda g, m: g - m, updates, mu)
    nu = tree.update_moment_per_elem_norm(prediction_error, state.nu, b2, 2)
    nu = tree.tree_map(lambda v: v + eps_root, nu)
    count = tree.safe_increment(state.count)
    mu_hat = _first_moment_hat(mu, updates, b1, count, nesterov)
    nu_hat = tree.bias_correction(nu, b2, count)
    new_updates = _adam_direction(mu_hat, nu_hat, updates, eps, 0.0)
    mu = tree.cast_like(mu, state.mu)
    nu = tree.cast_like(nu, state.nu)
    return new_updates, ScaleByBeliefState(count=count, mu=mu, nu=nu)

  return base.GradientTransformation(init_fn, update_fn)


# --- Yogi ---------------------------------------------------------------------


def scale_by_yogi(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-3,
    eps_root: jax.typing.ArrayLike = 0.0,
    initial_accumulator_value: jax.typing.ArrayLike = 1e-6,
) -> base.GradientTransformation:
  """Rescales updates by Yogi: Adam whose second moment moves additively towards `|g|^2`.

  .. math::
    m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t, \\quad
    v_t = v_{t-1} - (1-\\beta_2)\\, \\mathrm{sign}(v_{t-1} - |g_t|^2)\\, |g_t|^2, \\\\
    u_t = \\hat m_t / (\\sqrt{\\hat v_t + \\epsilon_{root}} + \\epsilon)

  with both moments starting at `initial_accumulator_value` (not 0, as in the
  paper and optax) and hats the usual bias corrections. Zaheer et al., 2018,
  "Adaptive Methods for Nonconvex Optimization"
  (https://papers.nips.cc/paper/8186-adaptive-methods-for-nonconvex-optimization.pdf).

  Args:
    b1: decay of the first moment, in [0, 1).
    b2: rate of the second moment's additive update, in [0, 1).
    eps: added to the denominator outside the square root, >= 0.
    eps_root: added inside the square root, >= 0.
    initial_accumulator_value: the starting value of both moments, >= 0.

  Returns:
    A `GradientTransformation` with state `ScaleByAdamState`.
  """
  fn = "scale_by_yogi"
  adam.check_adam_args(fn, b1, b2, eps, eps_root)
  checks.check_nonnegative(fn, "initial_accumulator_value", initial_accumulator_value)

  def init_fn(params):
    return adam.ScaleByAdamState(
        count=tree.init_count(),
        mu=tree.full_like(params, initial_accumulator_value),
        nu=tree.real_full_like(params, initial_accumulator_value),
    )

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.mu)
    mu = tree.update_moment(updates, state.mu, b1, 1)
    nu = tree.tree_map(
        lambda g, v: v - (1 - b2) * jnp.sign(v - tree.abs_sq(g)) * tree.abs_sq(g),
        updates, state.nu,
    )
    count = tree.safe_increment(state.count)
    mu_hat = tree.bias_correction(mu, b1, count)
    nu_hat = tree.bias_correction(nu, b2, count)
    new_updates = _adam_direction(mu_hat, nu_hat, updates, eps, eps_root)
    mu = tree.cast_like(mu, state.mu)
    nu = tree.cast_like(nu, state.nu)
    return new_updates, adam.ScaleByAdamState(count=count, mu=mu, nu=nu)

  return base.GradientTransformation(init_fn, update_fn)
