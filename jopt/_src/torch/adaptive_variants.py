"""PyTorch's RMSprop, Adagrad and Adadelta scalings (eps placement and accumulator start as in torch.optim)."""

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src.torch import conventions as _common


class ScaleByRmspropState(NamedTuple):
  """State of `scale_by_rmsprop`."""

  square_avg: base.Updates  # EMA of g**2, like params.
  grad_avg: Optional[base.Updates]  # EMA of g (centered only, else None), like params.


@checks.public
def scale_by_rmsprop(
    alpha: jax.typing.ArrayLike = 0.99,
    eps: jax.typing.ArrayLike = 1e-8,
    centered: bool = False,
) -> base.GradientTransformation:
  """PyTorch's RMSprop scaling: `eps` outside the square root, accumulators start at 0.

  .. math::
    v_t = \\alpha v_{t-1} + (1-\\alpha) g_t^2, \\quad
    \\bar g_t = \\alpha \\bar g_{t-1} + (1-\\alpha) g_t \\ (\\text{centered}), \\quad
    u_t = g_t / (\\sqrt{v_t - \\bar g_t^2} + \\epsilon)

  (`\\bar g = 0` when not centered). Differs from `jopt.scale_by_rms` / optax,
  which put `eps` inside the square root (optax #532). The centered variance is
  clipped at 0 before the square root (rounding can make it slightly negative,
  where PyTorch returns NaN). Momentum is a separate `jopt.trace` after this
  transform (PyTorch's buffer `b = mu b + g / avg` starts at 0). Hinton, 2012,
  Lecture 6e (https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf);
  Graves, 2013 for the centered form (https://arxiv.org/abs/1308.0850).

  Args:
    alpha: smoothing constant, in [0, 1).
    eps: added to the denominator outside the square root, >= 0.
    centered: normalise by the estimated variance instead of the second moment.

  Returns:
    A `GradientTransformation` with state `ScaleByRmspropState`.
  """
  fn = "scale_by_rmsprop"
  checks.check_decay(fn, "alpha", alpha)
  checks.check_nonnegative(fn, "eps", eps)

  def init_fn(params):
    return ScaleByRmspropState(
        square_avg=numerics.zeros_like(params),
        grad_avg=numerics.zeros_like(params) if centered else None,
    )

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.square_avg)
    if centered:
      def leaf(g, v, m):
        v = alpha * v + (1 - alpha) * g * g
        m = alpha * m + (1 - alpha) * g
        return g / (jnp.sqrt(jnp.maximum(v - m * m, 0)) + eps), v, m

      updates, v, m = _common.leafwise(leaf, updates, state.square_avg, state.grad_avg)
    else:
      def leaf(g, v):
        v = alpha * v + (1 - alpha) * g * g
        return g / (jnp.sqrt(v) + eps), v

      updates, v = _common.leafwise(leaf, updates, state.square_avg)
      m = None
    return updates, ScaleByRmspropState(square_avg=v, grad_avg=m)

  return base.GradientTransformation(init_fn, update_fn)


class ScaleByAdagradState(NamedTuple):
  """State of `scale_by_adagrad`."""

  count: jax.Array  # shape=(), dtype=int32: updates so far.
  sum: base.Updates  # running sum of g**2 plus the initial value, like params.


@checks.public
def scale_by_adagrad(
    lr_decay: jax.typing.ArrayLike = 0.0,
    initial_accumulator_value: jax.typing.ArrayLike = 0.0,
    eps: jax.typing.ArrayLike = 1e-10,
) -> base.GradientTransformation:
  """PyTorch's Adagrad scaling, with its `lr_decay`.

  .. math::
    s_t = s_{t-1} + g_t^2,\\ s_0 = \\text{initial\\_accumulator\\_value}, \\qquad
    u_t = \\frac{g_t}{(1 + (t-1)\\,\\text{lr\\_decay})(\\sqrt{s_t} + \\epsilon)}

  Differs from `optax.adagrad` in defaults (optax: `initial_accumulator_value=0.1`,
  `eps=1e-7`; PyTorch: 0 and 1e-10) and `lr_decay` (absent in optax). Duchi et
  al., 2011, "Adaptive Subgradient Methods"
  (https://jmlr.org/papers/v12/duchi11a.html); source: `torch.optim.Adagrad`.

  Args:
    lr_decay: the learning-rate decay per step, >= 0.
    initial_accumulator_value: the starting value of the sum, >= 0.
    eps: added to the denominator outside the square root, >= 0.

  Returns:
    A `GradientTransformation` with state `ScaleByAdagradState`.
  """
  fn = "scale_by_adagrad"
  checks.check_nonnegative(fn, "lr_decay", lr_decay)
  checks.check_nonnegative(fn, "initial_accumulator_value", initial_accumulator_value)
  checks.check_nonnegative(fn, "eps", eps)

  def init_fn(params):
    return ScaleByAdagradState(
        count=numerics.init_count(), sum=numerics.full_like(params, initial_accumulator_value)
    )

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.sum)
    decay = 1 + jnp.asarray(state.count, jnp.float32) * lr_decay

    def leaf(g, s):
      s = s + g * g
      return g / (jnp.sqrt(s) + eps) / decay, s

    updates, s = _common.leafwise(leaf, updates, state.sum)
    return updates, ScaleByAdagradState(numerics.safe_increment(state.count), s)

  return base.GradientTransformation(init_fn, update_fn)


class ScaleByAdadeltaState(NamedTuple):
  """State of `scale_by_adadelta`."""

  square_avg: base.Updates  # EMA of g**2, like params.
  acc_delta: base.Updates  # EMA of the squared steps, like params.


@checks.public
def scale_by_adadelta(
    rho: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-6,
) -> base.GradientTransformation:
  """PyTorch's Adadelta scaling.

  .. math::
    v_t = \\rho v_{t-1} + (1-\\rho) g_t^2, \\quad
    u_t = \\frac{\\sqrt{a_{t-1} + \\epsilon}}{\\sqrt{v_t + \\epsilon}}\\, g_t, \\quad
    a_t = \\rho a_{t-1} + (1-\\rho) u_t^2

  The learning rate (PyTorch default 1.0) multiplies `u_t` afterwards but not
  the stored `a_t`. Zeiler, 2012, "ADADELTA: An Adaptive Learning Rate Method"
  (https://arxiv.org/abs/1212.5701); source: `torch.optim.Adadelta`.

  Args:
    rho: decay of both averages, in [0, 1].
    eps: added inside both square roots, >= 0.

  Returns:
    A `GradientTransformation` with state `ScaleByAdadeltaState`.
  """
  fn = "scale_by_adadelta"
  checks.check_range(fn, "rho", rho, 0.0, 1.0)
  checks.check_nonnegative(fn, "eps", eps)

  def init_fn(params):
    return ScaleByAdadeltaState(square_avg=numerics.zeros_like(params), acc_delta=numerics.zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.square_avg)

    def leaf(g, v, a):
      v = rho * v + (1 - rho) * g * g
      u = jnp.sqrt(a + eps) / jnp.sqrt(v + eps) * g
      a = rho * a + (1 - rho) * u * u
      return u, v, a

    updates, v, a = _common.leafwise(leaf, updates, state.square_avg, state.acc_delta)
    return updates, ScaleByAdadeltaState(square_avg=v, acc_delta=a)

  return base.GradientTransformation(init_fn, update_fn)
