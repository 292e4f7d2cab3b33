"""The Adam family's scalings: `scale_by_adam` and its relatives `scale_by_adamax`, `scale_by_amsgrad`,
`scale_by_radam`, `scale_by_belief`, `scale_by_yogi`."""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics


class ScaleByAdamState(NamedTuple):
  """State of `scale_by_adam`."""

  count: jax.Array  # shape=(), dtype=int32.
  mu: base.Updates  # first moment, like params (dtype: mu_dtype or the param's).
  nu: base.Updates  # second moment, like params (dtype: nu_dtype or the param's, real).


def check_adam_args(fn: str, b1: Any, b2: Any, eps: Any, eps_root: Any) -> None:
  """The checks shared by every Adam-family transform."""
  checks.check_decay(fn, "b1", b1)
  checks.check_decay(fn, "b2", b2)
  checks.check_nonnegative(fn, "eps", eps)
  checks.check_nonnegative(fn, "eps_root", eps_root)


def init_second_moment(params: Any, dtype: Optional[jnp.dtype]) -> Any:
  """Zeros for a second moment: real even for complex params (it stores |g|^2)."""

  def zeros(p):  # `zeros_like`: the moment keeps the param's sharding, as the first moment does
    if dtype is not None:
      return jnp.zeros_like(p, dtype=dtype)
    return jnp.zeros_like(p, dtype=jnp.real(jnp.zeros((), jnp.result_type(p))).dtype)

  return jax.tree.map(zeros, params)


@checks.public
def scale_by_adam(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = False,
    nu_dtype: Optional[Any] = None,
) -> base.GradientTransformation:
  """Rescales updates by Adam's bias-corrected moment estimates.

  .. math::
    m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t, \\quad
    v_t = \\beta_2 v_{t-1} + (1-\\beta_2) |g_t|^2, \\\\
    \\hat m_t = m_t / (1-\\beta_1^t), \\quad \\hat v_t = v_t / (1-\\beta_2^t), \\quad
    u_t = \\hat m_t / (\\sqrt{\\hat v_t + \\epsilon_{root}} + \\epsilon).

  With `nesterov=True` (NAdam, Dozat 2016),
  :math:`\\hat m_t = \\beta_1 m_t / (1-\\beta_1^{t+1}) + (1-\\beta_1) g_t / (1-\\beta_1^t)`.

  Kingma & Ba, 2014, "Adam: A Method for Stochastic Optimization"
  (https://arxiv.org/abs/1412.6980).

  Bias correction is computed as `-expm1(t * log(b))`, exact in float32 where
  optax's `1 - b**t` is up to ~7e-5 relative off for `b` near 1.

  Args:
    b1: decay of the first moment, in [0, 1).
    b2: decay of the second moment, in [0, 1).
    eps: added to the denominator outside the square root, >= 0.
    eps_root: added inside the square root, >= 0 (set it > 0 to differentiate
      through the optimizer: the gradient of sqrt at 0 is infinite).
    mu_dtype: dtype of the first moment (default: the param's).
    nesterov: use Nesterov momentum (NAdam).
    nu_dtype: dtype of the second moment (default: the param's real dtype).
      jopt extension: `mu_dtype=nu_dtype=jnp.bfloat16` halves the state of f32 params.

  Returns:
    A `GradientTransformation` with state `ScaleByAdamState`. Updates keep each
    param's dtype. `init` raises a `ValueError` when `eps` and `eps_root` both
    round to 0 in the moments' dtype (`eps=1e-8` in float16, where a zero
    gradient would give 0/0 = NaN): pass e.g. `eps=1e-4` for float16 moments,
    or keep them in float32 (`mu_dtype`/`nu_dtype`).
  """
  check_adam_args("scale_by_adam", b1, b2, eps, eps_root)
  mu_dtype = numerics.canonicalize_dtype(mu_dtype)
  nu_dtype = numerics.canonicalize_dtype(nu_dtype)

  def init_fn(params):
    state = ScaleByAdamState(
        count=numerics.init_count(),
        mu=numerics.zeros_like(params, dtype=mu_dtype),
        nu=init_second_moment(params, nu_dtype),
    )
    checks.check_representable(
        "scale_by_adam", {"eps": eps, "eps_root": eps_root}, state.mu, state.nu)
    return state

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure("scale_by_adam", updates, state.mu, shapes=True)
    mu = numerics.update_moment(updates, state.mu, b1, 1)
    nu = numerics.update_moment_per_elem_norm(updates, state.nu, b2, 2)
    count = numerics.safe_increment(state.count)
    if nesterov:
      mu_hat = numerics.tree_map(
          lambda m, g: b1 * m + (1 - b1) * g,
          numerics.bias_correction(mu, b1, numerics.safe_increment(count)),
          numerics.bias_correction(updates, b1, count),
      )
    else:
      mu_hat = numerics.bias_correction(mu, b1, count)
    nu_hat = numerics.bias_correction(nu, b2, count)
    # Cast like the updates (a Python-number update, e.g. of params {"a": 1}, stays as computed).
    new_updates = numerics.cast_like(numerics.tree_map(
        lambda m, v: m / (jnp.sqrt(v + eps_root) + eps), mu_hat, nu_hat), updates)
    mu = numerics.cast(mu, mu_dtype) if mu_dtype else numerics.cast_like(mu, state.mu)
    nu = numerics.cast_like(nu, state.nu)
    return new_updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "elementwise", "scale_by_adam")



