"""Root-mean-square optimizers: `adagrad`, `rmsprop`, `adadelta`, each a chain of building blocks."""

from typing import Optional

import jax

from jopt._src import base
from jopt._src import checks
from jopt._src import combine
from jopt._src.transforms import masking
from jopt._src.transforms import momentum as momentum_lib
from jopt._src.transforms import regularization
from jopt._src.transforms import rms
from jopt._src.transforms import scaling


@checks.public
def adagrad(
    learning_rate: base.ScalarOrSchedule,
    initial_accumulator_value: jax.typing.ArrayLike = 0.1,
    eps: jax.typing.ArrayLike = 1e-7,
) -> base.GradientTransformationExtraArgs:
  """Adagrad: per-coordinate steps shrinking with the root of the summed squared gradients.

  .. math::
    s_t = s_{t-1} + |g_t|^2, \\qquad \\theta_t = \\theta_{t-1} - \\eta_t\\, g_t / \\sqrt{s_t + \\epsilon}

  Duchi, Hazan & Singer, 2011 (https://jmlr.org/papers/v12/duchi11a.html).

  Args:
    learning_rate: a non-negative float, scalar array or schedule.
    initial_accumulator_value: the starting sum `s_0`, >= 0.
    eps: added inside the square root, >= 0.

  Returns:
    `chain(scale_by_rss(initial_accumulator_value, eps), scale_by_learning_rate(learning_rate))`.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> tx = jopt.adagrad(0.1, initial_accumulator_value=0.0, eps=0.0)
    >>> params = jnp.array([1.0, -2.0])
    >>> updates, state = tx.update(jnp.array([3.0, 0.5]), tx.init(params))
    >>> updates
    Array([-0.1, -0.1], dtype=float32)
  """
  return combine.chain(
      rms.scale_by_rss(initial_accumulator_value=initial_accumulator_value, eps=eps),
      scaling.scale_by_learning_rate(learning_rate),
  )


@checks.public
def rmsprop(
    learning_rate: base.ScalarOrSchedule,
    decay: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-8,
    initial_scale: jax.typing.ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: Optional[jax.typing.ArrayLike] = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> base.GradientTransformationExtraArgs:
  """RMSprop: steps divided by the root of a moving average of squared gradients.

  .. math::
    \\nu_t = \\rho\\, \\nu_{t-1} + (1-\\rho)|g_t|^2, \\quad
    d_t = \\eta_t\\, g_t / \\sqrt{\\nu_t + \\epsilon}, \\quad
    b_t = d_t + \\mu\\, b_{t-1}, \\quad \\theta_t = \\theta_{t-1} - b_t

  `centered` divides by the root of the variance :math:`\\nu_t - \\bar g_t^2`
  instead (`scale_by_stddev`); `eps_in_sqrt=False` puts `eps` outside the root;
  `bias_correction` divides the averages by `1 - decay**t`; `momentum` adds
  (Nesterov) momentum after the learning rate, as in optax and PyTorch. Hinton,
  2012, lecture 6e
  (https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf);
  Graves, 2013 (https://arxiv.org/abs/1308.0850).

  Args:
    learning_rate: a non-negative float, scalar array or schedule.
    decay: decay rho of the moving averages, in [0, 1).
    eps: stabilizer in the denominator, >= 0.
    initial_scale: starting value of the squared-gradient average, >= 0.
    eps_in_sqrt: add `eps` inside the square root (default) or outside it.
    centered: divide by the estimated standard deviation instead of the RMS.
    momentum: momentum coefficient in [0, 1), or None for none.
    nesterov: Nesterov momentum (with `momentum`).
    bias_correction: bias-correct the moving averages.

  Returns:
    `chain(scale_by_rms(...) or scale_by_stddev(...), scale_by_learning_rate(learning_rate),
    trace(momentum, nesterov) or identity())`. Complex params are supported.
  """
  checks.check_decay("rmsprop", "momentum", momentum)
  scaler = rms.scale_by_stddev if centered else rms.scale_by_rms
  return combine.chain(
      scaler(
          decay=decay, eps=eps, initial_scale=initial_scale, eps_in_sqrt=eps_in_sqrt,
          bias_correction=bias_correction,
      ),
      scaling.scale_by_learning_rate(learning_rate),
      (
          momentum_lib.trace(decay=momentum, nesterov=nesterov)
          if momentum is not None
          else scaling.identity()
      ),
  )


@checks.public
@base.declare_callable_args("weight_decay_mask")
def adadelta(
    learning_rate: Optional[base.ScalarOrSchedule] = None,
    rho: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-6,
    weight_decay: base.ScalarOrSchedule = 0.0,
    weight_decay_mask: Optional[masking.Mask] = None,
) -> base.GradientTransformationExtraArgs:
  """Adadelta: steps scaled by the ratio of RMS past steps to RMS gradients.

  .. math::
    g'_t = g_t + \\lambda \\theta_{t-1}, \\quad
    \\theta_t = \\theta_{t-1} - \\eta_t\\, \\frac{\\sqrt{E[\\Delta x^2]_{t-1} + \\epsilon}}
    {\\sqrt{E[g'^2]_t + \\epsilon}}\\, g'_t

  The weight decay is coupled (added to the gradient before the scaling), as in
  optax and PyTorch. `learning_rate=None` means 1 (the paper has no learning
  rate): the step descends, as the formula above (and optax's docstring) states.
  Zeiler, 2012 (https://arxiv.org/abs/1212.5701).

  Differs from optax: `adadelta()` (no learning rate) descends. optax chains
  `scale_by_learning_rate(None)`, which is the identity and so drops the minus
  sign: its default adadelta ascends the loss (the same as optax's
  `adadelta(-1.0)` would). With a learning rate given, both agree.

  Args:
    learning_rate: a non-negative float, scalar array or schedule; None for 1.
    rho: decay of the moving averages, in [0, 1).
    eps: stabilizer inside both square roots, >= 0.
    weight_decay: L2 coefficient lambda, >= 0, or a schedule.
    weight_decay_mask: which leaves to decay (tree of bools or function of params).

  Returns:
    `chain(add_decayed_weights(weight_decay, weight_decay_mask), scale_by_adadelta(rho, eps),
    scale_by_learning_rate(learning_rate))`. It needs `params` in `update`, as
    in optax (even with `weight_decay=0`).
  """
  return combine.chain(
      regularization.add_decayed_weights(weight_decay, mask=weight_decay_mask),
      rms.scale_by_adadelta(rho=rho, eps=eps),
      scaling.scale_by_learning_rate(1.0 if learning_rate is None else learning_rate),
  )
