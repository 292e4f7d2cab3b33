"""`torch.optim` optimizers as jopt chains: same argument names, defaults and numbers as PyTorch 2.x.

Every constructor drops PyTorch's `params` argument (jopt transforms are
functional) and its execution switches (`foreach`, `fused`, `capturable`,
`differentiable`); the remaining arguments keep PyTorch's names, order and
defaults. `lr` may be a float or a jopt schedule `count -> lr`; the update with
count `k` (0 for the first) uses `lr(k)`, which is PyTorch's learning rate
after `k` calls of `scheduler.step()`.
"""

from typing import Sequence

import jax

from jopt._src import base
from jopt._src import checks
from jopt._src import combine
from jopt._src.transforms import momentum as momentum_lib
from jopt._src.transforms import scaling
from jopt._src.torch import conventions as _common
from jopt._src.torch import adam_variants as adam_lib
from jopt._src.torch import adaptive_variants as adaptive
from jopt._src.torch import sgd_variants as torch_momentum

_Betas = Sequence[jax.typing.ArrayLike]


def _chain(fn, lr, maximize, coupled_wd, scale, decoupled_wd=0.0, extra=()):
  checks.check_nonnegative(fn, "lr", lr)
  checks.check_nonnegative(fn, "weight_decay", coupled_wd)
  checks.check_nonnegative(fn, "weight_decay", decoupled_wd)
  parts = _common.negate_if(maximize) + _common.decay_if(coupled_wd) + [scale]
  parts += list(extra) + _common.decay_if(decoupled_wd)
  return combine.chain(*parts, scaling.scale_by_learning_rate(lr))


@checks.public
def sgd(
    lr: base.ScalarOrSchedule = 1e-3,
    momentum: jax.typing.ArrayLike = 0.0,
    dampening: jax.typing.ArrayLike = 0.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    nesterov: bool = False,
    *,
    maximize: bool = False,
) -> base.GradientTransformationExtraArgs:
  """`torch.optim.SGD`: coupled L2, a momentum buffer with dampening, optional Nesterov.

  .. math::
    g \\leftarrow \\pm g + \\lambda\\theta, \\quad b_1 = g_1,\\ b_t = \\mu b_{t-1} + (1-\\tau) g_t, \\quad
    \\theta \\leftarrow \\theta - \\mathrm{lr}\\,(b_t \\text{ or } g_t + \\mu b_t)

  PyTorch's momentum keeps the learning rate *outside* the buffer. The other
  common form (`v = mu v - lr g`, Sutskever et al.; Keras) agrees only while
  `lr` is constant (jax #1528, pytorch #1099). Source:
  https://pytorch.org/docs/stable/generated/torch.optim.SGD.html.

  Args:
    lr: learning rate, a non-negative float or a schedule.
    momentum: momentum factor mu, >= 0 (0 disables the buffer).
    dampening: tau, >= 0.
    weight_decay: coupled L2 coefficient lambda, >= 0.
    nesterov: Nesterov momentum (needs `momentum > 0` and `dampening = 0`).
    maximize: ascend instead of descend.

  Returns:
    `chain([scale(-1)], [add_decayed_weights], trace or trace_with_dampening,
    scale_by_learning_rate(lr))`.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> tx = jopt.torch.sgd(lr=0.1, momentum=0.9)
    >>> params = jnp.array([1.0, 2.0])
    >>> updates, state = tx.update(jnp.array([1.0, 1.0]), tx.init(params), params)
    >>> jopt.apply_updates(params, updates)
    Array([0.9, 1.9], dtype=float32)
  """
  fn = "jopt.torch.sgd"
  checks.check_nonnegative(fn, "momentum", momentum)
  checks.check_nonnegative(fn, "dampening", dampening)
  if nesterov and (_common.is_zero(momentum) or not _common.is_zero(dampening)):
    raise ValueError(
        f"{fn}: Nesterov momentum requires `momentum` > 0 and `dampening` = 0, got "
        f"momentum={momentum!r}, dampening={dampening!r}.")
  if _common.is_zero(momentum):
    scale = scaling.identity()
  elif _common.is_zero(dampening):
    scale = momentum_lib.trace(decay=momentum, nesterov=nesterov)
  else:
    scale = torch_momentum.trace_with_dampening(momentum, dampening, nesterov)
  return _chain(fn, lr, maximize, weight_decay, scale)


