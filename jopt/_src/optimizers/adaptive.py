"""Adam and its variants: every one a chain of a moment scaling, optional weight decay, and the learning rate."""

from typing import Any, Optional

import jax

from jopt._src import checks
from jopt._src.transforms import adam as adam_lib
from jopt._src.transforms import adam as adaptive
from jopt._src import base
from jopt._src import combine
from jopt._src.transforms import masking
from jopt._src.transforms import regularization
from jopt._src.transforms import scaling


@checks.public
def adam(
    learning_rate: base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = False,
    nu_dtype: Optional[Any] = None,
) -> base.GradientTransformationExtraArgs:
  """Adam: `theta <- theta - lr * m_hat / (sqrt(v_hat + eps_root) + eps)`.

  See `scale_by_adam` for the moment updates. Kingma & Ba, 2014
  (https://arxiv.org/abs/1412.6980).

  Args:
    learning_rate: a non-negative float, scalar array or schedule.
    b1: decay of the first moment, in [0, 1).
    b2: decay of the second moment, in [0, 1).
    eps: added to the denominator, >= 0.
    eps_root: added inside the square root, >= 0.
    mu_dtype: dtype of the first moment.
    nesterov: Nesterov momentum (NAdam).
    nu_dtype: dtype of the second moment (jopt extension).

  Returns:
    `chain(scale_by_adam(...), scale_by_learning_rate(learning_rate))`.

  Example:
    >>> import jax, jax.numpy as jnp, jopt
    >>> tx = jopt.adam(1e-2)
    >>> params = jnp.array([1.0, -2.0])
    >>> state = tx.init(params)
    >>> grads = jax.grad(lambda p: jnp.sum(p ** 2))(params)
    >>> updates, state = tx.update(grads, state)
    >>> jopt.apply_updates(params, updates)
    Array([ 0.99, -1.99], dtype=float32)
  """
  return combine.chain(
      adam_lib.scale_by_adam(
          b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype,
          nesterov=nesterov, nu_dtype=nu_dtype,
      ),
      scaling.scale_by_learning_rate(learning_rate),
  )


@checks.public
@base.declare_callable_args("mask")
def adamw(
    learning_rate: base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Optional[Any] = None,
    weight_decay: base.ScalarOrSchedule = 1e-4,
    mask: Optional[masking.Mask] = None,
    *,
    nesterov: bool = False,
    nu_dtype: Optional[Any] = None,
) -> base.GradientTransformationExtraArgs:
  """AdamW: Adam with decoupled weight decay.

  .. math::
    \\theta_t = \\theta_{t-1} - \\eta_t \\left(\\hat m_t / (\\sqrt{\\hat v_t + \\epsilon_{root}} + \\epsilon)
    + \\lambda\\, \\theta_{t-1}\\right)

  The decay is scaled by the learning rate, as in optax and PyTorch (the paper
  scales it by the schedule multiplier only). Loshchilov & Hutter, 2019,
  "Decoupled Weight Decay Regularization" (https://arxiv.org/abs/1711.05101).

  Args:
    learning_rate: a non-negative float, scalar array or schedule.
    b1: decay of the first moment, in [0, 1).
    b2: decay of the second moment, in [0, 1).
    eps: added to the denominator, >= 0.
    eps_root: added inside the square root, >= 0.
    mu_dtype: dtype of the first moment.
    weight_decay: the decoupled decay lambda, >= 0, or a schedule.
    mask: which leaves to decay (tree of bools or function of params).
    nesterov: Nesterov momentum (NAdamW).
    nu_dtype: dtype of the second moment (jopt extension).

  Returns:
    `chain(scale_by_adam(...), add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate))`.
  """
  return combine.chain(
      adam_lib.scale_by_adam(
          b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype,
          nesterov=nesterov, nu_dtype=nu_dtype,
      ),
      regularization.add_decayed_weights(weight_decay, mask),
      scaling.scale_by_learning_rate(learning_rate),
  )