def _first_moment_hat(mu: Any, updates: Any, b1: Any, count: jax.Array, nesterov: bool) -> Any:
  """Bias-corrected first moment; with `nesterov`, NAdam's look-ahead form.

  Nesterov (Dozat 2016): `b1 * m_t / (1 - b1^(t+1)) + (1 - b1) * g_t / (1 - b1^t)`.
  """
  if not nesterov:
    return numerics.bias_correction(mu, b1, count)
  return numerics.tree_map(
      lambda m, g: b1 * m + (1 - b1) * g,
      numerics.bias_correction(mu, b1, numerics.safe_increment(count)),
      numerics.bias_correction(updates, b1, count),
  )


def _adam_direction(mu_hat: Any, nu_hat: Any, updates: Any, eps: Any, eps_root: Any) -> Any:
  """`m / (sqrt(v + eps_root) + eps)`, cast to each update's dtype."""
  return numerics.cast_like(numerics.tree_map(
      lambda m, v: m / (jnp.sqrt(v + eps_root) + eps), mu_hat, nu_hat), updates)


# --- Adamax -------------------------------------------------------------------


@checks.public
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
    state = ScaleByAdamState(
        count=numerics.init_count(),
        mu=numerics.zeros_like(params),
        nu=numerics.real_full_like(params, 0),
    )
    checks.check_representable(fn, {"eps": eps}, state.mu, state.nu)
    return state

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.mu, shapes=True)
    count = numerics.safe_increment(state.count)
    mu = numerics.update_moment(updates, state.mu, b1, 1)
    nu = numerics.tree_map(lambda g, u: jnp.maximum(jnp.abs(g) + eps, b2 * u), updates, state.nu)
    mu_hat = numerics.bias_correction(mu, b1, count)
    new_updates = numerics.cast_like(numerics.tree_map(lambda m, u: m / u, mu_hat, nu), updates)
    mu = numerics.cast_like(mu, state.mu)
    nu = numerics.cast_like(nu, state.nu)
    return new_updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "elementwise", "scale_by_adamax")


# --- AMSGrad ------------------------------------------------------------------


class ScaleByAmsgradState(NamedTuple):
  """State of `scale_by_amsgrad`."""

  count: jax.Array  # shape=(), dtype=int32.
  mu: base.Updates  # first moment, like params (dtype: mu_dtype or the param's).
  nu: base.Updates  # second moment, like params (dtype: nu_dtype or the param's, real).
  nu_max: base.Updates  # running maximum of the (corrected) nu, dtype as nu.


@checks.public
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
  check_adam_args(fn, b1, b2, eps, eps_root)
  mu_dtype = numerics.canonicalize_dtype(mu_dtype)
  nu_dtype = numerics.canonicalize_dtype(nu_dtype)

  def init_fn(params):
    state = ScaleByAmsgradState(
        count=numerics.init_count(),
        mu=numerics.zeros_like(params, dtype=mu_dtype),
        nu=init_second_moment(params, nu_dtype),
        nu_max=init_second_moment(params, nu_dtype),
    )
    checks.check_representable(fn, {"eps": eps, "eps_root": eps_root}, state.mu, state.nu)
    return state

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.mu, shapes=True)
    mu = numerics.update_moment(updates, state.mu, b1, 1)
    nu = numerics.update_moment_per_elem_norm(updates, state.nu, b2, 2)
    count = numerics.safe_increment(state.count)
    mu_hat = numerics.bias_correction(mu, b1, count) if bias_correction_mu else mu
    nu_eff = numerics.bias_correction(nu, b2, count) if bias_correction_nu else nu
    nu_max = numerics.tree_map(jnp.maximum, state.nu_max, nu_eff)
    new_updates = _adam_direction(mu_hat, nu_max, updates, eps, eps_root)
    return new_updates, ScaleByAmsgradState(
        count=count,
        mu=numerics.cast_like(mu, state.mu),
        nu=numerics.cast_like(nu, state.nu),
        nu_max=numerics.cast_like(nu_max, state.nu_max),
    )

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "elementwise", "scale_by_amsgrad")


# --- RAdam --------------------------------------------------------------------

