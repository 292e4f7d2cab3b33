"""Root-mean-square scalings: `scale_by_rss` (Adagrad), `scale_by_rms` and `scale_by_stddev` (RMSprop), `scale_by_adadelta`."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics


def _inverse_root(n: jax.Array, eps: Any, eps_in_sqrt: bool) -> jax.Array:
  """`1 / sqrt(n + eps)` or `1 / (sqrt(n) + eps)`."""
  if eps_in_sqrt:
    return jax.lax.rsqrt(n + eps)
  return 1 / (jnp.sqrt(n) + eps)


# --- Adagrad ------------------------------------------------------------------


class ScaleByRssState(NamedTuple):
  """State of `scale_by_rss`."""

  sum_of_squares: base.Updates  # like params, the param's real dtype.


@checks.public
def scale_by_rss(
    initial_accumulator_value: jax.typing.ArrayLike = 0.1,
    eps: jax.typing.ArrayLike = 1e-7,
) -> base.GradientTransformation:
  """Divides updates by the root of the sum of all squared gradients so far (Adagrad).

  .. math::
    s_t = s_{t-1} + |g_t|^2, \\qquad
    u_t = g_t / \\sqrt{s_t + \\epsilon} \\ \\ (u_t = 0 \\text{ where } s_t = 0)

  with :math:`s_0` = `initial_accumulator_value`. Duchi, Hazan & Singer, 2011,
  "Adaptive Subgradient Methods for Online Learning and Stochastic
  Optimization" (https://jmlr.org/papers/v12/duchi11a.html).

  Args:
    initial_accumulator_value: the starting sum, >= 0.
    eps: added inside the square root, >= 0.

  Returns:
    A `GradientTransformation` with state `ScaleByRssState`. Complex params are
    supported; their accumulator is real (optax stores it complex).
  """
  fn = "scale_by_rss"
  checks.check_nonnegative(fn, "initial_accumulator_value", initial_accumulator_value)
  checks.check_nonnegative(fn, "eps", eps)

  def init_fn(params):
    return ScaleByRssState(
        sum_of_squares=numerics.real_full_like(params, initial_accumulator_value)
    )

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.sum_of_squares, shapes=True)
    sum_of_squares = numerics.tree_map(
        lambda g, s: numerics.abs_sq(g) + s, updates, state.sum_of_squares
    )
    new_updates = numerics.tree_map(
        lambda g, s: (jnp.where(s > 0, jax.lax.rsqrt(s + eps), 0.0) * g).astype(g.dtype),
        updates, sum_of_squares,
    )
    sum_of_squares = numerics.cast_like(sum_of_squares, state.sum_of_squares)
    return new_updates, ScaleByRssState(sum_of_squares=sum_of_squares)

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "elementwise", "scale_by_rss")


# --- RMSprop ------------------------------------------------------------------


class ScaleByRmsState(NamedTuple):
  """State of `scale_by_rms` without bias correction."""

  nu: base.Updates  # EMA of |g|^2, like params, the param's real dtype.


class ScaleByRmsWithCountState(NamedTuple):
  """State of `scale_by_rms(bias_correction=True)`."""

  count: jax.Array  # shape=(), dtype=int32.
  nu: base.Updates  # EMA of |g|^2, like params, the param's real dtype.


def _check_rms_args(fn: str, decay: Any, eps: Any, initial_scale: Any) -> None:
  checks.check_decay(fn, "decay", decay)
  checks.check_nonnegative(fn, "eps", eps)
  checks.check_nonnegative(fn, "initial_scale", initial_scale)


@checks.public
def scale_by_rms(
    decay: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-8,
    initial_scale: jax.typing.ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> base.GradientTransformation:
  """Divides updates by the root of an exponential moving average of squared gradients.

  .. math::
    \\nu_t = \\rho\\, \\nu_{t-1} + (1-\\rho) |g_t|^2, \\qquad
    u_t = g_t / \\sqrt{\\hat\\nu_t + \\epsilon} \\ \\ \\text{or} \\ \\
    g_t / (\\sqrt{\\hat\\nu_t} + \\epsilon) \\ \\ (\\texttt{eps\\_in\\_sqrt=False})

  with :math:`\\nu_0` = `initial_scale` and :math:`\\hat\\nu_t = \\nu_t` or, with
  `bias_correction`, :math:`\\nu_t / (1-\\rho^t)`. `scale_by_rms(b2,
  eps_in_sqrt=False, bias_correction=True)` is `scale_by_adam(b1=0, b2=b2)`
  without the first moment. Hinton, Srivastava & Swersky, 2012, "Neural
  Networks for Machine Learning", lecture 6e
  (https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf).

  Args:
    decay: decay rho of the moving average, in [0, 1).
    eps: stabilizer added to the denominator, >= 0.
    initial_scale: the starting value of the average, >= 0.
    eps_in_sqrt: add `eps` inside the square root (default) or outside it.
    bias_correction: divide the average by `1 - decay**t`.

  Returns:
    A `GradientTransformation` with state `ScaleByRmsState`, or
    `ScaleByRmsWithCountState` with `bias_correction`. Complex params are
    supported; the average is real (optax stores it complex).
  """
  fn = "scale_by_rms"
  _check_rms_args(fn, decay, eps, initial_scale)

  def init_fn(params):
    nu = numerics.real_full_like(params, initial_scale)
    checks.check_representable(fn, {"eps": eps}, nu)
    if bias_correction:
      return ScaleByRmsWithCountState(count=numerics.init_count(), nu=nu)
    return ScaleByRmsState(nu=nu)

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.nu, shapes=True)
    nu = numerics.update_moment_per_elem_norm(updates, state.nu, decay, 2)
    if bias_correction:
      count = numerics.safe_increment(state.count)
      nu_hat = numerics.bias_correction(nu, decay, count)
    else:
      nu_hat = nu
    new_updates = numerics.tree_map(
        lambda g, n: (_inverse_root(n, eps, eps_in_sqrt) * g).astype(g.dtype), updates, nu_hat
    )
    nu = numerics.cast_like(nu, state.nu)
    if bias_correction:
      return new_updates, ScaleByRmsWithCountState(count=count, nu=nu)
    return new_updates, ScaleByRmsState(nu=nu)

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "elementwise", "scale_by_rms")


class ScaleByRStdDevState(NamedTuple):
  """State of `scale_by_stddev` without bias correction."""

  mu: base.Updates  # EMA of g, like params (the param's dtype).
  nu: base.Updates  # EMA of |g|^2, like params, the param's real dtype.


class ScaleByRStdDevWithCountState(NamedTuple):
  """State of `scale_by_stddev(bias_correction=True)`."""

  count: jax.Array  # shape=(), dtype=int32.
  mu: base.Updates  # EMA of g, like params (the param's dtype).
  nu: base.Updates  # EMA of |g|^2, like params, the param's real dtype.


@checks.public
def scale_by_stddev(
    decay: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-8,
    initial_scale: jax.typing.ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> base.GradientTransformation:
  """Divides updates by a moving estimate of the gradient's standard deviation (centered RMSprop).

  .. math::
    \\mu_t = \\rho\\, \\mu_{t-1} + (1-\\rho) g_t, \\quad
    \\nu_t = \\rho\\, \\nu_{t-1} + (1-\\rho) |g_t|^2, \\quad
    \\sigma^2_t = \\max(\\hat\\nu_t - |\\hat\\mu_t|^2, 0), \\\\
    u_t = g_t / \\sqrt{\\sigma^2_t + \\epsilon} \\ \\ \\text{or} \\ \\
    g_t / (\\sqrt{\\sigma^2_t} + \\epsilon) \\ \\ (\\texttt{eps\\_in\\_sqrt=False})

  with :math:`\\mu_0 = 0`, :math:`\\nu_0` = `initial_scale`, and hats the
  moments divided by `1 - decay**t` when `bias_correction` is set. Graves,
  2013, "Generating Sequences With Recurrent Neural Networks", eq. 38-40
  (https://arxiv.org/abs/1308.0850).

  Differs from optax: the variance is clipped at 0, and with `bias_correction`
  the first step uses its exact value :math:`\\rho\\,\\nu_0 / (1-\\rho)`. In
  exact arithmetic :math:`\\hat\\nu_1 - |\\hat\\mu_1|^2` is that value (0 for
  the default `initial_scale=0`); computed as a difference it is rounding noise,
  which optax takes the root of (a NaN when the noise is negative).

  Args:
    decay: decay rho of both moving averages, in [0, 1).
    eps: stabilizer added to the denominator, >= 0.
    initial_scale: the starting value of the second moment, >= 0.
    eps_in_sqrt: add `eps` inside the square root (default) or outside it.
    bias_correction: divide both averages by `1 - decay**t`.

  Returns:
    A `GradientTransformation` with state `ScaleByRStdDevState`, or
    `ScaleByRStdDevWithCountState` with `bias_correction`. Complex params are
    supported.
  """
  fn = "scale_by_stddev"
  _check_rms_args(fn, decay, eps, initial_scale)

  def init_fn(params):
    mu = numerics.zeros_like(params)
    nu = numerics.real_full_like(params, initial_scale)
    checks.check_representable(fn, {"eps": eps}, mu, nu)
    if bias_correction:
      return ScaleByRStdDevWithCountState(count=numerics.init_count(), mu=mu, nu=nu)
    return ScaleByRStdDevState(mu=mu, nu=nu)

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.mu, shapes=True)
    mu = numerics.update_moment(updates, state.mu, decay, 1)
    nu = numerics.update_moment_per_elem_norm(updates, state.nu, decay, 2)
    if bias_correction:
      count = numerics.safe_increment(state.count)
      mu_hat = numerics.bias_correction(mu, decay, count)
      nu_hat = numerics.bias_correction(nu, decay, count)
      first_variance = decay * initial_scale / (1 - decay)
      variance = lambda m, n: jnp.where(
          count == 1, first_variance, jnp.maximum(n - numerics.abs_sq(m), 0)
      ).astype(n.dtype)
    else:
      mu_hat, nu_hat = mu, nu
      variance = lambda m, n: jnp.maximum(n - numerics.abs_sq(m), 0)
    new_updates = numerics.tree_map(
        lambda g, m, n: (_inverse_root(variance(m, n), eps, eps_in_sqrt) * g).astype(g.dtype),
        updates, mu_hat, nu_hat,
    )
    mu = numerics.cast_like(mu, state.mu)
    nu = numerics.cast_like(nu, state.nu)
    if bias_correction:
      return new_updates, ScaleByRStdDevWithCountState(count=count, mu=mu, nu=nu)
    return new_updates, ScaleByRStdDevState(mu=mu, nu=nu)

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "elementwise", "scale_by_stddev")


# --- Adadelta -----------------------------------------------------------------


class ScaleByAdaDeltaState(NamedTuple):
  """State of `scale_by_adadelta`."""

  e_g: base.Updates  # EMA of squared gradients, like params, the param's real dtype.
  e_x: base.Updates  # EMA of squared updates, like params, the param's real dtype.


@checks.public
def scale_by_adadelta(
    rho: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-6,
) -> base.GradientTransformation:
  """Rescales updates by the ratio of RMS past updates to RMS gradients (Adadelta).

  .. math::
    E[g^2]_t = \\rho E[g^2]_{t-1} + (1-\\rho) g_t^2, \\quad
    u_t = \\frac{\\sqrt{E[\\Delta x^2]_{t-1} + \\epsilon}}{\\sqrt{E[g^2]_t + \\epsilon}}\\, g_t, \\quad
    E[\\Delta x^2]_t = \\rho E[\\Delta x^2]_{t-1} + (1-\\rho) u_t^2

  Zeiler, 2012, "ADADELTA: An Adaptive Learning Rate Method"
  (https://arxiv.org/abs/1212.5701).

  Args:
    rho: decay of both moving averages, in [0, 1).
    eps: stabilizer inside both square roots, >= 0.

  Returns:
    A `GradientTransformation` with state `ScaleByAdaDeltaState`.
  """
  fn = "scale_by_adadelta"
  checks.check_decay(fn, "rho", rho)
  checks.check_nonnegative(fn, "eps", eps)

  def init_fn(params):
    return ScaleByAdaDeltaState(
        e_g=numerics.real_full_like(params, 0), e_x=numerics.real_full_like(params, 0)
    )

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.e_g, shapes=True)
    e_g = numerics.update_moment_per_elem_norm(updates, state.e_g, rho, 2)
    steps = numerics.tree_map(
        lambda g, eg, ex: jnp.sqrt(ex + eps) / jnp.sqrt(eg + eps) * g, updates, e_g, state.e_x
    )
    e_x = numerics.update_moment_per_elem_norm(steps, state.e_x, rho, 2)
    new_updates = numerics.cast_like(steps, updates)
    e_g = numerics.cast_like(e_g, state.e_g)
    e_x = numerics.cast_like(e_x, state.e_x)
    return new_updates, ScaleByAdaDeltaState(e_g=e_g, e_x=e_x)

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "elementwise", "scale_by_adadelta")
