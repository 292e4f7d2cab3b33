"""Softmax cross-entropy losses: one-hot / soft labels, integer labels, `0 log 0 = 0`, PolyLoss."""

import math
from typing import Optional, Union

import jax
import jax.numpy as jnp

from jopt._src.losses import inputs

ArrayLike = jax.typing.ArrayLike


def _expand_where(where: Optional[jax.Array], logits: jax.Array, axis) -> Optional[jax.Array]:
  # A mask over the batch only (one entry per example) gets the class axes back.
  if where is not None and where.ndim != logits.ndim:
    where = jnp.expand_dims(where, axis)
  return where


def _softmax_cross_entropy(fn, logits, labels, axis, where):
  logits, labels = inputs.as_array(logits), inputs.as_array(labels)
  inputs.check_floating(fn, "logits", logits)
  inputs.check_axis(fn, "axis", axis, max(logits.ndim, labels.ndim))
  where = _expand_where(inputs.optional_array(where), logits, axis)
  inputs.check_broadcastable(fn, logits=logits, labels=labels, where=where)
  log_probs = jax.nn.log_softmax(logits, axis, where)
  return -jnp.sum(labels * log_probs, axis, where=where)


def softmax_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    axis: Union[int, tuple[int, ...], None] = -1,
    where: Union[ArrayLike, None] = None,
) -> jax.Array:
  r"""Cross-entropy between the softmax of `logits` and target distributions `labels`.

  .. math::
    \ell(x, y) = -\sum_j y_j \log \operatorname{softmax}(x)_j
    = \operatorname{logsumexp}(x) \textstyle\sum_j y_j - \sum_j y_j x_j

  Args:
    logits: unnormalized log-probabilities, shape `[..., num_classes]`.
    labels: target distributions (one-hot or soft), broadcastable to `logits`.
    axis: the class axis or axes.
    where: optional mask of the entries to include, of `logits`' shape or of the
      batch shape (one flag per example; the class axes are then added back).

  Returns:
    The loss per example, `logits`' shape without `axis`.

  A logit of `-inf` whose label is 0 gives `nan` here (`0 * -inf`); use
  :func:`safe_softmax_cross_entropy` or `where` for masked classes.
  See https://en.wikipedia.org/wiki/Cross-entropy.
  """
  return _softmax_cross_entropy("softmax_cross_entropy", logits, labels, axis, where)


@jax.custom_jvp
def _label_weighted_log_softmax(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """`labels * log_softmax(logits)` along the last axis, 0 wherever a label is exactly 0."""
  log_probs = jax.nn.log_softmax(logits, axis=-1)
  return jnp.where(labels != 0.0, labels * log_probs, jnp.zeros_like(log_probs))


@_label_weighted_log_softmax.defjvp
def _label_weighted_log_softmax_jvp(primals, tangents):
  # d[y log softmax(x)] = y (dx - <softmax(x), dx>) + dy log softmax(x): the
  # derivative of the unmasked product, so a 0 label with a -inf logit costs
  # nothing in the value yet its derivative with respect to the label stays
  # -log p (= +inf there).
  (logits, labels), (d_logits, d_labels) = primals, tangents
  log_probs = jax.nn.log_softmax(logits, axis=-1)
  out = jnp.where(labels != 0.0, labels * log_probs, jnp.zeros_like(log_probs))
  probs = jax.nn.softmax(logits, axis=-1)
  mean_d_logits = jnp.sum(d_logits * probs, axis=-1, keepdims=True)
  tangent = labels * d_logits - labels * mean_d_logits + d_labels * log_probs
  return out, tangent


def safe_softmax_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
) -> jax.Array:
  r"""Softmax cross-entropy that treats `0 * log 0` as 0 (masked classes with `-inf` logits).

  .. math::
    \ell(x, y) = -\sum_{j : y_j \ne 0} y_j \log \operatorname{softmax}(x)_j

  over the last axis. Unlike :func:`softmax_cross_entropy`, a class with logit
  `-inf` and label 0 contributes 0 instead of `nan`; the gradient with respect
  to the logits is `softmax(x) sum(y) - y`, finite there too.

  Args:
    logits: unnormalized log-probabilities, shape `[..., num_classes]`.
    labels: target distributions, broadcastable to `logits`.

  Returns:
    The loss per example, shape `[...]`.

  Differs from optax: integer (one-hot) labels are cast to the logits' dtype, so
  `jax.grad` works with them (optax raises a float0 `TypeError`).
  """
  fn = "safe_softmax_cross_entropy"
  logits, labels = inputs.as_array(logits), inputs.as_array(labels)
  inputs.check_floating(fn, "logits", logits)
  inputs.check_broadcastable(fn, logits=logits, labels=labels)
  if not jnp.issubdtype(labels.dtype, jnp.inexact):
    # Integer / bool one-hot labels: the same values as the promoted product, and a
    # float tangent for the custom JVP (optax fails in `jax.grad` there).
    labels = labels.astype(logits.dtype)
  return -jnp.sum(_label_weighted_log_softmax(logits, labels), axis=-1)


