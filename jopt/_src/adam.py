"""Adam's scaling: `scale_by_adam` (bias-corrected first and second moments)."""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import tree


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

  def zeros(p):
    if dtype is not None:
      return jnp.zeros(jnp.shape(p), dtype)
    return jnp.zeros(jnp.shape(p), jnp.real(jnp.zeros((), p.dtype)).dtype)

  return jax.tree.map(zeros, params)


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
    param's dtype.
  """
  check_adam_args("scale_by_adam", b1, b2, eps, eps_root)
  mu_dtype = tree.canonicalize_dtype(mu_dtype)
  nu_dtype = tree.canonicalize_dtype(nu_dtype)

  def init_fn(params):
    return ScaleByAdamState(
        count=tree.init_count(),
        mu=tree.zeros_like(params, dtype=mu_dtype),
        nu=init_second_moment(params, nu_dtype),
    )

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure("scale_by_adam", updates, state.mu)
    mu = tree.update_moment(updates, state.mu, b1, 1)
    nu = tree.update_moment_per_elem_norm(updates, state.nu, b2, 2)
    count = tree.safe_increment(state.count)
    if nesterov:
      mu_hat = tree.tree_map(
          lambda m, g: b1 * m + (1 - b1) * g,
          tree.bias_correction(mu, b1, tree.safe_increment(count)),
          tree.bias_correction(updates, b1, count),
      )
    else:
      mu_hat = tree.bias_correction(mu, b1, count)
    nu_hat = tree.bias_correction(nu, b2, count)
    new_updates = tree.tree_map(
        lambda m, v, g: (m / (jnp.sqrt(v + eps_root) + eps)).astype(g.dtype),
        mu_hat, nu_hat, updates,
    )
    mu = tree.cast(mu, mu_dtype) if mu_dtype else tree.cast_like(mu, state.mu)
    nu = tree.cast_like(nu, state.nu)
    return new_updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

  return base.GradientTransformation(init_fn, update_fn)
