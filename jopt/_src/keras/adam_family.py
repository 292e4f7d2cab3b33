"""Keras 3's `Adam`, `AdamW`, `Adamax`, `Nadam`, `Lamb` and `Lion` as jopt transforms.

Each keeps Keras's parameter names, order and defaults (no `**kwargs`) plus the
keyword `exclude_from_weight_decay`; the base-optimizer options are applied by
`base_optimizer.keras_optimizer` in Keras's order.
"""

from typing import Any, Optional, Sequence

from jopt._src import base
from jopt._src import checks
from jopt._src.keras import base_optimizer
from jopt._src.keras import update_rules
from jopt._src import combine
from jopt._src.transforms import adam as adam_lib
from jopt._src.transforms import layerwise
from jopt._src.transforms import scaling
from jopt._src.transforms import sign

_BETAS_DOC = """beta_1: decay of the first moment, in [0, 1).
    beta_2: decay of the second moment, in [0, 1).
    epsilon: added to the root of the second moment, >= 0."""


def _check_betas(fn: str, beta_1: Any, beta_2: Any, epsilon: Any = 0.0) -> None:
  base_optimizer.check_number(fn, "beta_1", beta_1, 0.0, 1.0, high_inclusive=False)
  base_optimizer.check_number(fn, "beta_2", beta_2, 0.0, 1.0, high_inclusive=False)
  base_optimizer.check_number(fn, "epsilon", epsilon, 0.0)


def _adam_rule(fn, beta_1, beta_2, epsilon, amsgrad):
  _check_betas(fn, beta_1, beta_2, epsilon)
  checks.check_bool(fn, "amsgrad", amsgrad)
  return lambda lr: combine.chain(
      update_rules.scale_by_keras_adam(beta_1, beta_2, epsilon, amsgrad),
      scaling.scale_by_learning_rate(lr))


@checks.public
@base_optimizer.document(_BETAS_DOC + """
    amsgrad: use the running maximum of the second moment (AMSGrad).""")
