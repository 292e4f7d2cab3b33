"""Keras 3's update rules whose math differs from optax's: Adam/AMSGrad, Adamax, Nadam, FTRL and Adafactor.

Written as Keras writes them (moments as `m += (g - m) * (1 - beta)`, epsilon
added to the root of the *uncorrected* second moment, powers of beta at step
`t = iterations + 1` in the variable's dtype), so the numbers follow Keras's
rounding. The rules of SGD, RMSprop, Adagrad, Adadelta, Lion and LAMB are
optax's math and are built from jopt's blocks in `optimizers.py`.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import numerics


def _step(count: jax.Array, dtype: Any) -> jax.Array:
  """Keras's `local_step = iterations + 1`, cast to the variable's dtype."""
  return (count + 1).astype(dtype)


def _ema_in_place(m: jax.Array, x: jax.Array, beta: Any) -> jax.Array:
  """Keras's `m.assign_add((x - m) * (1 - beta))`."""
  return m + (x - m) * (1 - beta)


# --- Adam / AMSGrad -----------------------------------------------------------


class ScaleByKerasAdamState(NamedTuple):
  """State of `scale_by_keras_adam`."""

  count: jax.Array  # shape=(), int32: real updates so far.
  mu: base.Updates  # like params: first moment.
  nu: base.Updates  # like params: uncorrected second moment.
  nu_max: Any  # like params: running max of `nu` (AMSGrad); None otherwise.


def scale_by_keras_adam(beta_1: Any, beta_2: Any, epsilon: Any, amsgrad: bool) -> base.GradientTransformation:
  """Keras's Adam direction, without the learning rate.

  .. math::
    m_t = m + (g - m)(1-\\beta_1), \\quad v_t = v + (g^2 - v)(1-\\beta_2), \\quad
    u_t = \\frac{m_t\\, \\sqrt{1-\\beta_2^t} / (1-\\beta_1^t)}{\\sqrt{v_t} + \\hat\\epsilon}

  i.e. optax's `m_hat / (sqrt(v_hat) + eps)` with `eps = epsilon / sqrt(1 - beta_2^t)`
  ("epsilon hat", Kingma & Ba 2014, https://arxiv.org/abs/1412.6980, before
  section 2.1). With `amsgrad`, `v_t` is replaced by its running maximum
  (Reddi et al., 2018, https://openreview.net/forum?id=ryQu7f-RZ).
  """

  def init_fn(params):
    return ScaleByKerasAdamState(
        count=numerics.init_count(), mu=numerics.zeros_like(params), nu=numerics.zeros_like(params),
        nu_max=numerics.zeros_like(params) if amsgrad else None)

  def update_fn(updates, state, params=None):
    del params

    def leaf(g, m, v, v_max=None):
      t = _step(state.count, g.dtype)
      b1, b2 = jnp.asarray(beta_1, g.dtype), jnp.asarray(beta_2, g.dtype)
      alpha = jnp.sqrt(1 - b2**t) / (1 - b1**t)
      m = _ema_in_place(m, g, beta_1)
      v = _ema_in_place(v, g * g, beta_2)
      if amsgrad:
        v_max = jnp.maximum(v_max, v)
      denom = jnp.sqrt(v_max if amsgrad else v) + epsilon
      return (m * alpha / denom).astype(g.dtype), m, v, v_max

    moments = (state.mu, state.nu) + ((state.nu_max,) if amsgrad else ())
    u, m, v, vm = _unzip(numerics.tree_map(leaf, updates, *moments), updates, 4)
    return u, ScaleByKerasAdamState(
        count=numerics.safe_increment(state.count), mu=m, nu=v, nu_max=vm if amsgrad else None)

  return base.GradientTransformation(init_fn, update_fn)


def _unzip(tree_of_tuples: Any, like: Any, n: int) -> tuple:
  """Splits a tree of n-tuples (leaf-wise results) into n trees shaped like `like`."""
  treedef = jax.tree.structure(like, is_leaf=lambda x: x is None)
  leaves = treedef.flatten_up_to(tree_of_tuples)
  return tuple(
      treedef.unflatten([None if l is None else l[i] for l in leaves]) for i in range(n))