@checks.public
def nadam(
    learning_rate: base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = True,
    nu_dtype: Optional[Any] = None,
) -> base.GradientTransformationExtraArgs:
  """NAdam: Adam with Nesterov momentum, `adam(..., nesterov=True)`.

  .. math::
    \\hat m_t = \\frac{\\beta_1 m_t}{1-\\beta_1^{t+1}} + \\frac{(1-\\beta_1) g_t}{1-\\beta_1^t}, \\quad
    \\theta_t = \\theta_{t-1} - \\eta_t\\, \\hat m_t / (\\sqrt{\\hat v_t + \\epsilon_{root}} + \\epsilon)

  Dozat, 2016, "Incorporating Nesterov Momentum into Adam"
  (https://openreview.net/pdf?id=OM0jvwB8jIp57ZJjtNEZ). As in optax, `nesterov`
  is a keyword-only argument defaulting to True.

  Args:
    learning_rate: a non-negative float, scalar array or schedule.
    b1: decay of the first moment, in [0, 1).
    b2: decay of the second moment, in [0, 1).
    eps: added to the denominator, >= 0.
    eps_root: added inside the square root, >= 0.
    mu_dtype: dtype of the first moment.
    nesterov: Nesterov momentum (False gives `adam`).
    nu_dtype: dtype of the second moment (jopt extension).

  Returns:
    `chain(scale_by_adam(..., nesterov=True), scale_by_learning_rate(learning_rate))`.
  """
  return adam(
      learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype,
      nesterov=nesterov, nu_dtype=nu_dtype,
  )


@checks.public
@base.declare_callable_args("mask")
def nadamw(
    learning_rate: base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Optional[Any] = None,
    weight_decay: base.ScalarOrSchedule = 1e-4,
    mask: Optional[masking.Mask] = None,
    *,
    nesterov: bool = True,
    nu_dtype: Optional[Any] = None,
) -> base.GradientTransformationExtraArgs:
  """NAdamW: NAdam with decoupled weight decay, `adamw(..., nesterov=True)`.

  .. math::
    \\theta_t = \\theta_{t-1} - \\eta_t \\left(\\hat m_t / (\\sqrt{\\hat v_t + \\epsilon_{root}} + \\epsilon)
    + \\lambda\\, \\theta_{t-1}\\right)

  with NAdam's :math:`\\hat m_t` (see `nadam`). Dozat, 2016
  (https://openreview.net/pdf?id=OM0jvwB8jIp57ZJjtNEZ); Loshchilov & Hutter,
  2019 (https://arxiv.org/abs/1711.05101).

  Args:
    learning_rate: a non-negative float, scalar array or schedule.
    b1: decay of the first moment, in [0, 1).
    b2: decay of the second moment, in [0, 1).
    eps: added to the denominator, >= 0.
    eps_root: added inside the square root, >= 0.
    mu_dtype: dtype of the first moment.
    weight_decay: the decoupled decay lambda, >= 0, or a schedule.
    mask: which leaves to decay (tree of bools or function of params).
    nesterov: Nesterov momentum (False gives `adamw`).
    nu_dtype: dtype of the second moment (jopt extension).

  Returns:
    `chain(scale_by_adam(..., nesterov=True), add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate))`.
  """
  return adamw(
      learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype,
      weight_decay=weight_decay, mask=mask, nesterov=nesterov, nu_dtype=nu_dtype,
  )


@checks.public
def adamax(
    learning_rate: base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
) -> base.GradientTransformationExtraArgs:
  """Adamax: Adam with an exponentially weighted infinity norm in place of the second moment.

  .. math::
    \\theta_t = \\theta_{t-1} - \\eta_t\\, \\frac{m_t / (1-\\beta_1^t)}{\\max(|g_t| + \\epsilon, \\beta_2 u_{t-1})}

  See `scale_by_adamax`. Kingma & Ba, 2014, section 7.1
  (https://arxiv.org/abs/1412.6980).

  Args:
    learning_rate: a non-negative float, scalar array or schedule.
    b1: decay of the first moment, in [0, 1).
    b2: decay of the infinity norm, in [0, 1).
    eps: added to `|g|`, >= 0.

  Returns:
    `chain(scale_by_adamax(b1, b2, eps), scale_by_learning_rate(learning_rate))`.
  """
  return combine.chain(
      adaptive.scale_by_adamax(b1=b1, b2=b2, eps=eps),
      scaling.scale_by_learning_rate(learning_rate),
  )


