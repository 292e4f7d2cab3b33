"""Keras 3's `SGD`, `RMSprop`, `Adagrad`, `Adadelta`, `Ftrl` and `Adafactor` as jopt transforms.

Each keeps Keras's parameter names, order and defaults (no `**kwargs`) plus the
keyword `exclude_from_weight_decay`; the base-optimizer options are applied by
`base_optimizer.keras_optimizer` in Keras's order.
"""

from typing import Optional, Sequence

from jopt._src import base
from jopt._src import checks
from jopt._src.keras import base_optimizer
from jopt._src.keras import update_rules
from jopt._src import combine
from jopt._src.transforms import momentum as momentum_lib
from jopt._src.transforms import rms
from jopt._src.transforms import scaling


@checks.public
@base_optimizer.document("""momentum: the velocity's decay, in [0, 1); 0 turns momentum off.
    nesterov: Nesterov momentum.""")
def sgd(
    learning_rate: base.ScalarOrSchedule = 0.01,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: Optional[float] = None,
    clipnorm: Optional[float] = None,
    clipvalue: Optional[float] = None,
    global_clipnorm: Optional[float] = None,
    use_ema: bool = False,
    ema_momentum: float = 0.99,
    ema_overwrite_frequency: Optional[int] = None,
    loss_scale_factor: Optional[float] = None,
    gradient_accumulation_steps: Optional[int] = None,
    name: Optional[str] = None,
    *,
    exclude_from_weight_decay: Optional[Sequence[str]] = None,
) -> base.GradientTransformationExtraArgs:
  """`keras.optimizers.SGD`: the learning rate sits *inside* the velocity.

  .. math::
    v \\leftarrow \\mu v - \\eta g, \\qquad
    w \\leftarrow w + v \\ \\ \\text{or (Nesterov)} \\ \\ w \\leftarrow w + \\mu v - \\eta g

  `chain(scale_by_learning_rate(lr), trace(momentum, nesterov))`: optax's
  `sgd` is `trace` then the learning rate, the same numbers for a constant
  learning rate but not under a schedule (Keras's velocity remembers past
  learning rates). Sutskever et al., 2013
  (http://proceedings.mlr.press/v28/sutskever13.pdf).

  Args:
    {base_args}

  Returns:
    A `GradientTransformationExtraArgs` with state `KerasOptimizerState`.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> tx = jopt.keras.sgd(learning_rate=0.5, momentum=0.5)
    >>> params = jnp.array([1.0])
    >>> updates, state = tx.update(jnp.array([1.0]), tx.init(params), params)
    >>> updates, state = tx.update(jnp.array([1.0]), state, params)
    >>> updates
    Array([-0.75], dtype=float32)
  """
  args = dict(locals())
  fn = "jopt.keras.sgd"
  base_optimizer.check_number(fn, "momentum", momentum, 0.0, 1.0, high_inclusive=False)
  checks.check_bool(fn, "nesterov", nesterov)
  if base_optimizer.is_known_zero(momentum):
    rule = scaling.scale_by_learning_rate
  else:
    rule = lambda lr: combine.chain(scaling.scale_by_learning_rate(lr), momentum_lib.trace(momentum, nesterov))
  return base_optimizer.build(fn, rule, args)


@checks.public
@base_optimizer.document("""rho: decay of the moving average of squared gradients, in [0, 1).
    momentum: decay of the momentum buffer, in [0, 1); 0 turns it off.
    epsilon: added *inside* the square root, >= 0.
    centered: divide by the root of the estimated variance instead.""")