# --- Adamax -------------------------------------------------------------------


class ScaleByKerasAdamaxState(NamedTuple):
  """State of `scale_by_keras_adamax`."""

  count: jax.Array  # shape=(), int32: real updates so far.
  mu: base.Updates  # like params: first moment.
  norm: base.Updates  # like params: exponentially weighted infinity norm.


def scale_by_keras_adamax(beta_1: Any, beta_2: Any, epsilon: Any) -> base.GradientTransformation:
  """Keras's Adamax direction, without the learning rate.

  .. math::
    m_t = m + (g - m)(1-\\beta_1), \\quad u_t = \\max(\\beta_2 u, |g|), \\quad
    d_t = \\frac{m_t}{(1-\\beta_1^t)(u_t + \\epsilon)}

  optax adds epsilon inside the max (`max(b2 u, |g| + eps)`); Keras adds it to
  the norm afterwards. Kingma & Ba, 2014, section 7 (https://arxiv.org/abs/1412.6980).
  """

  def init_fn(params):
    return ScaleByKerasAdamaxState(
        count=numerics.init_count(), mu=numerics.zeros_like(params), norm=numerics.zeros_like(params))

  def update_fn(updates, state, params=None):
    del params

    def leaf(g, m, u):
      t = _step(state.count, g.dtype)
      b1_power = jnp.asarray(beta_1, g.dtype)**t
      m = _ema_in_place(m, g, beta_1)
      u = jnp.maximum(beta_2 * u, jnp.abs(g)).astype(g.dtype)
      return (m / ((1 - b1_power) * (u + epsilon))).astype(g.dtype), m, u

    u, m, norm = _unzip(numerics.tree_map(leaf, updates, state.mu, state.norm), updates, 3)
    return u, ScaleByKerasAdamaxState(count=numerics.safe_increment(state.count), mu=m, norm=norm)

  return base.GradientTransformation(init_fn, update_fn)


# --- Nadam --------------------------------------------------------------------


class ScaleByKerasNadamState(NamedTuple):
  """State of `scale_by_keras_nadam`."""

  count: jax.Array  # shape=(), int32: real updates so far.
  u_product: jax.Array  # shape=(), float32: prod_{i<=t} beta_1 (1 - 0.5 * 0.96^i).
  mu: base.Updates  # like params: first moment.
  nu: base.Updates  # like params: second moment.


