"""Segmentation losses: soft Dice / Tversky, generalized Dice and binary Dice."""

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from jopt._src.losses import inputs

ArrayLike = jax.typing.ArrayLike

_REDUCTIONS = ("mean", "sum", "none")


def _dice(fn, predictions, targets, class_weights, smooth, alpha, beta, apply_softmax,
          reduction, ignore_background, axis):
  if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
    raise (ValueError if isinstance(reduction, str) else TypeError)(
        f"{fn}: `reduction` must be one of {_REDUCTIONS}, got {reduction!r}.")
  inputs.check_scalar(fn, "smooth", smooth, 0.0)
  inputs.check_scalar(fn, "alpha", alpha, 0.0)
  inputs.check_scalar(fn, "beta", beta, 0.0)
  flag = "apply_sigmoid" if fn == "binary_dice_loss" else "apply_softmax"
  inputs.check_flag(fn, flag, apply_softmax)
  inputs.check_flag(fn, "ignore_background", ignore_background)
  predictions, targets = inputs.as_array(predictions), inputs.as_array(targets)
  # A binary map may come without its channel axis.
  if predictions.ndim == targets.ndim - 1:
    predictions = predictions[..., None]
  if targets.ndim == predictions.ndim - 1:
    targets = targets[..., None]
  inputs.check_same_shape(fn, "predictions", predictions, "targets", targets)
  if not apply_softmax and predictions.shape[-1] > 1:
    _check_distributions(fn, predictions)
  probs = predictions
  if apply_softmax:
    if predictions.shape[-1] == 1:
      probs = jax.nn.sigmoid(predictions)
    else:
      probs = jax.nn.softmax(predictions, axis=-1)
  if axis is None:
    axis = tuple(range(1, probs.ndim - 1))  # the spatial axes: all but batch and class
  else:
    inputs.check_axis(fn, "axis", axis, probs.ndim)
  intersection = jnp.sum(probs * targets, axis=axis)
  false_positives = jnp.sum(probs, axis=axis) - intersection
  false_negatives = jnp.sum(targets, axis=axis) - intersection
  denominator = intersection + alpha * false_positives + beta * false_negatives + smooth
  loss = 1.0 - (intersection + smooth) / denominator  # [..., classes]
  if class_weights is not None:
    class_weights = inputs.as_array(class_weights)
    inputs.check_rank(fn, "class_weights", class_weights, 1, "[num_classes]")
    loss = loss * class_weights
  if ignore_background and probs.shape[-1] > 1:
    loss = loss[..., 1:]
  if reduction == "mean":
    return jnp.mean(loss, axis=-1)
  if reduction == "sum":
    return jnp.sum(loss, axis=-1)
  return loss


def _check_distributions(fn, predictions):
  """Probabilities given directly must sum to 1 over the classes (checked when known, not under jit)."""
  if isinstance(predictions, jax.core.Tracer):
    return
  sums = np.asarray(jnp.sum(predictions, axis=-1))
  if not np.allclose(sums, 1.0, rtol=1e-5):
    raise ValueError(
        f"{fn}: with apply_softmax=False, `predictions` must be valid probability distributions "
        f"(summing to 1 over the class axis); the sums range over [{sums.min():.6f}, "
        f"{sums.max():.6f}]."
    )


