"""Adafactor: a chain of the factored second moment, block-RMS clipping, relative step sizes and optional momentum."""

from typing import Any, Optional

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src.transforms import clipping
from jopt._src import combine
from jopt._src.transforms import ema as ema_lib
from jopt._src.transforms import factored as factorized
from jopt._src.transforms import layerwise
from jopt._src.transforms import masking
from jopt._src.transforms import regularization
from jopt._src.transforms import scaling


@checks.public
@base.declare_callable_args("weight_decay_mask")
def adafactor(
    learning_rate: Optional[base.ScalarOrSchedule] = None,
    min_dim_size_to_factor: int = 128,
    decay_rate: jax.typing.ArrayLike = 0.8,
    decay_offset: jax.typing.ArrayLike = 0,
    multiply_by_parameter_scale: bool = True,
    clipping_threshold: Optional[jax.typing.ArrayLike] = 1.0,
    momentum: Optional[jax.typing.ArrayLike] = None,
    dtype_momentum: Any = jnp.float32,
    weight_decay_rate: Optional[base.ScalarOrSchedule] = None,
    eps: jax.typing.ArrayLike = 1e-30,
    factored: bool = True,
    weight_decay_mask: Optional[masking.Mask] = None,
) -> base.GradientTransformationExtraArgs:
  """Adafactor: Adam-like steps from a factored second moment, at a step size relative to each parameter's scale.

  .. math::
    \\hat u_t = \\mathrm{clip}_{\\text{block rms} \\le d}\\!\\left(g_t / \\sqrt{\\hat V_t}\\right), \\quad
    \\theta_t = \\theta_{t-1} - \\left(\\eta_t \\max(\\mathrm{rms}(\\theta_{t-1}), 10^{-3})\\, \\hat u_t
      \\ [\\text{EMA with momentum}] + \\lambda \\theta_{t-1}\\right)

  with :math:`\\hat V_t` the factored second moment of `scale_by_factored_rms`.
  Shazeer & Stern, 2018, "Adafactor: Adaptive Learning Rates with Sublinear
  Memory Cost" (https://arxiv.org/abs/1804.04235).

  Differs from optax: updates keep each param's dtype (optax returns float32
  updates for bfloat16 params when `momentum` is set, since `dtype_momentum`
  defaults to float32; jopt keeps the momentum in `dtype_momentum` but casts
  the update back); `decay_offset > 0` does not give NaN from a fresh state
  (see `scale_by_factored_rms`).

  Args:
    learning_rate: a non-negative float, scalar array or schedule; None for no
      scaling (the relative step size alone).
    min_dim_size_to_factor: factor a leaf's second moment only when its
      second-largest axis has at least this many elements, >= 1.
    decay_rate: the exponent of the second-moment decay schedule.
    decay_offset: the step the decay schedule counts from (fine-tuning), >= 0.
    multiply_by_parameter_scale: scale the step by `max(rms(param), 1e-3)`.
    clipping_threshold: clip each leaf's update to this block rms (>= 0), or None.
    momentum: EMA decay of the updates, in [0, 1), or None for no momentum.
    dtype_momentum: dtype of the momentum buffer.
    weight_decay_rate: decoupled weight decay (not scaled by the learning
      rate), >= 0, a schedule, or None.
    eps: added to `|g|^2`, >= 0.
    factored: use the factored estimate for leaves with two large axes.
    weight_decay_mask: which leaves to decay (tree of bools or function of params).

  Returns:
    A chain of `scale_by_factored_rms`, `clip_by_block_rms`,
    `scale_by_learning_rate(flip_sign=False)`, `scale_by_param_block_rms`,
    `ema(momentum, debias=False)`, `add_decayed_weights` and `scale(-1)`, each
    only when enabled.
  """
  fn = "adafactor"
  checks.check_nonnegative(fn, "learning_rate", learning_rate)
  checks.check_decay(fn, "momentum", momentum)
  checks.check_nonnegative(fn, "weight_decay_rate", weight_decay_rate)
  checks.check_nonnegative(fn, "clipping_threshold", clipping_threshold, finite=False)
  # Checked here so that errors name adafactor's arguments, not scale_by_factored_rms's.
  checks.check_nonnegative(fn, "decay_rate", decay_rate)
  checks.check_nonnegative(fn, "decay_offset", decay_offset)
  checks.check_nonnegative(fn, "eps", eps)
  checks.check_int(fn, "min_dim_size_to_factor", min_dim_size_to_factor)
  txs = [factorized.scale_by_factored_rms(factored, decay_rate, decay_offset, min_dim_size_to_factor, eps)]
  if clipping_threshold is not None:
    txs.append(clipping.clip_by_block_rms(clipping_threshold))
  if learning_rate is not None:
    txs.append(scaling.scale_by_learning_rate(learning_rate, flip_sign=False))
  if multiply_by_parameter_scale:
    txs.append(layerwise.scale_by_param_block_rms())
  if momentum is not None:
    txs.append(ema_lib.ema(momentum, debias=False, accumulator_dtype=dtype_momentum))
  if weight_decay_rate is not None:
    txs.append(regularization.add_decayed_weights(weight_decay_rate, mask=weight_decay_mask))
  txs.append(scaling.scale(-1))
  return combine.chain(*txs)
