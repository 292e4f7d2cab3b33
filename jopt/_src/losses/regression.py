"""Regression losses: squared error, L2, Huber, log-cosh, cosine similarity and distance."""

from typing import Optional, Union

import jax
import jax.numpy as jnp

from jopt._src.losses import inputs

ArrayLike = jax.typing.ArrayLike


def _errors(fn, predictions, targets, same_shape):
  """`predictions - targets` (or `predictions` when there are no targets), checked."""
  predictions = inputs.as_array(predictions)
  inputs.check_floating(fn, "predictions", predictions)
  if targets is None:
    return predictions
  targets = inputs.as_array(targets)
  if same_shape:
    # No silent broadcasting: (n,) against (n, 1) would give an (n, n) loss.
    inputs.check_same_shape(fn, "predictions", predictions, "targets", targets)
  else:
    inputs.check_broadcastable(fn, predictions=predictions, targets=targets)
  return predictions - targets


def squared_error(
    predictions: ArrayLike,
    targets: Optional[ArrayLike] = None,
) -> jax.Array:
  r"""Element-wise squared error, :math:`(\hat y - y)^2`; its mean is the MSE.

  Args:
    predictions: predictions, any shape.
    targets: targets of the same shape (no broadcasting); zeros if `None`.

  Returns:
    The squared error per entry, `predictions`' shape.
  """
  return _errors("squared_error", predictions, targets, same_shape=True) ** 2


def l2_loss(
    predictions: ArrayLike,
    targets: Optional[ArrayLike] = None,
) -> jax.Array:
  r"""Element-wise L2 loss, half the squared error: :math:`\tfrac12 (\hat y - y)^2`.

  The factor 1/2 (Bishop's convention) makes the gradient :math:`\hat y - y`.

  Args:
    predictions: predictions, any shape.
    targets: targets of the same shape (no broadcasting); zeros if `None`.

  Returns:
    The loss per entry, `predictions`' shape.
  """
  return 0.5 * _errors("l2_loss", predictions, targets, same_shape=True) ** 2


def huber_loss(
    predictions: ArrayLike,
    targets: Optional[ArrayLike] = None,
    *,
    delta: ArrayLike = 1.0,
) -> jax.Array:
  r"""Element-wise Huber loss: quadratic near zero, linear beyond `delta`.

  .. math::
    \ell(e) = \tfrac12 e^2 \text{ if } |e| \le \delta, \quad
    \delta (|e| - \tfrac12 \delta) \text{ otherwise}, \qquad e = \hat y - y

  Its gradient is the error clipped to `[-delta, delta]`.

  Args:
    predictions: predictions, any shape.
    targets: targets broadcastable to `predictions`; zeros if `None`.
    delta: where the loss turns from quadratic to linear, > 0.

  Returns:
    The loss per entry.

  See https://en.wikipedia.org/wiki/Huber_loss.
  """
  inputs.check_scalar("huber_loss", "delta", delta, 0.0, low_inclusive=False)
  abs_errors = jnp.abs(_errors("huber_loss", predictions, targets, same_shape=False))
  quadratic = jnp.minimum(abs_errors, delta)
  # |e| - min(|e|, delta) rather than max(|e| - delta, 0): one gradient path, not two.
  linear = abs_errors - quadratic
  return 0.5 * quadratic**2 + delta * linear


def log_cosh(
    predictions: ArrayLike,
    targets: Optional[ArrayLike] = None,
) -> jax.Array:
  r"""Element-wise log-cosh loss, :math:`\log\cosh(\hat y - y)`.

  About :math:`e^2 / 2` for small errors and :math:`|e| - \log 2` for large ones: a
  twice differentiable Huber loss. Computed as `logaddexp(e, -e) - log 2`, which
  does not overflow.

  Args:
    predictions: predictions, any shape.
    targets: targets broadcastable to `predictions`; zeros if `None`.

  Returns:
    The loss per entry.

  Chen et al., 2019, https://openreview.net/pdf?id=rkglvsC9Ym.
  """
  errors = _errors("log_cosh", predictions, targets, same_shape=False)
  return jnp.logaddexp(errors, -errors) - jnp.log(2.0).astype(errors.dtype)


def checked_cosine_similarity(fn, predictions, targets, epsilon, axis, where, outer_ok=False):
  """`cosine_similarity` whose input errors name `fn` (also used by `ntxent`)."""
  inputs.check_scalar(fn, "epsilon", epsilon, 0.0)
  predictions, targets = inputs.as_array(predictions), inputs.as_array(targets)
  inputs.check_floating(fn, "predictions", predictions)
  inputs.check_floating(fn, "targets", targets)
  inputs.check_axis(fn, "axis", axis, max(predictions.ndim, targets.ndim))
  where = inputs.optional_array(where)
  inputs.check_broadcastable(fn, predictions=predictions, targets=targets, where=where,
                             outer_ok=outer_ok)
  # Squared norms are floored at epsilon (not epsilon**2) before the square root.
  pred_sq_norm = jnp.sum(jnp.square(predictions), axis=axis, where=where, keepdims=True)
  target_sq_norm = jnp.sum(jnp.square(targets), axis=axis, where=where, keepdims=True)
  pred_unit = predictions / jnp.sqrt(jnp.clip(pred_sq_norm, epsilon))
  target_unit = targets / jnp.sqrt(jnp.clip(target_sq_norm, epsilon))
  return jnp.sum(pred_unit * target_unit, axis=axis, where=where)


def cosine_similarity(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    epsilon: ArrayLike = 0.0,
    axis: Union[int, tuple[int, ...], None] = -1,
    where: Union[ArrayLike, None] = None,
) -> jax.Array:
  r"""Cosine similarity between predicted and target vectors.

  .. math::
    \cos(a, b) = \frac{\langle a, b \rangle}
    {\sqrt{\max(\|a\|^2, \epsilon)} \sqrt{\max(\|b\|^2, \epsilon)}}

  Args:
    predictions: predicted vectors, `[..., dim]`.
    targets: target vectors, `[..., dim]`.
    epsilon: floor of each squared norm in the denominator.
    axis: the axis or axes of the vectors.
    where: optional mask of the entries to include.

  Returns:
    The similarity per vector pair, shape `[...]`.

  See https://en.wikipedia.org/wiki/Cosine_similarity.
  """
  return checked_cosine_similarity("cosine_similarity", predictions, targets, epsilon, axis, where)


def cosine_distance(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    epsilon: ArrayLike = 0.0,
    axis: Union[int, tuple[int, ...], None] = -1,
    where: Union[ArrayLike, None] = None,
) -> jax.Array:
  r"""Cosine distance, :math:`1 - \cos(a, b)` (see :func:`cosine_similarity`).

  Args:
    predictions: predicted vectors, `[..., dim]`.
    targets: target vectors, `[..., dim]`.
    epsilon: floor of each squared norm in the denominator.
    axis: the axis or axes of the vectors.
    where: optional mask of the entries to include.

  Returns:
    The distance per vector pair, in `[0, 2]`, shape `[...]`.

  See https://en.wikipedia.org/wiki/Cosine_similarity#Cosine_distance.
  """
  return 1.0 - checked_cosine_similarity("cosine_distance", predictions, targets, epsilon, axis, where)