@checks.public
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
  check_adam_args(fn, b1, b2, eps, eps_root)
  checks.check_range(fn, "threshold", threshold, 4.0, None, finite=True)
  mu_dtype = numerics.canonicalize_dtype(mu_dtype)
  nu_dtype = numerics.canonicalize_dtype(nu_dtype)
  rho_inf = 2.0 / (1.0 - b2) - 1.0

  def init_fn(params):
    state = ScaleByAdamState(
        count=numerics.init_count(),
        mu=numerics.zeros_like(params, dtype=mu_dtype),
        nu=init_second_moment(params, nu_dtype),
    )
    checks.check_representable(fn, {"eps": eps, "eps_root": eps_root}, state.mu, state.nu)
    return state

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.mu, shapes=True)
    mu = numerics.update_moment(updates, state.mu, b1, 1)
    nu = numerics.update_moment_per_elem_norm(updates, state.nu, b2, 2)
    count = numerics.safe_increment(state.count)
    rho = numerics.radam_rho(b2, count)
    rectify = rho >= threshold
    # Outside the rectified regime rho may be < 4: keep the root's argument >= 0.
    rho_r = jnp.where(rectify, rho, rho_inf)
    r = jnp.sqrt(
        (rho_r - 4.0) * (rho_r - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_r)
    )
    mu_hat = _first_moment_hat(mu, updates, b1, count, nesterov)
    nu_hat = numerics.bias_correction(nu, b2, count)
    new_updates = numerics.cast_like(numerics.tree_map(
        lambda m, v: jnp.where(rectify, r.astype(m.dtype) * m / (jnp.sqrt(v + eps_root) + eps), m),
        mu_hat, nu_hat), updates)
    mu = numerics.cast_like(mu, state.mu)
    nu = numerics.cast_like(nu, state.nu)
    return new_updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "elementwise", "scale_by_radam")


# --- AdaBelief ----------------------------------------------------------------


class ScaleByBeliefState(NamedTuple):
  """State of `scale_by_belief`."""

  count: jax.Array  # shape=(), dtype=int32.
  mu: base.Updates  # first moment, like params (dtype: mu_dtype or the param's).
  nu: base.Updates  # EMA of |g - m|^2 + eps_root, like params (dtype: nu_dtype or the param's, real).


@checks.public
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
  check_adam_args(fn, b1, b2, eps, eps_root)
  mu_dtype = numerics.canonicalize_dtype(mu_dtype)
  nu_dtype = numerics.canonicalize_dtype(nu_dtype)

  def init_fn(params):
    state = ScaleByBeliefState(
        count=numerics.init_count(),
        mu=numerics.zeros_like(params, dtype=mu_dtype),
        nu=init_second_moment(params, nu_dtype),
    )
    checks.check_representable(fn, {"eps": eps, "eps_root": eps_root}, state.mu, state.nu)
    return state

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.mu, shapes=True)
    mu = numerics.update_moment(updates, state.mu, b1, 1)
    prediction_error = numerics.tree_map(lambda g, m: g - m, updates, mu)
    nu = numerics.update_moment_per_elem_norm(prediction_error, state.nu, b2, 2)
    nu = numerics.tree_map(lambda v: v + eps_root, nu)
    count = numerics.safe_increment(state.count)
    mu_hat = _first_moment_hat(mu, updates, b1, count, nesterov)
    nu_hat = numerics.bias_correction(nu, b2, count)
    new_updates = _adam_direction(mu_hat, nu_hat, updates, eps, 0.0)
    mu = numerics.cast_like(mu, state.mu)
    nu = numerics.cast_like(nu, state.nu)
    return new_updates, ScaleByBeliefState(count=count, mu=mu, nu=nu)

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "elementwise", "scale_by_belief")


# --- Yogi ---------------------------------------------------------------------


@checks.public
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
  check_adam_args(fn, b1, b2, eps, eps_root)
  checks.check_nonnegative(fn, "initial_accumulator_value", initial_accumulator_value)

  def init_fn(params):
    state = ScaleByAdamState(
        count=numerics.init_count(),
        mu=numerics.full_like(params, initial_accumulator_value),
        nu=numerics.real_full_like(params, initial_accumulator_value),
    )
    checks.check_representable(fn, {"eps": eps, "eps_root": eps_root}, state.mu, state.nu)
    return state

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.mu, shapes=True)
    mu = numerics.update_moment(updates, state.mu, b1, 1)
    nu = numerics.tree_map(
        lambda g, v: v - (1 - b2) * jnp.sign(v - numerics.abs_sq(g)) * numerics.abs_sq(g),
        updates, state.nu,
    )
    count = numerics.safe_increment(state.count)
    mu_hat = numerics.bias_correction(mu, b1, count)
    nu_hat = numerics.bias_correction(nu, b2, count)
    new_updates = _adam_direction(mu_hat, nu_hat, updates, eps, eps_root)
    mu = numerics.cast_like(mu, state.mu)
    nu = numerics.cast_like(nu, state.nu)
    return new_updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "elementwise", "scale_by_yogi")