def rmsprop(
    learning_rate: base.ScalarOrSchedule = 0.001,
    rho: float = 0.9,
    momentum: float = 0.0,
    epsilon: float = 1e-7,
    centered: bool = False,
    weight_decay: Optional[float] = None,
    clipnorm: Optional[float] = None,
    clipvalue: Optional[float] = None,
    global_clipnorm: Optional[float] = None,
    use_ema: bool = False,
    ema_momentum: float = 0.99,
    ema_overwrite_frequency: Optional[int] = None,
    loss_scale_factor: Optional[float] = None,
    gradient_accumulation_steps: Optional[int] = None,
    name: Optional[str] = None,
    *,
    exclude_from_weight_decay: Optional[Sequence[str]] = None,
) -> base.GradientTransformationExtraArgs:
  """`keras.optimizers.RMSprop`: momentum accumulates learning-rate-scaled steps.

  .. math::
    \\nu \\leftarrow \\rho \\nu + (1-\\rho) g^2, \\quad
    s = \\frac{\\eta\\, g}{\\sqrt{\\nu - [\\bar g^2] + \\epsilon}}, \\quad
    b \\leftarrow \\mu b + s, \\quad w \\leftarrow w - b

  (`[g_bar^2]`, the squared EMA of the gradients, only when `centered`).
  `chain(scale_by_rms or scale_by_stddev, scale_by_learning_rate, [trace])`.
  optax's `rmsprop` applies the momentum before the learning rate (the same
  numbers for a constant learning rate only). Hinton, 2012, lecture 6e
  (https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf).

  Args:
    {base_args}

  Returns:
    A `GradientTransformationExtraArgs` with state `KerasOptimizerState`.
  """
  args = dict(locals())
  fn = "jopt.keras.rmsprop"
  base_optimizer.check_number(fn, "rho", rho, 0.0, 1.0, high_inclusive=False)
  base_optimizer.check_number(fn, "momentum", momentum, 0.0, 1.0, high_inclusive=False)
  base_optimizer.check_number(fn, "epsilon", epsilon, 0.0)
  checks.check_bool(fn, "centered", centered)
  scale = rms.scale_by_stddev if centered else rms.scale_by_rms

  def rule(lr):
    parts = [scale(decay=rho, eps=epsilon), scaling.scale_by_learning_rate(lr)]
    if not base_optimizer.is_known_zero(momentum):
      parts.append(momentum_lib.trace(momentum))
    return combine.chain(*parts)

  return base_optimizer.build(fn, rule, args)


@checks.public
@base_optimizer.document("""initial_accumulator_value: the starting sum of squared gradients, >= 0.
    epsilon: added inside the square root, >= 0.""")
def adagrad(
    learning_rate: base.ScalarOrSchedule = 0.001,
    initial_accumulator_value: float = 0.1,
    epsilon: float = 1e-7,
    weight_decay: Optional[float] = None,
    clipnorm: Optional[float] = None,
    clipvalue: Optional[float] = None,
    global_clipnorm: Optional[float] = None,
    use_ema: bool = False,
    ema_momentum: float = 0.99,
    ema_overwrite_frequency: Optional[int] = None,
    loss_scale_factor: Optional[float] = None,
    gradient_accumulation_steps: Optional[int] = None,
    name: Optional[str] = None,
    *,
    exclude_from_weight_decay: Optional[Sequence[str]] = None,
) -> base.GradientTransformationExtraArgs:
  """`keras.optimizers.Adagrad`: `chain(scale_by_rss, scale_by_learning_rate)`.

  .. math::
    a \\leftarrow a + g^2, \\qquad w \\leftarrow w - \\eta\\, g / \\sqrt{a + \\epsilon}

  optax's math with Keras's defaults (`learning_rate=0.001`,
  `initial_accumulator_value=0.1`). Duchi et al., 2011
  (https://jmlr.org/papers/v12/duchi11a.html).

  Args:
    {base_args}

  Returns:
    A `GradientTransformationExtraArgs` with state `KerasOptimizerState`.
  """
  args = dict(locals())
  fn = "jopt.keras.adagrad"
  base_optimizer.check_number(fn, "initial_accumulator_value", initial_accumulator_value, 0.0)
  base_optimizer.check_number(fn, "epsilon", epsilon, 0.0)
  rule = lambda lr: combine.chain(
      rms.scale_by_rss(initial_accumulator_value, epsilon), scaling.scale_by_learning_rate(lr))
  return base_optimizer.build(fn, rule, args)


@checks.public
@base_optimizer.document("""rho: decay of both moving averages, in [0, 1).
    epsilon: added inside both square roots, >= 0.""")