@checks.public
def adam(
    lr: base.ScalarOrSchedule = 1e-3,
    betas: _Betas = (0.9, 0.999),
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 0.0,
    amsgrad: bool = False,
    *,
    maximize: bool = False,
    decoupled_weight_decay: bool = False,
) -> base.GradientTransformationExtraArgs:
  """`torch.optim.Adam`: `weight_decay` is coupled L2 (added to the gradient) unless decoupled.

  .. math::
    g \\leftarrow \\pm g + \\lambda\\theta, \\quad
    \\theta \\leftarrow \\theta - \\mathrm{lr}\\, \\frac{m_t/(1-\\beta_1^t)}{\\sqrt{\\hat v_t/(1-\\beta_2^t)} + \\epsilon}

  `torch.optim.Adam(weight_decay=wd)` is *not* `optax.adamw(weight_decay=wd)`:
  the decay goes through the adaptive scaling (optax #417, #392, #494). With
  `decoupled_weight_decay=True` it is `adamw`. See `scale_by_adam` for AMSGrad.
  Kingma & Ba, 2014 (https://arxiv.org/abs/1412.6980).

  Args:
    lr: learning rate, a non-negative float or a schedule.
    betas: `(beta1, beta2)`, each in [0, 1).
    eps: added to the denominator, >= 0.
    weight_decay: lambda, >= 0 (coupled L2 unless `decoupled_weight_decay`).
    amsgrad: PyTorch's AMSGrad (max of the uncorrected second moment).
    maximize: ascend instead of descend.
    decoupled_weight_decay: AdamW's decay `theta <- theta (1 - lr lambda)`.

  Returns:
    A chain ending in `scale_by_learning_rate(lr)`.
  """
  scale = adam_lib.scale_by_adam(betas, eps, amsgrad)
  if decoupled_weight_decay:
    return _chain("jopt.torch.adam", lr, maximize, 0.0, scale, weight_decay)
  return _chain("jopt.torch.adam", lr, maximize, weight_decay, scale)


@checks.public
def adamw(
    lr: base.ScalarOrSchedule = 1e-3,
    betas: _Betas = (0.9, 0.999),
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 1e-2,
    amsgrad: bool = False,
    *,
    maximize: bool = False,
) -> base.GradientTransformationExtraArgs:
  """`torch.optim.AdamW`: `theta <- theta (1 - lr lambda) - lr * adam_step`.

  The decay is multiplied by the learning rate (as in optax and PyTorch, not as
  in the paper, where only the schedule multiplier scales it). Defaults differ
  from optax: `weight_decay=1e-2` (optax 1e-4). Loshchilov & Hutter, 2019
  (https://arxiv.org/abs/1711.05101).

  Args:
    lr: learning rate, a non-negative float or a schedule.
    betas: `(beta1, beta2)`, each in [0, 1).
    eps: added to the denominator, >= 0.
    weight_decay: decoupled decay lambda, >= 0.
    amsgrad: PyTorch's AMSGrad.
    maximize: ascend instead of descend.

  Returns:
    `adam(..., decoupled_weight_decay=True)`.
  """
  return _chain("jopt.torch.adamw", lr, maximize, 0.0,
                adam_lib.scale_by_adam(betas, eps, amsgrad), weight_decay)