def adam(
    learning_rate: base.ScalarOrSchedule = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    amsgrad: bool = False,
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
  """`keras.optimizers.Adam`: epsilon added to the root of the *uncorrected* second moment.

  .. math::
    m_t = m + (g - m)(1-\\beta_1), \\quad v_t = v + (g^2 - v)(1-\\beta_2), \\quad
    w \\leftarrow w - \\eta\\, \\frac{\\sqrt{1-\\beta_2^t}}{1-\\beta_1^t}\\, \\frac{m_t}{\\sqrt{v_t} + \\epsilon}

  This is optax's `adam` with `eps = epsilon / sqrt(1 - beta_2^t)`: Keras's
  1e-7 is about 3e-6 in optax's convention at step 1 and tends to 1e-7.
  Kingma & Ba, 2014 (https://arxiv.org/abs/1412.6980).

  Args:
    {base_args}

  Returns:
    A `GradientTransformationExtraArgs` with state `KerasOptimizerState`.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> tx = jopt.keras.adam(learning_rate=0.1)
    >>> params = jnp.array([1.0, 2.0])
    >>> updates, state = tx.update(jnp.array([1.0, -1.0]), tx.init(params), params)
    >>> jopt.apply_updates(params, updates)
    Array([0.900001, 2.099999], dtype=float32)
  """
  args = dict(locals())
  fn = "jopt.keras.adam"
  return base_optimizer.build(fn, _adam_rule(fn, beta_1, beta_2, epsilon, amsgrad), args)


@checks.public
@base_optimizer.document(_BETAS_DOC + """
    amsgrad: use the running maximum of the second moment (AMSGrad).""")
def adamw(
    learning_rate: base.ScalarOrSchedule = 0.001,
    weight_decay: float = 0.004,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    amsgrad: bool = False,
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
  """`keras.optimizers.AdamW`: Keras's `adam` with weight decay required (default 0.004).

  .. math::
    w \\leftarrow w - w\\, \\lambda \\eta, \\qquad \\text{then the } \\texttt{adam} \\text{ step}

  The decay is applied to the weights before the Adam step. optax's `adamw`
  adds `lambda * w` to the Adam direction and scales both by the learning
  rate: the same step, since Adam's direction does not read the weights; the
  defaults differ (`weight_decay=0.004`, `epsilon=1e-7` here). Every leaf is
  decayed unless `exclude_from_weight_decay` says otherwise (optax: unless
  `mask`). Loshchilov & Hutter, 2019 (https://arxiv.org/abs/1711.05101).

  Args:
    {base_args}

  Returns:
    A `GradientTransformationExtraArgs` with state `KerasOptimizerState`.
  """
  args = dict(locals())
  fn = "jopt.keras.adamw"
  if weight_decay is None:
    raise TypeError(f"{fn}: `weight_decay` must be a float, got None (use `adam` for no decay).")
  return base_optimizer.build(fn, _adam_rule(fn, beta_1, beta_2, epsilon, amsgrad), args)


@checks.public
@base_optimizer.document(_BETAS_DOC.replace("second moment", "infinity norm"))
def adamax(
    learning_rate: base.ScalarOrSchedule = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
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
  """`keras.optimizers.Adamax`: Adam with the infinity norm, epsilon added after the max.

  .. math::
    m_t = m + (g - m)(1-\\beta_1), \\quad u_t = \\max(\\beta_2 u, |g|), \\quad
    w \\leftarrow w - \\frac{\\eta\\, m_t}{(1-\\beta_1^t)(u_t + \\epsilon)}

  optax's `adamax` puts epsilon inside the max (`max(b2 u, |g| + eps)`).
  Kingma & Ba, 2014, section 7 (https://arxiv.org/abs/1412.6980).

  Args:
    {base_args}

  Returns:
    A `GradientTransformationExtraArgs` with state `KerasOptimizerState`.
  """
  args = dict(locals())
  fn = "jopt.keras.adamax"
  _check_betas(fn, beta_1, beta_2, epsilon)
  rule = lambda lr: combine.chain(
      update_rules.scale_by_keras_adamax(beta_1, beta_2, epsilon), scaling.scale_by_learning_rate(lr))
  return base_optimizer.build(fn, rule, args)


@checks.public
@base_optimizer.document(_BETAS_DOC)
def nadam(
    learning_rate: base.ScalarOrSchedule = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
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
  """`keras.optimizers.Nadam`: Nesterov Adam with Dozat's momentum schedule.

  .. math::
    \\mu_t = \\beta_1 (1 - \\tfrac12 0.96^t), \\quad
    \\hat m_t = \\frac{\\mu_{t+1} m_t}{1 - \\prod_{i \\le t+1} \\mu_i} + \\frac{(1-\\mu_t) g}{1 - \\prod_{i \\le t} \\mu_i},
    \\quad w \\leftarrow w - \\eta \\frac{\\hat m_t}{\\sqrt{v_t/(1-\\beta_2^t)} + \\epsilon}

  optax's `nadam` keeps `mu_t = beta_1` (no schedule). Dozat, 2016
  (https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ).

  Args:
    {base_args}

  Returns:
    A `GradientTransformationExtraArgs` with state `KerasOptimizerState`.
  """
  args = dict(locals())
  fn = "jopt.keras.nadam"
  _check_betas(fn, beta_1, beta_2, epsilon)
  rule = lambda lr: combine.chain(
      update_rules.scale_by_keras_nadam(beta_1, beta_2, epsilon), scaling.scale_by_learning_rate(lr))
  return base_optimizer.build(fn, rule, args)


@checks.public
@base_optimizer.document(_BETAS_DOC)
def lamb(
    learning_rate: base.ScalarOrSchedule = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
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
  """`keras.optimizers.Lamb`: the bias-corrected Adam direction times each leaf's trust ratio.

  .. math::
    d = \\frac{m_t/(1-\\beta_1^t)}{\\sqrt{v_t/(1-\\beta_2^t)} + \\epsilon}, \\quad
    w \\leftarrow w - \\eta \\frac{\\|w\\|}{\\|d\\|}\\, d \\ \\ (\\text{ratio 1 if a norm is 0})

  `chain(scale_by_adam, scale_by_trust_ratio, scale_by_learning_rate)`. Unlike
  optax's `lamb`, the weight decay (if any) is applied to the weights first and
  is not part of `d`; the trust ratio reads the decayed weights. Needs `params`.
  You et al., 2020 (https://arxiv.org/abs/1904.00962).

  Args:
    {base_args}

  Returns:
    A `GradientTransformationExtraArgs` with state `KerasOptimizerState`.
  """
  args = dict(locals())
  fn = "jopt.keras.lamb"
  _check_betas(fn, beta_1, beta_2, epsilon)
  rule = lambda lr: combine.chain(
      adam_lib.scale_by_adam(b1=beta_1, b2=beta_2, eps=epsilon), layerwise.scale_by_trust_ratio(),
      scaling.scale_by_learning_rate(lr))
  return base_optimizer.build(fn, rule, args, rule_needs_params=True)


@checks.public
@base_optimizer.document("""beta_1: interpolation between momentum and gradient for the step's sign,
      in (0, 1].
    beta_2: decay of the momentum, in [0, 1).""")
def lion(
    learning_rate: base.ScalarOrSchedule = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.99,
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
  """`keras.optimizers.Lion`: the sign of an interpolated momentum.

  .. math::
    w \\leftarrow w - \\eta\\, \\mathrm{sign}(\\beta_1 m + (1-\\beta_1) g), \\qquad
    m \\leftarrow \\beta_2 m + (1-\\beta_2) g

  optax's `scale_by_lion` math; Keras rejects `beta_1 <= 0` (sign SGD).
  Chen et al., 2023 (https://arxiv.org/abs/2302.06675).

  Args:
    {base_args}

  Returns:
    A `GradientTransformationExtraArgs` with state `KerasOptimizerState`.
  """
  args = dict(locals())
  fn = "jopt.keras.lion"
  base_optimizer.check_number(fn, "beta_1", beta_1, 0.0, 1.0, low_inclusive=False)
  base_optimizer.check_number(fn, "beta_2", beta_2, 0.0, 1.0, high_inclusive=False)
  rule = lambda lr: combine.chain(
      sign.scale_by_lion(b1=beta_1, b2=beta_2), scaling.scale_by_learning_rate(lr))
  return base_optimizer.build(fn, rule, args)
