"""Ranking losses over the last axis of `[..., list_size]` scores (leading axes are lists)."""

from collections.abc import Callable
from typing import Optional

import jax
import jax.numpy as jnp

from jopt._src.losses import inputs

ArrayLike = jax.typing.ArrayLike


def _reduce(
    values: jax.Array,
    where: Optional[jax.Array],
    reduce_fn: Optional[Callable[..., ArrayLike]],
) -> jax.Array:
  """Reduces per-list losses, turning the `nan` of an empty masked mean into 0."""
  out = values if reduce_fn is None else reduce_fn(values, where=where)
  if reduce_fn is jnp.mean:
    # A mean over no valid list is 0 / 0; report 0 then, unless the losses
    # themselves hold a nan (which must not be hidden).
    inputs_finite = jnp.logical_not(jnp.any(jnp.isnan(values)))
    out = jnp.where(jnp.isnan(out) & inputs_finite, 0.0, out)
  if reduce_fn is None and where is not None:
    # Unreduced: zero the invalid lists so that a manual sum equals reduce_fn=jnp.sum.
    out = jnp.where(where, out, 0.0)
  return out


def ranking_softmax_loss(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    where: Optional[ArrayLike] = None,
    weights: Optional[ArrayLike] = None,
    reduce_fn: Optional[Callable[..., ArrayLike]] = jnp.mean,
) -> jax.Array:
  r"""Listwise softmax ranking loss: cross-entropy of the item scores against the relevance labels.

  .. math::
    \ell(s, y) = -\sum_i w_i y_i \log \frac{e^{s_i}}{\sum_j e^{s_j}}

  over the valid items of each list (the last axis); the labels need not sum to 1.

  Args:
    logits: `[..., list_size]` item scores.
    labels: `[..., list_size]` relevance labels.
    where: optional `[..., list_size]` mask of the valid items; a list with no
      valid item is left out of the reduction.
    weights: optional `[..., list_size]` per-item weights `w`.
    reduce_fn: reduction over the lists, e.g. `jnp.mean` (0 when no list is
      valid) or `jnp.sum`, called with a `where=` keyword; `None` returns the
      loss per list (0 for lists with no valid item).

  Returns:
    The reduced loss, or the `[...]` loss per list when `reduce_fn` is `None`.

  Cao et al., 2007, https://doi.org/10.1145/1273496.1273513 (ListNet); Bruch
  et al., 2019, https://doi.org/10.1145/3341981.3344221.
  """
  fn = "ranking_softmax_loss"
  if reduce_fn is not None and not callable(reduce_fn):
    raise TypeError(
        f"{fn}: `reduce_fn` must be a function (e.g. `jnp.mean`) or None, got {reduce_fn!r}.")
  logits = inputs.as_array(logits)
  inputs.check_floating(fn, "logits", logits)
  labels = inputs.as_array(labels).astype(logits.dtype)
  where, weights = inputs.optional_array(where), inputs.optional_array(weights)
  inputs.check_broadcastable(fn, logits=logits, labels=labels, where=where, weights=weights)
  if where is not None:
    labels = jnp.where(where, labels, jnp.zeros_like(labels))
    logits = jnp.where(where, logits, -jnp.ones_like(logits) * jnp.inf)
  if weights is not None:
    labels = labels * weights
  log_probs = jax.nn.log_softmax(logits, axis=-1)
  loss = -jnp.sum(labels * log_probs, axis=-1, where=where)
  if where is not None:
    where = jnp.any(where, axis=-1)
  return _reduce(loss, where, reduce_fn)