@checks.public
def rmsprop(
    lr: base.ScalarOrSchedule = 1e-2,
    alpha: jax.typing.ArrayLike = 0.99,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 0.0,
    momentum: jax.typing.ArrayLike = 0.0,
    centered: bool = False,
    *,
    maximize: bool = False,
) -> base.GradientTransformationExtraArgs:
  """`torch.optim.RMSprop`: `eps` outside the square root, momentum on the scaled step.

  .. math::
    \\theta \\leftarrow \\theta - \\mathrm{lr}\\, b_t, \\quad
    b_t = \\mu b_{t-1} + g_t / (\\sqrt{v_t - \\bar g_t^2} + \\epsilon)

  Differs from `optax.rmsprop` (eps inside the square root, optax #532; `decay`
  0.9 vs `alpha` 0.99) and from Keras (`rho=0.9`, eps 1e-7 inside the square
  root, learning rate inside the momentum buffer). See `scale_by_rmsprop`.

  Args:
    lr: learning rate, a non-negative float or a schedule.
    alpha: smoothing constant, in [0, 1).
    eps: added outside the square root, >= 0.
    weight_decay: coupled L2, >= 0.
    momentum: momentum factor, >= 0 (0: no buffer).
    centered: divide by the estimated standard deviation.
    maximize: ascend instead of descend.

  Returns:
    `chain([scale(-1)], [add_decayed_weights], scale_by_rmsprop, [trace(momentum)],
    scale_by_learning_rate(lr))`.
  """
  fn = "jopt.torch.rmsprop"
  checks.check_nonnegative(fn, "momentum", momentum)
  extra = [] if _common.is_zero(momentum) else [momentum_lib.trace(decay=momentum)]
  return _chain(fn, lr, maximize, weight_decay,
                adaptive.scale_by_rmsprop(alpha, eps, centered), extra=extra)


@checks.public
def adagrad(
    lr: base.ScalarOrSchedule = 1e-2,
    lr_decay: jax.typing.ArrayLike = 0.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    initial_accumulator_value: jax.typing.ArrayLike = 0.0,
    eps: jax.typing.ArrayLike = 1e-10,
    *,
    maximize: bool = False,
) -> base.GradientTransformationExtraArgs:
  """`torch.optim.Adagrad`: `theta <- theta - lr / (1 + (t-1) lr_decay) * g / (sqrt(s_t) + eps)`.

  Defaults differ from optax (`initial_accumulator_value` 0 vs 0.1, `eps` 1e-10
  vs 1e-7) and Keras (0.1, 1e-7). See `scale_by_adagrad`.

  Args:
    lr: learning rate, a non-negative float or a schedule.
    lr_decay: per-step decay of the learning rate, >= 0.
    weight_decay: coupled L2, >= 0.
    initial_accumulator_value: starting value of the sum of squares, >= 0.
    eps: added outside the square root, >= 0.
    maximize: ascend instead of descend.

  Returns:
    A chain ending in `scale_by_learning_rate(lr)`.
  """
  return _chain("jopt.torch.adagrad", lr, maximize, weight_decay,
                adaptive.scale_by_adagrad(lr_decay, initial_accumulator_value, eps))


@checks.public
def adadelta(
    lr: base.ScalarOrSchedule = 1.0,
    rho: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-6,
    weight_decay: jax.typing.ArrayLike = 0.0,
    *,
    maximize: bool = False,
) -> base.GradientTransformationExtraArgs:
  """`torch.optim.Adadelta` (lr 1.0 by default; see `scale_by_adadelta`).

  Args:
    lr: learning rate, a non-negative float or a schedule.
    rho: decay of the averages, in [0, 1) (PyTorch also takes 1: no adaptation).
    eps: added inside the square roots, >= 0.
    weight_decay: coupled L2, >= 0.
    maximize: ascend instead of descend.

  Returns:
    A chain ending in `scale_by_learning_rate(lr)`.
  """
  return _chain("jopt.torch.adadelta", lr, maximize, weight_decay,
                adaptive.scale_by_adadelta(rho, eps))


@checks.public
def adamax(
    lr: base.ScalarOrSchedule = 2e-3,
    betas: _Betas = (0.9, 0.999),
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 0.0,
    *,
    maximize: bool = False,
) -> base.GradientTransformationExtraArgs:
  """`torch.optim.Adamax` (eps inside the running max; see `scale_by_adamax`).

  Args:
    lr: learning rate, a non-negative float or a schedule.
    betas: `(beta1, beta2)`, each in [0, 1).
    eps: added to `|g|`, >= 0.
    weight_decay: coupled L2, >= 0.
    maximize: ascend instead of descend.

  Returns:
    A chain ending in `scale_by_learning_rate(lr)`.
  """
  return _chain("jopt.torch.adamax", lr, maximize, weight_decay,
                adam_lib.scale_by_adamax(betas, eps))