@checks.public
@base.declare_callable_args("mask")
def adamaxw(
    learning_rate: base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: base.ScalarOrSchedule = 1e-4,
    mask: Optional[masking.Mask] = None,
) -> base.GradientTransformationExtraArgs:
  """AdamaxW: Adamax with decoupled weight decay.

  .. math::
    \\theta_t = \\theta_{t-1} - \\eta_t \\left(\\frac{m_t / (1-\\beta_1^t)}{u_t} + \\lambda\\, \\theta_{t-1}\\right)

  Kingma & Ba, 2014 (https://arxiv.org/abs/1412.6980); Loshchilov & Hutter,
  2019 (https://arxiv.org/abs/1711.05101).

  Args:
    learning_rate: a non-negative float, scalar array or schedule.
    b1: decay of the first moment, in [0, 1).
    b2: decay of the infinity norm, in [0, 1).
    eps: added to `|g|`, >= 0.
    weight_decay: the decoupled decay lambda, >= 0, or a schedule.
    mask: which leaves to decay (tree of bools or function of params).

  Returns:
    `chain(scale_by_adamax(b1, b2, eps), add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate))`.
  """
  return combine.chain(
      adaptive.scale_by_adamax(b1=b1, b2=b2, eps=eps),
      regularization.add_decayed_weights(weight_decay, mask),
      scaling.scale_by_learning_rate(learning_rate),
  )


@checks.public
def amsgrad(
    learning_rate: base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Optional[Any] = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
    *,
    nu_dtype: Optional[Any] = None,
) -> base.GradientTransformationExtraArgs:
  """AMSGrad: Adam that divides by the running maximum of the second moment.

  .. math::
    \\theta_t = \\theta_{t-1} - \\eta_t\\, \\hat m_t / (\\sqrt{\\max_{s \\le t} \\hat v_s + \\epsilon_{root}} + \\epsilon)

  See `scale_by_amsgrad`. Reddi, Kale & Kumar, 2018
  (https://openreview.net/forum?id=ryQu7f-RZ).

  Args:
    learning_rate: a non-negative float, scalar array or schedule.
    b1: decay of the first moment, in [0, 1).
    b2: decay of the second moment, in [0, 1).
    eps: added to the denominator, >= 0.
    eps_root: added inside the square root, >= 0.
    mu_dtype: dtype of the first moment.
    bias_correction_mu: bias-correct the first moment.
    bias_correction_nu: bias-correct the second moment before the maximum.
    nu_dtype: dtype of the second moment and its maximum (jopt extension).

  Returns:
    `chain(scale_by_amsgrad(...), scale_by_learning_rate(learning_rate))`.
  """
  return combine.chain(
      adaptive.scale_by_amsgrad(
          b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype,
          bias_correction_mu=bias_correction_mu, bias_correction_nu=bias_correction_nu,
          nu_dtype=nu_dtype,
      ),
      scaling.scale_by_learning_rate(learning_rate),
  )


