"""Multiclass margin losses against integer labels: hinge, perceptron and sparsemax."""

import jax
import jax.numpy as jnp
import numpy as np

from jopt._src.losses import inputs
from jopt._src.projections import simplex

ArrayLike = jax.typing.ArrayLike


def _scores_and_one_hot(fn, scores, labels):
  host_labels = labels
  scores, labels = inputs.as_array(scores), inputs.as_array(labels)
  if scores.ndim < 1:
    raise ValueError(f"{fn}: `scores` must have a class axis (shape [..., num_classes]), got a scalar.")
  inputs.check_integer(fn, "labels", labels)
  inputs.check_batch_labels(fn, labels, "scores", scores.shape, scores.shape[:-1])
  inputs.check_labels_in_range(fn, host_labels, scores.shape[-1])
  # An out-of-range label has an all-zero one-hot row (no true class score).
  return scores, jax.nn.one_hot(labels, scores.shape[-1])


def multiclass_hinge_loss(scores: ArrayLike, labels: ArrayLike) -> jax.Array:
  r"""Multiclass hinge loss (Crammer-Singer).

  .. math::
    \ell(s, y) = \max_j \left(s_j + 1 - [j = y]\right) - s_y

  Args:
    scores: class scores, shape `[..., num_classes]`.
    labels: integer labels, shape `[...]`.

  Returns:
    The loss per example, shape `[...]`.

  See https://en.wikipedia.org/wiki/Hinge_loss.
  """
  scores, one_hot = _scores_and_one_hot("multiclass_hinge_loss", scores, labels)
  true_score = jnp.sum(scores * one_hot, axis=-1)
  return jnp.max(scores + 1.0 - one_hot, axis=-1) - true_score


def multiclass_perceptron_loss(scores: ArrayLike, labels: ArrayLike) -> jax.Array:
  r"""Multiclass perceptron loss, :math:`\ell(s, y) = \max_j s_j - s_y`.

  Args:
    scores: class scores, shape `[..., num_classes]`.
    labels: integer labels, shape `[...]`.

  Returns:
    The loss per example, shape `[...]`.

  Collins, 2002, https://aclanthology.org/W02-1001/.
  """
  scores, one_hot = _scores_and_one_hot("multiclass_perceptron_loss", scores, labels)
  return jnp.max(scores, axis=-1) - jnp.sum(scores * one_hot, axis=-1)


def multiclass_sparsemax_loss(scores: ArrayLike, labels: ArrayLike) -> jax.Array:
  r"""Multiclass sparsemax loss, the Fenchel-Young loss of the Gini entropy.

  .. math::
    \ell(s, y) = \langle p, s \rangle + \tfrac12 (1 - \|p\|^2) - s_y,
    \qquad p = \operatorname{sparsemax}(s) = \Pi_\Delta(s)

  It is 0 exactly when `sparsemax(s)` is the one-hot vector of `y`, and its
  gradient with respect to `s` is `p - onehot(y)`.

  Args:
    scores: class scores, shape `[batch, num_classes]` (any number of leading axes
      is accepted).
    labels: integer labels, shape `[batch]`.

  Returns:
    The loss per example, shape `[batch]`.

  Martins & Astudillo, 2016, https://arxiv.org/abs/1602.02068.
  """
  fn = "multiclass_sparsemax_loss"
  if np.ndim(scores) >= 1:
    inputs.check_labels_in_range(fn, labels, np.shape(scores)[-1])
  scores, labels = inputs.as_array(scores), inputs.as_array(labels)
  if scores.ndim >= 1 and labels.shape == scores.shape[:-1] + (1,):
    labels = labels[..., 0]  # [batch, 1] labels: optax reads them as [batch]
  scores, one_hot = _scores_and_one_hot(fn, scores, labels)
  if labels.shape != scores.shape[:-1]:
    raise ValueError(
        f"{fn}: `labels` must have shape {scores.shape[:-1]} (`scores` {scores.shape} without "
        f"its class axis), got {labels.shape}."
    )
  proba = simplex.project_rows_onto_simplex(scores)
  true_score = jnp.take_along_axis(scores, labels[..., None], axis=-1)
  shifted = jnp.where(one_hot != 0, 0.0, scores - true_score)
  gap = jnp.sum(proba * jnp.where(proba != 0, shifted, 0.0), axis=-1)
  return gap + 0.5 * (1.0 - jnp.sum(proba * proba, axis=-1))
