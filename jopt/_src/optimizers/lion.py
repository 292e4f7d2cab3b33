"""Sign-based optimizers: `sign_sgd` and `lion`, each a chain of a sign scaling, optional weight decay and the learning rate."""

from typing import Any, Optional

import jax

from jopt._src import base
from jopt._src import checks
from jopt._src import combine
from jopt._src.transforms import masking
from jopt._src.transforms import regularization
from jopt._src.transforms import scaling
from jopt._src.transforms import sign


@checks.public
def sign_sgd(learning_rate: base.ScalarOrSchedule) -> base.GradientTransformationExtraArgs:
  """signSGD: steps along the sign of each gradient element.

  .. math::
    \\theta_t = \\theta_{t-1} - \\eta_t\\, \\mathrm{sign}(g_t)

  Bernstein et al., 2018 (https://arxiv.org/abs/1802.04434); Balles et al.,
  2020 (https://arxiv.org/abs/2002.08056).

  Args:
    learning_rate: a non-negative float, scalar array or schedule.

  Returns:
    `chain(scale_by_sign(), scale_by_learning_rate(learning_rate))`.
  """
  checks.check_nonnegative("sign_sgd", "learning_rate", learning_rate)
  return combine.chain(sign.scale_by_sign(), scaling.scale_by_learning_rate(learning_rate))


@checks.public
@base.declare_callable_args("mask")
def lion(
    learning_rate: base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.99,
    mu_dtype: Optional[Any] = None,
    weight_decay: base.ScalarOrSchedule = 1e-3,
    mask: Optional[masking.Mask] = None,
) -> base.GradientTransformationExtraArgs:
  """Lion: the sign of an interpolated momentum, with decoupled weight decay.

  .. math::
    c_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t, \\quad
    \\theta_t = \\theta_{t-1} - \\eta_t \\left(\\mathrm{sign}(c_t) + \\lambda \\theta_{t-1}\\right), \\quad
    m_t = \\beta_2 m_{t-1} + (1-\\beta_2) g_t

  The decay is scaled by the learning rate, as in optax and PyTorch. Chen et
  al., 2023, "Symbolic Discovery of Optimization Algorithms"
  (https://arxiv.org/abs/2302.06675).

  Args:
    learning_rate: a non-negative float, scalar array or schedule.
    b1: weight of the momentum in the update direction, in [0, 1].
    b2: decay of the momentum, in [0, 1).
    mu_dtype: dtype of the momentum (default: the param's).
    weight_decay: the decoupled decay :math:`\\lambda`, >= 0, or a schedule.
    mask: which leaves to decay (tree of bools or function of params).

  Returns:
    `chain(scale_by_lion(b1, b2, mu_dtype), add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate))`.
  """
  checks.check_nonnegative("lion", "learning_rate", learning_rate)
  return combine.chain(
      sign.scale_by_lion(b1=b1, b2=b2, mu_dtype=mu_dtype),
      regularization.add_decayed_weights(weight_decay, mask),
      scaling.scale_by_learning_rate(learning_rate),
  )