@checks.public
def radam(
    learning_rate: base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    threshold: jax.typing.ArrayLike = 5.0,
    *,
    nesterov: bool = False,
    mu_dtype: Optional[Any] = None,
    nu_dtype: Optional[Any] = None,
) -> base.GradientTransformationExtraArgs:
  """RAdam: Adam rectified by the variance of its adaptive step size.

  .. math::
    \\theta_t = \\theta_{t-1} - \\eta_t\\, r_t \\hat m_t / (\\sqrt{\\hat v_t + \\epsilon_{root}} + \\epsilon)
    \\ \\text{ if } \\rho_t \\ge \\text{threshold, else } \\theta_{t-1} - \\eta_t \\hat m_t

  See `scale_by_radam` for :math:`\\rho_t` and :math:`r_t`, and how jopt's
  :math:`\\rho_t` differs from optax's (more accurate in float32). Liu et al.,
  2020 (https://arxiv.org/abs/1908.03265).

  Args:
    learning_rate: a non-negative float, scalar array or schedule.
    b1: decay of the first moment, in [0, 1).
    b2: decay of the second moment, in [0, 1).
    eps: added to the denominator, >= 0.
    eps_root: added inside the square root, >= 0.
    threshold: rectify once :math:`\\rho_t` reaches it, >= 4.
    nesterov: use NAdam's first moment.
    mu_dtype: dtype of the first moment (jopt extension).
    nu_dtype: dtype of the second moment (jopt extension).

  Returns:
    `chain(scale_by_radam(...), scale_by_learning_rate(learning_rate))`.
  """
  return combine.chain(
      adaptive.scale_by_radam(
          b1=b1, b2=b2, eps=eps, eps_root=eps_root, threshold=threshold,
          nesterov=nesterov, mu_dtype=mu_dtype, nu_dtype=nu_dtype,
      ),
      scaling.scale_by_learning_rate(learning_rate),
  )


@checks.public
def adabelief(
    learning_rate: base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-16,
    eps_root: jax.typing.ArrayLike = 1e-16,
    *,
    nesterov: bool = False,
    mu_dtype: Optional[Any] = None,
    nu_dtype: Optional[Any] = None,
) -> base.GradientTransformationExtraArgs:
  """AdaBelief: Adam that scales by the spread of the gradient around its moving mean.

  .. math::
    \\theta_t = \\theta_{t-1} - \\eta_t\\, \\hat m_t / (\\sqrt{\\hat s_t} + \\epsilon), \\quad
    s_t = \\beta_2 s_{t-1} + (1-\\beta_2)|g_t - m_t|^2 + \\epsilon_{root}

  See `scale_by_belief`. Zhuang et al., 2020 (https://arxiv.org/abs/2010.07468).

  Args:
    learning_rate: a non-negative float, scalar array or schedule.
    b1: decay of the first moment, in [0, 1).
    b2: decay of the second central moment, in [0, 1).
    eps: added to the denominator, >= 0.
    eps_root: added to the stored second moment every step, >= 0.
    nesterov: use NAdam's first moment.
    mu_dtype: dtype of the first moment (jopt extension).
    nu_dtype: dtype of the second moment (jopt extension).

  Returns:
    `chain(scale_by_belief(...), scale_by_learning_rate(learning_rate))`.
  """
  return combine.chain(
      adaptive.scale_by_belief(
          b1=b1, b2=b2, eps=eps, eps_root=eps_root, nesterov=nesterov,
          mu_dtype=mu_dtype, nu_dtype=nu_dtype,
      ),
      scaling.scale_by_learning_rate(learning_rate),
  )


@checks.public
def yogi(
    learning_rate: base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-3,
) -> base.GradientTransformationExtraArgs:
  """Yogi: Adam whose second moment changes additively, so it forgets large gradients slowly.

  .. math::
    v_t = v_{t-1} - (1-\\beta_2)\\, \\mathrm{sign}(v_{t-1} - g_t^2)\\, g_t^2, \\quad
    \\theta_t = \\theta_{t-1} - \\eta_t\\, \\hat m_t / (\\sqrt{\\hat v_t} + \\epsilon)

  Both moments start at 1e-6, as in optax. See `scale_by_yogi`. Zaheer et al.,
  2018 (https://papers.nips.cc/paper/8186-adaptive-methods-for-nonconvex-optimization.pdf).

  Args:
    learning_rate: a non-negative float, scalar array or schedule.
    b1: decay of the first moment, in [0, 1).
    b2: rate of the second moment's update, in [0, 1).
    eps: added to the denominator, >= 0.

  Returns:
    `chain(scale_by_yogi(b1, b2, eps), scale_by_learning_rate(learning_rate))`.
  """
  return combine.chain(
      adaptive.scale_by_yogi(b1=b1, b2=b2, eps=eps),
      scaling.scale_by_learning_rate(learning_rate),
  )