def softmax_cross_entropy_with_integer_labels(
    logits: ArrayLike,
    labels: ArrayLike,
    axis: Union[int, tuple[int, ...]] = -1,
    where: Union[ArrayLike, None] = None,
) -> jax.Array:
  r"""Softmax cross-entropy against integer class labels.

  .. math::
    \ell(x, c) = -\log \operatorname{softmax}(x)_c = \operatorname{logsumexp}(x) - x_c

  Only the label's logit is gathered: the other classes' log-probabilities are
  never formed, so `-inf` logits of other classes are harmless.

  Args:
    logits: unnormalized log-probabilities, shape `[..., num_classes]`.
    labels: integer class indices in `[0, num_classes)`, shape `[...]` (checked when given
      as NumPy data; an out-of-range JAX label gives `nan`, as in optax).
    axis: the class axis, or a tuple of axes whose flattened (row-major) size is
      the number of classes; a label then indexes that flattened slice.
    where: optional mask of the entries to include, of `logits`' shape or of the
      batch shape. An example with no included class has loss 0.

  Returns:
    The loss per example, `logits`' shape without `axis`.

  See https://en.wikipedia.org/wiki/Multinomial_logistic_regression.
  """
  fn = "softmax_cross_entropy_with_integer_labels"
  host_labels = labels
  logits, labels = inputs.as_array(logits), inputs.as_array(labels)
  inputs.check_floating(fn, "logits", logits)
  inputs.check_integer(fn, "labels", labels)
  inputs.check_axis(fn, "axis", axis, logits.ndim, optional=False)
  where = _expand_where(inputs.optional_array(where), logits, axis)
  class_axes = inputs.canonical_axes(fn, axis, logits.ndim)
  batch_axes = tuple(d for d in range(logits.ndim) if d not in class_axes)
  batch_shape = tuple(logits.shape[d] for d in batch_axes)
  inputs.check_batch_labels(fn, labels, "logits", logits.shape, batch_shape)
  inputs.check_labels_in_range(fn, host_labels, math.prod(logits.shape[d] for d in class_axes))
  if where is not None:
    inputs.check_broadcastable(fn, logits=logits, where=where)
  if isinstance(axis, tuple):
    # Classes spread over several axes: move them last and flatten them into one.
    order = batch_axes + class_axes
    logits = jnp.transpose(logits, order).reshape(batch_shape + (-1,))
    if where is not None:
      where = jnp.transpose(where, order).reshape(where.shape[:len(batch_axes)] + (-1,))
    class_axis = len(batch_axes)
  else:
    class_axis = class_axes[0]
  label_logits = jnp.take_along_axis(
      logits, jnp.expand_dims(labels, class_axis), axis=class_axis
  )
  label_logits = jnp.squeeze(label_logits, class_axis)
  loss = jax.nn.logsumexp(logits, axis=class_axis, where=where) - label_logits
  if where is not None:
    loss = jnp.where(jnp.any(where, axis=class_axis), loss, 0.0)
  return loss


def poly_loss_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    epsilon: ArrayLike = 2.0,
    axis: Union[int, tuple[int, ...], None] = -1,
    where: Union[ArrayLike, None] = None,
) -> jax.Array:
  r"""Poly-1 loss: cross-entropy plus `epsilon` times the first polynomial term.

  .. math::
    \ell(x, y) = -\sum_j y_j \log p_j + \epsilon \sum_j y_j (1 - p_j),
    \qquad p = \operatorname{softmax}(x)

  For one-hot labels the second term is :math:`\epsilon (1 - p_t)`. The paper
  suggests `epsilon = 2` for ImageNet classification and `-1` for detection.

  Args:
    logits: unnormalized log-probabilities, shape `[..., num_classes]`.
    labels: target distributions (floating), broadcastable to `logits`.
    epsilon: the weight of the polynomial term.
    axis: the class axis or axes.
    where: optional mask of the entries to include (`logits`' shape).

  Returns:
    The loss per example, `logits`' shape without `axis`.

  Leng et al., 2022, https://arxiv.org/abs/2204.12511.
  """
  fn = "poly_loss_cross_entropy"
  inputs.check_scalar(fn, "epsilon", epsilon)
  logits, labels = inputs.as_array(logits), inputs.as_array(labels)
  inputs.check_floating(fn, "logits", logits)
  inputs.check_floating(fn, "labels", labels)
  inputs.check_axis(fn, "axis", axis, max(logits.ndim, labels.ndim))
  where = inputs.optional_array(where)
  inputs.check_broadcastable(fn, logits=logits, labels=labels, where=where)
  probs = jax.nn.softmax(logits, axis=axis, where=where)
  one_minus_pt = jnp.sum(labels * (1 - probs), axis=axis, where=where)
  cross_entropy = _softmax_cross_entropy(fn, logits, labels, axis, where)
  return cross_entropy + epsilon * one_minus_pt
