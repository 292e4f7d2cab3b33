"""Self-supervised (metric learning) losses: NT-Xent and the triplet margin loss."""

import jax
import jax.numpy as jnp

from jopt._src import checks
from jopt._src.losses import inputs
from jopt._src.losses import regression

ArrayLike = jax.typing.ArrayLike


def ntxent(
    embeddings: ArrayLike,
    labels: ArrayLike,
    temperature: ArrayLike = 0.07,
) -> jax.Array:
  r"""Normalized temperature-scaled cross-entropy (NT-Xent, the SimCLR contrastive loss).

  With :math:`s_{ij} = \cos(z_i, z_j) / \tau`, :math:`P(i)` the other examples
  with the same label as `i` (positives) and :math:`N(i)` those with a different
  label (negatives):

  .. math::
    \ell = -\frac{1}{\sum_i |P(i)|} \sum_i \sum_{j \in P(i)}
    \log \frac{e^{s_{ij}}}{e^{s_{ij}} + \sum_{k \in N(i)} e^{s_{ik}}}

  Each positive pair is contrasted with the negatives only (not with the other
  positives). A batch without any positive pair gives `nan` (0 / 0), as in optax.

  Args:
    embeddings: `[batch, dim]` embeddings.
    labels: `[batch]` labels; equal labels mark positive pairs, e.g. `[0, 0, 1, 1]`.
    temperature: the temperature :math:`\tau > 0`.

  Returns:
    The scalar loss, averaged over the positive pairs.

  Chen et al., 2020, https://arxiv.org/abs/2002.05709.
  """
  fn = "ntxent"
  inputs.check_scalar(fn, "temperature", temperature, 0.0, low_inclusive=False)
  embeddings, labels = inputs.as_array(embeddings), inputs.as_array(labels)
  inputs.check_floating(fn, "embeddings", embeddings)
  inputs.check_rank(fn, "embeddings", embeddings, 2, "[batch, dim]")
  inputs.check_rank(fn, "labels", labels, 1, "[batch]")
  if labels.shape[0] != embeddings.shape[0]:
    raise ValueError(
        f"{fn}: `labels` and `embeddings` must have the same leading dimension, got "
        f"{labels.shape[0]} and {embeddings.shape[0]}."
    )
  similarity = regression.checked_cosine_similarity(
      fn,
      embeddings[None, :, :],
      embeddings[:, None, :],
      jnp.finfo(embeddings.dtype).eps,
      -1,
      None,
      outer_ok=True,  # all pairs (i, j)
  ) / temperature
  same = labels[:, None] == labels[None, :]
  positives = same & ~jnp.eye(labels.shape[0], dtype=bool)
  negatives = ~same
  # Shift each row by its largest positive or negative score (a constant, for stability).
  row_max = jnp.max(jnp.where(positives | negatives, similarity, -jnp.inf), axis=1, keepdims=True)
  shifted = similarity - jax.lax.stop_gradient(row_max)
  negative_mass = jnp.sum(jnp.where(negatives, jnp.exp(shifted), 0.0), axis=1, keepdims=True)
  log_probs = shifted - jnp.log(negative_mass + jnp.exp(shifted))
  return -jnp.where(positives, log_probs, 0.0).sum() / positives.sum()


def triplet_margin_loss(
    anchors: ArrayLike,
    positives: ArrayLike,
    negatives: ArrayLike,
    axis: int = -1,
    norm_degree: ArrayLike = 2,
    margin: ArrayLike = 1.0,
    eps: ArrayLike = 1e-6,
) -> jax.Array:
  r"""Triplet margin loss: the positive must be closer to the anchor than the negative by `margin`.

  .. math::
    \ell(a, p, n) = \max\left(d(a, p) - d(a, n) + m, 0\right), \qquad
    d(x, y) = \left(\textstyle\sum_i (x_i - y_i)^q + \varepsilon\right)^{1/q}

  Note the differences are raised to the power `q` without an absolute value
  (as in optax), so use an even `norm_degree`.

  Args:
    anchors: `[batch, dim]` anchor embeddings.
    positives: `[batch, dim]` embeddings similar to the anchors.
    negatives: `[batch, dim]` embeddings dissimilar to the anchors.
    axis: the axis of the embedding dimension.
    norm_degree: the degree `q`, a whole number > 0 (2: Euclidean).
    margin: the margin `m`.
    eps: added under the root for stability, >= 0.

  Returns:
    The loss per triplet, shape `[batch]`.

  Balntas et al., 2016,
  https://bmva-archive.org.uk/bmvc/2016/papers/paper119/abstract119.pdf.
  """
  fn = "triplet_margin_loss"
  inputs.check_scalar(fn, "norm_degree", norm_degree, 0.0, low_inclusive=False)
  known = checks.concrete_value(norm_degree)
  if known is not None and float(known) != round(float(known)):
    # The differences are raised to `q` without an absolute value: a fractional `q` is NaN.
    raise ValueError(
        f"{fn}: `norm_degree` must be a whole number (2 for Euclidean), got {norm_degree!r}.")
  inputs.check_scalar(fn, "margin", margin)
  inputs.check_scalar(fn, "eps", eps, 0.0)
  anchors = inputs.as_array(anchors)
  positives, negatives = inputs.as_array(positives), inputs.as_array(negatives)
  inputs.check_floating(fn, "anchors", anchors)
  inputs.check_floating(fn, "positives", positives)
  inputs.check_floating(fn, "negatives", negatives)
  inputs.check_broadcastable(fn, anchors=anchors, positives=positives, negatives=negatives)
  inputs.check_axis(fn, "axis", axis, anchors.ndim, optional=False)

  def distance(other):
    powered = jnp.power(anchors - other, norm_degree).sum(axis)
    return jnp.power(powered + eps, 1 / norm_degree)

  return jnp.maximum(distance(positives) - distance(negatives) + margin, 0)
