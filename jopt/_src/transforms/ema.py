"""Exponential moving average of updates: `ema`."""

from typing import Any, NamedTuple, Optional

import jax

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics


class EmaState(NamedTuple):
  """State of `ema`."""

  count: jax.Array  # shape=(), int32: the number of updates so far.
  ema: base.Params  # the moving average, like params (dtype: accumulator_dtype or the param's).


@checks.public
def ema(
    decay: float,
    debias: bool = True,
    accumulator_dtype: Optional[Any] = None,
) -> base.GradientTransformation:
  """Replaces each update by an exponential moving average of past updates.

  .. math::
    e_t = \\beta e_{t-1} + (1 - \\beta) u_t, \\qquad
    u'_t = e_t / (1 - \\beta^t) \\ \\text{(debias)} \\ \\text{or}\\ e_t,

  with :math:`e_0 = 0` and :math:`\\beta` = `decay`. Unlike `trace`
  (:math:`e_t = \\beta e_{t-1} + u_t`) the new update is weighted by
  :math:`1 - \\beta`. The debiasing is Adam's (Kingma & Ba, 2014,
  https://arxiv.org/abs/1412.6980), computed as `-expm1(t log beta)` (exact in
  float32; optax's `1 - beta**t` is up to ~7e-5 relative off for beta near 1).

  Args:
    decay: :math:`\\beta`, in [0, 1).
    debias: divide by :math:`1 - \\beta^t`.
    accumulator_dtype: dtype of the stored average (default: each param's).

  Returns:
    A `GradientTransformation` with state `EmaState`. Updates keep each
    param's dtype.
  """
  checks.check_decay("ema", "decay", decay)
  accumulator_dtype = numerics.canonicalize_dtype(accumulator_dtype)

  def init_fn(params):
    return EmaState(count=numerics.init_count(), ema=numerics.zeros_like(params, dtype=accumulator_dtype))

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure("ema", updates, state.ema, shapes=True)
    new_ema = numerics.update_moment(updates, state.ema, decay, 1)
    count = numerics.safe_increment(state.count)
    out = numerics.bias_correction(new_ema, decay, count) if debias else new_ema
    out = numerics.cast_like(out, updates)
    return out, EmaState(count=count, ema=numerics.cast_like(new_ema, state.ema))

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "elementwise", "ema")