def adadelta(
    learning_rate: base.ScalarOrSchedule = 0.001,
    rho: float = 0.95,
    epsilon: float = 1e-7,
    weight_decay: Optional[float] = None,
    clipnorm: Optional[float] = None,
    clipvalue: Optional[float] = None,
    global_clipnorm: Optional[float] = None,
    use_ema: bool = False,
    ema_momentum: float = 0.99,
    ema_overwrite_frequency: Optional[int] = None,
    loss_scale_factor: Optional[float] = None,
    gradient_accumulation_steps: Optional[int] = None,
    name: Optional[str] = None,
    *,
    exclude_from_weight_decay: Optional[Sequence[str]] = None,
) -> base.GradientTransformationExtraArgs:
  """`keras.optimizers.Adadelta`: `chain(scale_by_adadelta, scale_by_learning_rate)`.

  .. math::
    E_g \\leftarrow \\rho E_g + (1-\\rho) g^2, \\quad
    d = \\frac{\\sqrt{E_x + \\epsilon}}{\\sqrt{E_g + \\epsilon}} g, \\quad
    E_x \\leftarrow \\rho E_x + (1-\\rho) d^2, \\quad w \\leftarrow w - \\eta d

  optax's math with Keras's defaults (`learning_rate=0.001`, `rho=0.95`,
  `epsilon=1e-7`). Zeiler, 2012 (https://arxiv.org/abs/1212.5701).

  Args:
    {base_args}

  Returns:
    A `GradientTransformationExtraArgs` with state `KerasOptimizerState`.
  """
  args = dict(locals())
  fn = "jopt.keras.adadelta"
  base_optimizer.check_number(fn, "rho", rho, 0.0, 1.0, high_inclusive=False)
  base_optimizer.check_number(fn, "epsilon", epsilon, 0.0)
  rule = lambda lr: combine.chain(rms.scale_by_adadelta(rho, epsilon), scaling.scale_by_learning_rate(lr))
  return base_optimizer.build(fn, rule, args)


@checks.public
@base_optimizer.document("""learning_rate_power: the power `p` of the accumulator, <= 0.
    initial_accumulator_value: the accumulator's start, >= 0.
    l1_regularization_strength: L1 strength, >= 0.
    l2_regularization_strength: L2 strength, >= 0.
    l2_shrinkage_regularization_strength: L2 shrinkage (added to the
      gradient as `2 * s * w`), >= 0.
    beta: adds `beta / (2 lr)` to the L2 strength, >= 0.""")
def ftrl(
    learning_rate: base.ScalarOrSchedule = 0.001,
    learning_rate_power: float = -0.5,
    initial_accumulator_value: float = 0.1,
    l1_regularization_strength: float = 0.0,
    l2_regularization_strength: float = 0.0,
    l2_shrinkage_regularization_strength: float = 0.0,
    beta: float = 0.0,
    weight_decay: Optional[float] = None,
    clipnorm: Optional[float] = None,
    clipvalue: Optional[float] = None,
    global_clipnorm: Optional[float] = None,
    use_ema: bool = False,
    ema_momentum: float = 0.99,
    ema_overwrite_frequency: Optional[int] = None,
    loss_scale_factor: Optional[float] = None,
    gradient_accumulation_steps: Optional[int] = None,
    name: Optional[str] = None,
    *,
    exclude_from_weight_decay: Optional[Sequence[str]] = None,
) -> base.GradientTransformationExtraArgs:
  """`keras.optimizers.Ftrl`: FTRL-Proximal; the weights are *set* from the linear term.

  .. math::
    n' = n + g^2, \\quad z \\mathrel{+}= g + 2 \\lambda_s w - \\frac{n'^{-p} - n^{-p}}{\\eta} w, \\quad
    w \\leftarrow \\frac{\\mathrm{clip}(z, -\\lambda_1, \\lambda_1) - z}{n'^{-p}/\\eta + 2\\lambda_2 + \\beta/\\eta}

  optax has no FTRL. Needs `params`; the learning rate must be positive (it
  divides). McMahan et al., 2013 (https://research.google.com/pubs/archive/41159.pdf).

  Args:
    {base_args}

  Returns:
    A `GradientTransformationExtraArgs` with state `KerasOptimizerState`.
  """
  args = dict(locals())
  fn = "jopt.keras.ftrl"
  if not callable(learning_rate):
    base_optimizer.check_number(fn, "learning_rate", learning_rate, 0.0, low_inclusive=False)
  base_optimizer.check_number(fn, "learning_rate_power", learning_rate_power, None, 0.0)
  base_optimizer.check_number(fn, "initial_accumulator_value", initial_accumulator_value, 0.0)
  for arg in ("l1_regularization_strength", "l2_regularization_strength",
              "l2_shrinkage_regularization_strength", "beta"):
    base_optimizer.check_number(fn, arg, args[arg], 0.0)
  rule = lambda lr: update_rules.keras_ftrl(
      lr, learning_rate_power, initial_accumulator_value, l1_regularization_strength,
      l2_regularization_strength, l2_shrinkage_regularization_strength, beta)
  return base_optimizer.build(fn, rule, args, rule_needs_params=True)


