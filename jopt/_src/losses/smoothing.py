"""Label smoothing."""

from typing import Union

import jax
import jax.numpy as jnp

from jopt._src.losses import inputs

ArrayLike = jax.typing.ArrayLike


def smooth_labels(
    labels: ArrayLike,
    alpha: ArrayLike,
    *,
    axis: Union[int, tuple[int, ...], None] = -1,
    where: Union[ArrayLike, None] = None,
) -> jax.Array:
  r"""Label smoothing: mixes one-hot labels with the uniform distribution.

  .. math::
    \tilde y = (1 - \alpha) y + \alpha / K

  with `K` the number of classes along `axis` (or, given `where`, the number of
  included classes of each example; every entry, included or not, gets the
  shift `alpha / K`). Smoothed targets discourage over-confident logits and
  improve calibration.

  Args:
    labels: one-hot labels (floating).
    alpha: the smoothing weight in `[0, 1]`.
    axis: the class axis or axes.
    where: optional mask of the classes that count in `K`.

  Returns:
    The smoothed labels, `labels`' shape.

  Muller, Kornblith & Hinton, 2019, https://arxiv.org/abs/1906.02629.
  """
  fn = "smooth_labels"
  inputs.check_scalar(fn, "alpha", alpha, 0.0, 1.0)
  labels = inputs.as_array(labels)
  inputs.check_floating(fn, "labels", labels)
  inputs.check_axis(fn, "axis", axis, labels.ndim)
  if where is None:
    num_classes = jnp.size(labels, axis)
  else:
    where = inputs.as_array(where)
    inputs.check_broadcastable(fn, labels=labels, where=where)
    num_classes = jnp.sum(where, axis, keepdims=True)
  return (1.0 - alpha) * labels + alpha / num_classes