@checks.public
def nadam(
    lr: base.ScalarOrSchedule = 2e-3,
    betas: _Betas = (0.9, 0.999),
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 0.0,
    momentum_decay: jax.typing.ArrayLike = 4e-3,
    decoupled_weight_decay: bool = False,
    *,
    maximize: bool = False,
) -> base.GradientTransformationExtraArgs:
  """`torch.optim.NAdam` with Dozat's momentum schedule (see `scale_by_nadam`).

  Args:
    lr: learning rate, a non-negative float or a schedule.
    betas: `(beta1, beta2)`, each in [0, 1).
    eps: added to the denominator, >= 0.
    weight_decay: lambda, >= 0 (coupled L2 unless `decoupled_weight_decay`).
    momentum_decay: psi of the momentum schedule, >= 0.
    decoupled_weight_decay: NAdamW's `theta <- theta (1 - lr lambda)`.
    maximize: ascend instead of descend.

  Returns:
    A chain ending in `scale_by_learning_rate(lr)`.
  """
  scale = adam_lib.scale_by_nadam(betas, eps, momentum_decay)
  if decoupled_weight_decay:
    return _chain("jopt.torch.nadam", lr, maximize, 0.0, scale, weight_decay)
  return _chain("jopt.torch.nadam", lr, maximize, weight_decay, scale)


@checks.public
def radam(
    lr: base.ScalarOrSchedule = 1e-3,
    betas: _Betas = (0.9, 0.999),
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 0.0,
    decoupled_weight_decay: bool = False,
    *,
    maximize: bool = False,
) -> base.GradientTransformationExtraArgs:
  """`torch.optim.RAdam`: rectified once `rho_t > 5` (see `scale_by_radam`).

  Args:
    lr: learning rate, a non-negative float or a schedule.
    betas: `(beta1, beta2)`, each in [0, 1).
    eps: added to `sqrt(v)`, >= 0.
    weight_decay: lambda, >= 0 (coupled L2 unless `decoupled_weight_decay`).
    decoupled_weight_decay: RAdamW's `theta <- theta (1 - lr lambda)`.
    maximize: ascend instead of descend.

  Returns:
    A chain ending in `scale_by_learning_rate(lr)`.
  """
  scale = adam_lib.scale_by_radam(betas, eps)
  if decoupled_weight_decay:
    return _chain("jopt.torch.radam", lr, maximize, 0.0, scale, weight_decay)
  return _chain("jopt.torch.radam", lr, maximize, weight_decay, scale)


@checks.public
def asgd(
    lr: base.ScalarOrSchedule = 1e-2,
    lambd: jax.typing.ArrayLike = 1e-4,
    alpha: jax.typing.ArrayLike = 0.75,
    t0: jax.typing.ArrayLike = 1e6,
    weight_decay: jax.typing.ArrayLike = 0.0,
    *,
    maximize: bool = False,
) -> base.GradientTransformationExtraArgs:
  """`torch.optim.ASGD`; the averaged parameters are in the last state entry's `ax`.

  See `scale_by_asgd` for the update (the learning rate enters `eta` non-linearly,
  so there is no trailing `scale_by_learning_rate`).

  Args:
    lr: learning rate, a non-negative float or a schedule.
    lambd: decay term, >= 0.
    alpha: power for the eta update, >= 0.
    t0: the step at which averaging starts.
    weight_decay: coupled L2, >= 0.
    maximize: ascend instead of descend.

  Returns:
    `chain([scale(-1)], [add_decayed_weights], scale_by_asgd(lr, lambd, alpha, t0))`;
    needs `params`.
  """
  fn = "jopt.torch.asgd"
  checks.check_nonnegative(fn, "weight_decay", weight_decay)
  parts = _common.negate_if(maximize) + _common.decay_if(weight_decay)
  return combine.chain(*parts, torch_momentum.scale_by_asgd(lr, lambd, alpha, t0))