@checks.public
@base_optimizer.document("""beta_2_decay: exponent `c <= 0` of the second-moment decay `1 - t^c`.
    epsilon_1: added to the squared gradients, >= 0.
    epsilon_2: floor of the weights' rms in the step size, >= 0.
    clip_threshold: bound on the rms of the normalized update, > 0.
    relative_step: accepted for parity; in Keras 3 the step size is
      `min(learning_rate, 1/sqrt(t))` either way.""")
def adafactor(
    learning_rate: base.ScalarOrSchedule = 0.001,
    beta_2_decay: float = -0.8,
    epsilon_1: float = 1e-30,
    epsilon_2: float = 1e-3,
    clip_threshold: float = 1.0,
    relative_step: bool = True,
    weight_decay: Optional[float] = None,
    clipnorm: Optional[float] = None,
    clipvalue: Optional[float] = None,
    global_clipnorm: Optional[float] = None,
    use_ema: bool = False,
    ema_momentum: float = 0.99,
    ema_overwrite_frequency: Optional[int] = None,
    loss_scale_factor: Optional[float] = None,
    gradient_accumulation_steps: Optional[int] = None,
    name: Optional[str] = None,
    *,
    exclude_from_weight_decay: Optional[Sequence[str]] = None,
) -> base.GradientTransformationExtraArgs:
  """`keras.optimizers.Adafactor`: factored second moments over the last two axes, no momentum.

  .. math::
    w \\leftarrow w - \\max(\\epsilon_2, \\mathrm{rms}(w)) \\min(\\eta, t^{-1/2})\\,
    \\frac{u}{\\max(1, \\mathrm{rms}(u)/d)}, \\qquad u = g / \\sqrt{\\hat V_t}

  with `V` factored into row and column averages of `g^2 + epsilon_1` for
  leaves with 2+ axes (see `update_rules.keras_adafactor`). optax's
  `adafactor` factors the two largest axes of big leaves only, decays
  `1 - t^-0.8` likewise, but multiplies by the learning rate without the
  `1/sqrt(t)` cap. Needs `params`. Shazeer & Stern, 2018
  (https://arxiv.org/abs/1804.04235).

  Args:
    {base_args}

  Returns:
    A `GradientTransformationExtraArgs` with state `KerasOptimizerState`.
  """
  args = dict(locals())
  fn = "jopt.keras.adafactor"
  base_optimizer.check_number(fn, "beta_2_decay", beta_2_decay, None, 0.0)
  base_optimizer.check_number(fn, "epsilon_1", epsilon_1, 0.0)
  base_optimizer.check_number(fn, "epsilon_2", epsilon_2, 0.0)
  base_optimizer.check_number(fn, "clip_threshold", clip_threshold, 0.0, low_inclusive=False)
  checks.check_bool(fn, "relative_step", relative_step)
  rule = lambda lr: update_rules.keras_adafactor(
      lr, beta_2_decay, epsilon_1, epsilon_2, clip_threshold)
  return base_optimizer.build(fn, rule, args, rule_needs_params=True)
