"""Adam and its variants: every one a chain of a moment scaling, optional weight decay, and the learning rate."""

from typing import Any, Optional

import jax

from jopt._src import adam as adam_lib
from jopt._src import base
from jopt._src import combine
from jopt._src import masking
from jopt._src import regularization
from jopt._src import scaling


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