def scale_by_keras_nadam(beta_1: Any, beta_2: Any, epsilon: Any) -> base.GradientTransformation:
  """Keras's Nadam direction (Dozat's momentum schedule), without the learning rate.

  .. math::
    \\mu_t = \\beta_1 (1 - \\tfrac12 0.96^t), \\quad P_t = \\textstyle\\prod_{i \\le t} \\mu_i, \\quad
    \\hat m_t = \\frac{\\mu_{t+1} m_t}{1 - P_t \\mu_{t+1}} + \\frac{(1-\\mu_t) g}{1 - P_t}, \\quad
    d_t = \\frac{\\hat m_t}{\\sqrt{v_t / (1-\\beta_2^t)} + \\epsilon}

  optax's `nadam` uses a constant `beta_1` instead of the schedule `mu_t`.
  Dozat, 2016, "Incorporating Nesterov Momentum into Adam"
  (https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ).
  """

  def init_fn(params):
    return ScaleByKerasNadamState(
        count=numerics.init_count(), u_product=jnp.ones([], jnp.float32),
        mu=numerics.zeros_like(params), nu=numerics.zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    t = _step(state.count, jnp.float32)
    u_product = state.u_product * beta_1 * (1.0 - 0.5 * jnp.power(jnp.float32(0.96), t))

    def leaf(g, m, v):
      dtype = g.dtype
      t = _step(state.count, dtype)
      b1, b2 = jnp.asarray(beta_1, dtype), jnp.asarray(beta_2, dtype)
      decay = jnp.asarray(0.96, dtype)
      u_t = b1 * (1.0 - 0.5 * decay**t)
      u_t_1 = b1 * (1.0 - 0.5 * decay**(t + 1))
      u_product_t = u_product.astype(dtype)
      u_product_t_1 = u_product_t * u_t_1
      m = _ema_in_place(m, g, b1)
      v = _ema_in_place(v, g * g, b2)
      m_hat = u_t_1 * m / (1 - u_product_t_1) + (1 - u_t) * g / (1 - u_product_t)
      v_hat = v / (1 - b2**t)
      return (m_hat / (jnp.sqrt(v_hat) + epsilon)).astype(dtype), m, v

    u, m, v = _unzip(numerics.tree_map(leaf, updates, state.mu, state.nu), updates, 3)
    return u, ScaleByKerasNadamState(
        count=numerics.safe_increment(state.count), u_product=u_product, mu=m, nu=v)

  return base.GradientTransformation(init_fn, update_fn)


# --- FTRL ---------------------------------------------------------------------


class KerasFtrlState(NamedTuple):
  """State of `keras_ftrl`."""

  count: jax.Array  # shape=(), int32: real updates so far (for a learning-rate schedule).
  accumulator: base.Updates  # like params: initial value + sum of g^2.
  linear: base.Updates  # like params: FTRL's linear term z.


def keras_ftrl(learning_rate: base.ScalarOrSchedule, learning_rate_power: Any,
               initial_accumulator_value: Any, l1: Any, l2: Any, l2_shrinkage: Any,
               beta: Any) -> base.GradientTransformation:
  """Keras's FTRL-Proximal step, learning rate included; needs `params`.

  .. math::
    n' = n + g^2, \\quad z \\mathrel{+}= g + 2 \\lambda_s w - \\frac{n'^{-p} - n^{-p}}{\\eta} w, \\quad
    w' = \\frac{\\mathrm{clip}(z, -\\lambda_1, \\lambda_1) - z}{n'^{-p}/\\eta + 2(\\lambda_2 + \\beta / (2\\eta))}

  with `p` = `learning_rate_power` and :math:`\\eta` the learning rate. The
  returned update is `w' - w`. McMahan et al., 2013, "Ad Click Prediction: a
  View from the Trenches" (https://research.google.com/pubs/archive/41159.pdf).
  """

  def init_fn(params):
    return KerasFtrlState(
        count=numerics.init_count(),
        accumulator=numerics.full_like(params, initial_accumulator_value),
        linear=numerics.zeros_like(params))

  def update_fn(updates, state, params=None):
    lr_now = numerics.resolve(learning_rate, state.count)

    def leaf(g, w, n, z):
      dtype = g.dtype
      lr = jnp.asarray(lr_now, dtype)
      l2_reg = l2 + beta / (2.0 * lr)
      g_shrunk = g + 2 * l2_shrinkage * w
      new_n = n + g * g
      z = z + (g_shrunk - (new_n**(-learning_rate_power) - n**(-learning_rate_power)) / lr * w)
      quadratic = new_n**(-learning_rate_power) / lr + 2 * l2_reg
      w_new = (jnp.clip(z, -l1, l1) - z) / quadratic
      return (w_new - w).astype(dtype), new_n.astype(dtype), z.astype(dtype)

    u, n, z = _unzip(
        numerics.tree_map(leaf, updates, params, state.accumulator, state.linear), updates, 3)
    return u, KerasFtrlState(count=numerics.safe_increment(state.count), accumulator=n, linear=z)

  return base.GradientTransformation(init_fn, update_fn)


# --- Adafactor ----------------------------------------------------------------


class KerasAdafactorState(NamedTuple):
  """State of `keras_adafactor`."""

  count: jax.Array  # shape=(), int32: real updates so far.
  row: base.Updates  # shape[:-1] for leaves with ndim >= 2, else shape (): factored row moment.
  col: base.Updates  # shape[:-2] + shape[-1:] for leaves with ndim >= 2, else (): column moment.
  velocity: base.Updates  # like params for leaves with ndim < 2 (unfactored moment), else shape ().


def _rms(x: jax.Array) -> jax.Array:
  return jnp.sqrt(jnp.mean(x * x))


def keras_adafactor(learning_rate: base.ScalarOrSchedule, beta_2_decay: Any, epsilon_1: Any,
                    epsilon_2: Any, clip_threshold: Any) -> base.GradientTransformation:
  """Keras's Adafactor step, learning rate included; needs `params`.

  .. math::
    \\rho_t = \\min(\\eta, 1/\\sqrt t), \\quad \\alpha_t = \\max(\\epsilon_2, \\mathrm{rms}(w))\\, \\rho_t,
    \\quad \\hat\\beta_{2,t} = 1 - t^{c}, \\\\
    R, C \\leftarrow \\hat\\beta_{2,t} (R, C) + (1-\\hat\\beta_{2,t})\\, \\mathrm{mean}_{-1, -2}(g^2 + \\epsilon_1),
    \\quad V = \\frac{R}{\\mathrm{mean}(R)} \\otimes C, \\\\
    u = g / \\sqrt V, \\quad \\Delta w = -\\alpha_t\\, u / \\max(1, \\mathrm{rms}(u) / d)

  with `c` = `beta_2_decay` and `d` = `clip_threshold`. The last two axes of a
  leaf with 2 or more axes are factored (optax factors the two largest axes of
  leaves whose dims reach `min_dim_size_to_factor`); smaller leaves keep a full
  second moment. Shazeer & Stern, 2018 (https://arxiv.org/abs/1804.04235).
  """

  def init_fn(params):
    def row(p):
      return jnp.zeros(p.shape[:-1], p.dtype) if p.ndim >= 2 else jnp.zeros([], p.dtype)

    def col(p):
      return jnp.zeros(p.shape[:-2] + p.shape[-1:], p.dtype) if p.ndim >= 2 else jnp.zeros([], p.dtype)

    def velocity(p):
      return jnp.zeros([], p.dtype) if p.ndim >= 2 else jnp.zeros_like(p)

    return KerasAdafactorState(
        count=numerics.init_count(), row=jax.tree.map(row, params), col=jax.tree.map(col, params),
        velocity=jax.tree.map(velocity, params))

  def update_fn(updates, state, params=None):
    lr_now = numerics.resolve(learning_rate, state.count)

    def leaf(g, w, r, c, v):
      dtype = g.dtype
      t = _step(state.count, dtype)
      rho_t = jnp.minimum(jnp.asarray(lr_now, dtype), 1 / jnp.sqrt(t))
      alpha_t = jnp.maximum(jnp.asarray(epsilon_2, dtype), _rms(w)) * rho_t
      regulated = g * g + epsilon_1
      beta_2_t = 1 - t**beta_2_decay
      if g.ndim >= 2:
        r = beta_2_t * r + (1 - beta_2_t) * jnp.mean(regulated, axis=-1)
        c = beta_2_t * c + (1 - beta_2_t) * jnp.mean(regulated, axis=-2)
        second = jnp.expand_dims(r / jnp.mean(r, axis=-1, keepdims=True), -1) * jnp.expand_dims(c, -2)
      else:
        v = beta_2_t * v + (1 - beta_2_t) * regulated
        second = v
      u = g / jnp.sqrt(second)
      u_hat = u / jnp.maximum(jnp.ones([], dtype), _rms(u) / clip_threshold)
      return ((-alpha_t * u_hat).astype(dtype), r.astype(dtype), c.astype(dtype), v.astype(dtype))

    u, r, c, v = _unzip(
        numerics.tree_map(leaf, updates, params, state.row, state.col, state.velocity), updates, 4)
    return u, KerasAdafactorState(count=numerics.safe_increment(state.count), row=r, col=c, velocity=v)

  return base.GradientTransformation(init_fn, update_fn)