def dice_loss(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    class_weights: Optional[ArrayLike] = None,
    smooth: ArrayLike = 1.,
    alpha: ArrayLike = 0.5,
    beta: ArrayLike = 0.5,
    apply_softmax: bool = True,
    reduction: str = "mean",
    ignore_background: bool = False,
    axis: Optional[ArrayLike] = None,
) -> jax.Array:
  r"""Soft Dice loss per class (Tversky loss for `alpha != beta`), for segmentation.

  With :math:`p` the predicted probabilities and :math:`t` the one-hot targets of
  class `c`, summed over the spatial axes,

  .. math::
    I_c = \sum p_c t_c, \quad
    \ell_c = 1 - \frac{I_c + s}{I_c + \alpha (\sum p_c - I_c) + \beta (\sum t_c - I_c) + s}

  `alpha` weighs false positives and `beta` false negatives; `alpha = beta = 1/2`
  is the Dice loss :math:`1 - (2 I + s) / (\sum p + \sum t + 2 s)`.

  Args:
    predictions: logits `[..., num_classes]` (softmax), or `[..., 1]` / `[...]`
      (sigmoid, binary).
    targets: one-hot targets of the same shape (`[...]` for binary).
    class_weights: optional `[num_classes]` weights of the per-class losses.
    smooth: added to numerator and denominator (no division by zero), >= 0.
    alpha: weight of the false positives, >= 0.
    beta: weight of the false negatives, >= 0.
    apply_softmax: turn logits into probabilities (sigmoid for one channel);
      `False` when `predictions` are already probabilities.
    reduction: `"mean"` or `"sum"` over the classes, or `"none"`.
    ignore_background: leave class 0 out (multi-class only).
    axis: the axes to sum over; default all but the first and the last.

  Returns:
    `[...]` (batch) losses, or `[..., num_classes]` with `reduction="none"`.

  Milletari et al., 2016, https://arxiv.org/abs/1606.04797; Salehi et al., 2017
  (Tversky), https://arxiv.org/abs/1706.05721.

  Differs from optax: with `apply_softmax=False` the sum-to-1 check is skipped
  under `jit` (optax raises a tracer error) and for a single channel, which holds
  the foreground probability (optax rejects every such input that is not all 1).
  """
  return _dice("dice_loss", predictions, targets, class_weights, smooth, alpha, beta,
               apply_softmax, reduction, ignore_background, axis)


def multiclass_generalized_dice_loss(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    smooth: ArrayLike = 1.,
    apply_softmax: bool = True,
    ignore_background: bool = False,
) -> jax.Array:
  r"""Generalized Dice loss: Dice with class weights inverse to the squared class frequencies.

  .. math::
    w_c \propto \frac{1}{f_c^2 + 10^{-7}}, \quad f_c = \sum t_c
    \text{ over the whole batch}, \quad \textstyle\sum_c w_c = C

  then the mean over batch and classes of the weighted per-class Dice losses
  (:func:`dice_loss` with `reduction="none"`), so rare classes count as much as
  frequent ones.

  Args:
    predictions: logits (or probabilities) `[..., num_classes]`.
    targets: one-hot targets `[..., num_classes]`.
    smooth: added to numerator and denominator.
    apply_softmax: turn logits into probabilities.
    ignore_background: leave class 0 out.

  Returns:
    The scalar loss.

  Sudre et al., 2017, https://arxiv.org/abs/1707.03237.
  """
  fn = "multiclass_generalized_dice_loss"
  inputs.check_scalar(fn, "smooth", smooth, 0.0)
  predictions, targets = inputs.as_array(predictions), inputs.as_array(targets)
  inputs.check_same_shape(fn, "predictions", predictions, "targets", targets)
  frequencies = jnp.sum(targets, axis=tuple(range(targets.ndim - 1)))
  weights = 1.0 / (frequencies**2 + 1e-7)
  weights = weights / jnp.sum(weights) * weights.shape[0]
  per_class = _dice(fn, predictions, targets, weights, smooth, 0.5, 0.5, apply_softmax,
                    "none", ignore_background, None)
  return jnp.mean(per_class)


def binary_dice_loss(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    smooth: ArrayLike = 1.,
    apply_sigmoid: bool = True,
) -> jax.Array:
  r"""Dice loss of a binary segmentation, :math:`1 - (2 I + s) / (\sum p + \sum t + 2 s)`.

  Args:
    predictions: logits (or foreground probabilities with `apply_sigmoid=False`),
      `[...]` or `[..., 1]`.
    targets: binary targets, the same shape.
    smooth: added to numerator and denominator.
    apply_sigmoid: turn logits into probabilities.

  Returns:
    The `[...]` (batch) losses.

  Differs from optax: `apply_sigmoid=False` accepts probabilities (optax's check
  that they sum to 1 over the single channel rejects all but all-ones inputs).
  """
  predictions, targets = inputs.as_array(predictions), inputs.as_array(targets)
  if predictions.ndim == targets.ndim and predictions.shape[-1] != 1:
    predictions, targets = predictions[..., None], targets[..., None]
  return _dice("binary_dice_loss", predictions, targets, None, smooth, 0.5, 0.5,
               apply_sigmoid, "mean", False, None)
