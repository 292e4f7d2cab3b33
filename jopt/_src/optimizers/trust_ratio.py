"""Layer-wise adaptive optimizers: `lamb`, `lars` and `novograd`, each a chain of building blocks."""

from typing import Optional

import jax

from jopt._src.transforms import adam as adam_lib
from jopt._src import base
from jopt._src import checks
from jopt._src import combine
from jopt._src.transforms import layerwise
from jopt._src.transforms import masking
from jopt._src.transforms import momentum as momentum_lib
from jopt._src.transforms import regularization
from jopt._src.transforms import scaling


@checks.public
@base.declare_callable_args("mask")
def lamb(
    learning_rate: base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-6,
    eps_root: jax.typing.ArrayLike = 0.0,
    weight_decay: base.ScalarOrSchedule = 0.0,
    mask: Optional[masking.Mask] = None,
) -> base.GradientTransformationExtraArgs:
  """LAMB: the AdamW direction, rescaled per leaf by its trust ratio.

  .. math::
    r_t = \\frac{\\hat m_t}{\\sqrt{\\hat v_t + \\epsilon_{root}} + \\epsilon} + \\lambda \\theta_{t-1}, \\quad
    \\theta_t = \\theta_{t-1} - \\eta_t \\frac{\\|\\theta_{t-1}\\|}{\\|r_t\\|} r_t

  per leaf (ratio 1 where either norm is 0). You et al., 2020, "Large Batch
  Optimization for Deep Learning: Training BERT in 76 minutes"
  (https://arxiv.org/abs/1904.00962).

  Args:
    learning_rate: a non-negative float, scalar array or schedule.
    b1: decay of the first moment, in [0, 1).
    b2: decay of the second moment, in [0, 1).
    eps: added to the denominator, >= 0.
    eps_root: added inside the square root, >= 0.
    weight_decay: the decoupled decay :math:`\\lambda`, >= 0, or a schedule.
    mask: which leaves to decay (tree of bools or function of params).

  Returns:
    `chain(scale_by_adam(b1, b2, eps, eps_root), add_decayed_weights(weight_decay, mask),
    scale_by_trust_ratio(), scale_by_learning_rate(learning_rate))`.
  """
  checks.check_nonnegative("lamb", "learning_rate", learning_rate)
  return combine.chain(
      adam_lib.scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root),
      regularization.add_decayed_weights(weight_decay, mask),
      layerwise.scale_by_trust_ratio(),
      scaling.scale_by_learning_rate(learning_rate),
  )


@checks.public
@base.declare_callable_args("weight_decay_mask", "trust_ratio_mask")
def lars(
    learning_rate: base.ScalarOrSchedule,
    weight_decay: base.ScalarOrSchedule = 0.0,
    weight_decay_mask: masking.Mask = True,
    trust_coefficient: jax.typing.ArrayLike = 0.001,
    eps: jax.typing.ArrayLike = 0.0,
    trust_ratio_mask: masking.Mask = True,
    momentum: jax.typing.ArrayLike = 0.9,
    nesterov: bool = False,
) -> base.GradientTransformationExtraArgs:
  """LARS: SGD with momentum on the weight-decayed gradient, rescaled per leaf by its trust ratio.

  .. math::
    r_t = g_t + \\lambda \\theta_{t-1}, \\quad
    s_t = -\\eta_t\\, k \\frac{\\|\\theta_{t-1}\\|}{\\|r_t\\| + \\epsilon} r_t, \\quad
    u_t = s_t + \\mu u_{t-1}

  per leaf (ratio 1 where either norm is 0); the momentum trace is taken after
  the learning rate, as in optax. Both masks default to True (every leaf), as
  in optax. You et al., 2017, "Large Batch Training of Convolutional Networks"
  (https://arxiv.org/abs/1708.03888).

  Args:
    learning_rate: a non-negative float, scalar array or schedule.
    weight_decay: :math:`\\lambda`, >= 0, or a schedule.
    weight_decay_mask: which leaves to decay (tree of bools, a bool, or a
      function of params).
    trust_coefficient: the trust ratio multiplier `k`, >= 0.
    eps: added to the update norm, >= 0.
    trust_ratio_mask: which leaves get the trust ratio (tree of bools, a bool,
      or a function of params).
    momentum: the momentum :math:`\\mu`, in [0, 1).
    nesterov: use Nesterov momentum.

  Returns:
    `chain(add_decayed_weights(weight_decay, weight_decay_mask),
    masked(scale_by_trust_ratio(trust_coefficient=..., eps=...), trust_ratio_mask),
    scale_by_learning_rate(learning_rate), trace(momentum, nesterov))`.
  """
  checks.check_nonnegative("lars", "learning_rate", learning_rate)
  checks.check_decay("lars", "momentum", momentum)  # named here, not as `trace`'s `decay`
  trust = layerwise.scale_by_trust_ratio(trust_coefficient=trust_coefficient, eps=eps)
  return combine.chain(
      regularization.add_decayed_weights(weight_decay, mask=weight_decay_mask),
      masking.masked(trust, trust_ratio_mask),
      scaling.scale_by_learning_rate(learning_rate),
      momentum_lib.trace(decay=momentum, nesterov=nesterov),
  )


@checks.public
def novograd(
    learning_rate: base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.25,
    eps: jax.typing.ArrayLike = 1e-6,
    eps_root: jax.typing.ArrayLike = 0.0,
    weight_decay: base.ScalarOrSchedule = 0.0,
) -> base.GradientTransformationExtraArgs:
  """NovoGrad: momentum on gradients normalised by a per-leaf second moment.

  .. math::
    v_t = \\beta_2 v_{t-1} + (1-\\beta_2)\\|g_t\\|^2, \\quad
    m_t = \\beta_1 m_{t-1} + \\frac{g_t}{\\sqrt{v_t + \\epsilon_{root}} + \\epsilon} + \\lambda \\theta_{t-1}, \\quad
    \\theta_t = \\theta_{t-1} - \\eta_t m_t

  with :math:`v_1 = \\|g_1\\|^2`; see `scale_by_novograd`. Ginsburg et al., 2019
  (https://arxiv.org/abs/1905.11286).

  Args:
    learning_rate: a non-negative float, scalar array or schedule.
    b1: decay of the first moment, in [0, 1).
    b2: decay of the per-leaf second moment, in [0, 1).
    eps: added to the denominator, >= 0.
    eps_root: added inside the square root, >= 0.
    weight_decay: :math:`\\lambda`, >= 0, or a schedule (optax accepts only a
      constant here). Nonzero needs `params`.

  Returns:
    `chain(scale_by_novograd(b1, b2, eps, eps_root, weight_decay),
    scale_by_learning_rate(learning_rate))`.
  """
  checks.check_nonnegative("novograd", "learning_rate", learning_rate)
  return combine.chain(
      layerwise.scale_by_novograd(b1=b1, b2=b2, eps=eps, eps_root=eps_root, weight_decay=weight_decay),
      scaling.scale_by_learning_rate(learning_rate),
  )
