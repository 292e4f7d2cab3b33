"""PyTorch's RMSprop, Adagrad and Adadelta scalings: jopt's blocks on real views, Adagrad's `eps` and `lr_decay`."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src.schedules import exponential
from jopt._src.torch import conventions as _common
from jopt._src.transforms import rms


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

  (`\\bar g = 0` when not centered). This is `jopt.scale_by_rms(alpha, eps,
  eps_in_sqrt=False)`, or `jopt.scale_by_stddev(alpha, eps, eps_in_sqrt=False)`
  when centered, run on real views of complex leaves (`torch.view_as_real`);
  optax's default puts `eps` inside the square root (optax #532). The centered
  variance is clipped at 0 before the square root (rounding can make it
  slightly negative, where PyTorch returns NaN). Momentum is a separate
  `jopt.trace` after this transform (PyTorch's buffer `b = mu b + g / avg`
  starts at 0). Hinton, 2012, Lecture 6e
  (https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf);
  Graves, 2013 for the centered form (https://arxiv.org/abs/1308.0850).

  Args:
    alpha: smoothing constant, in [0, 1).
    eps: added to the denominator outside the square root, >= 0.
    centered: normalise by the estimated variance instead of the second moment.

  Returns:
    A `GradientTransformation` with state `jopt.ScaleByRmsState` (`nu` is
    PyTorch's `square_avg`), or `jopt.ScaleByRStdDevState` when centered (`mu`
    is `grad_avg`).
  """
  fn = "scale_by_rmsprop"
  checks.check_decay(fn, "alpha", alpha)
  checks.check_nonnegative(fn, "eps", eps)
  block = rms.scale_by_stddev if centered else rms.scale_by_rms
  return _common.view_as_real(block(alpha, eps, eps_in_sqrt=False))


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

  Differs from `jopt.scale_by_rss` / `optax.adagrad` in where `eps` goes (they
  take `1 / sqrt(s + eps)`), in defaults (optax: `initial_accumulator_value=0.1`,
  `eps=1e-7`; PyTorch: 0 and 1e-10) and in `lr_decay` (absent in optax; the
  factor is `jopt.inverse_time_decay(1, 1, lr_decay)`). Complex leaves are
  real views (`torch.view_as_real`). Duchi et al., 2011, "Adaptive Subgradient
  Methods" (https://jmlr.org/papers/v12/duchi11a.html); source: `torch.optim.Adagrad`.

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
  decay = exponential.inverse_time_decay(1.0, 1, lr_decay)

  def init_fn(params):
    return ScaleByAdagradState(
        count=numerics.init_count(), sum=numerics.full_like(params, initial_accumulator_value)
    )

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.sum, shapes=True)
    sums = numerics.tree_map(lambda g, s: s + numerics.abs_sq(g), updates, state.sum)
    factor = decay(state.count)
    new_updates = numerics.tree_map(
        lambda g, s: (g / (jnp.sqrt(s) + eps) * factor).astype(g.dtype), updates, sums)
    sums = numerics.cast_like(sums, state.sum)
    return new_updates, ScaleByAdagradState(numerics.safe_increment(state.count), sums)

  return _common.view_as_real(base.GradientTransformation(init_fn, update_fn))


@checks.public
def scale_by_adadelta(
    rho: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-6,
) -> base.GradientTransformation:
  """PyTorch's Adadelta scaling: `jopt.scale_by_adadelta` on real views of complex leaves.

  .. math::
    v_t = \\rho v_{t-1} + (1-\\rho) g_t^2, \\quad
    u_t = \\frac{\\sqrt{a_{t-1} + \\epsilon}}{\\sqrt{v_t + \\epsilon}}\\, g_t, \\quad
    a_t = \\rho a_{t-1} + (1-\\rho) u_t^2

  The learning rate (PyTorch default 1.0) multiplies `u_t` afterwards but not
  the stored `a_t`. Differs from PyTorch: `rho = 1` (no adaptation: `u_t =
  g_t`) is rejected. Zeiler, 2012, "ADADELTA: An Adaptive Learning Rate Method"
  (https://arxiv.org/abs/1212.5701); source: `torch.optim.Adadelta`.

  Args:
    rho: decay of both averages, in [0, 1).
    eps: added inside both square roots, >= 0.

  Returns:
    A `GradientTransformation` with state `jopt.ScaleByAdaDeltaState` (`e_g`
    is PyTorch's `square_avg`, `e_x` its `acc_delta`).
  """
  return _common.view_as_real(rms.scale_by_adadelta(rho, eps))
