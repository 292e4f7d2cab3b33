"""Binary classification losses: sigmoid cross-entropy, focal, hinge, perceptron and sparsemax."""

from typing import Optional

import jax
import jax.numpy as jnp
import jax.scipy.special

from jopt._src.losses import inputs

ArrayLike = jax.typing.ArrayLike


def _sigmoid_cross_entropy(fn, logits, labels):
  logits, labels = inputs.as_array(logits), inputs.as_array(labels)
  inputs.check_floating(fn, "logits", logits)
  inputs.check_broadcastable(fn, logits=logits, labels=labels)
  labels = labels.astype(logits.dtype)
  # -log(sigmoid(x)) = softplus(-x) and -log(1 - sigmoid(x)) = softplus(x), both stable.
  return labels * jax.nn.softplus(-logits) + (1.0 - labels) * jax.nn.softplus(logits)


def sigmoid_binary_cross_entropy(logits, labels):
  r"""Element-wise sigmoid cross-entropy (binary or multi-label classification).

  .. math::
    \ell(x, y) = -y \log \sigma(x) - (1 - y) \log(1 - \sigma(x))
    = y \operatorname{softplus}(-x) + (1 - y) \operatorname{softplus}(x)

  Each entry is an independent binary prediction (classes need not be mutually
  exclusive). `logits` and `labels` broadcast together, so make sure they line up.

  Args:
    logits: logits of the positive class, any shape.
    labels: 0/1 labels or target probabilities in `[0, 1]`, broadcastable to `logits`
      (cast to `logits`' dtype).

  Returns:
    The loss per entry, the broadcast shape of the inputs.

  See Goodfellow et al., Deep Learning, 2016, http://www.deeplearningbook.org/contents/prob.html.
  """
  return _sigmoid_cross_entropy("sigmoid_binary_cross_entropy", logits, labels)


def sigmoid_focal_loss(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    alpha: Optional[ArrayLike] = None,
    gamma: ArrayLike = 2.0,
) -> jax.Array:
  r"""Focal loss: sigmoid cross-entropy scaled down on well-classified entries.

  .. math::
    \ell(x, y) = \alpha_t (1 - p_t)^\gamma \, \mathrm{CE}(x, y), \quad
    1 - p_t = (1 - y) \sigma(x) + y (1 - \sigma(x)), \quad
    \alpha_t = \alpha y + (1 - \alpha)(1 - y)

  with :math:`\alpha_t = 1` when `alpha` is `None`. The modulating factor is
  computed in log space, :math:`\exp(\gamma \log(1 - p_t))`, so it stays accurate
  for large logits and for `gamma < 1`. Soft labels in `[0, 1]` are allowed.

  Args:
    logits: logits of the positive class, any shape.
    labels: 0/1 or soft labels, broadcastable to `logits`.
    alpha: optional weight of the positive class, in `[0, 1]`.
    gamma: focusing exponent, >= 0; 0 gives the (alpha-weighted) cross-entropy.

  Returns:
    The loss per entry, `logits`' shape.

  Lin et al., 2017, https://arxiv.org/abs/1708.02002.
  """
  fn = "sigmoid_focal_loss"
  inputs.check_scalar(fn, "alpha", alpha, 0.0, 1.0, optional=True)
  inputs.check_scalar(fn, "gamma", gamma, 0.0)
  logits = inputs.as_array(logits)
  inputs.check_floating(fn, "logits", logits)
  labels = inputs.as_array(labels).astype(logits.dtype)
  cross_entropy = _sigmoid_cross_entropy(fn, logits, labels)
  log_p, log_not_p = jax.nn.log_sigmoid(logits), jax.nn.log_sigmoid(-logits)
  # log(1 - p_t) as a weighted log-sum-exp of log p and log(1 - p).
  log_one_minus_pt = jax.scipy.special.logsumexp(
      jnp.stack([log_p, log_not_p], axis=-1),
      axis=-1,
      b=jnp.stack([1 - labels, labels], axis=-1),
  )
  loss = cross_entropy * jnp.exp(gamma * log_one_minus_pt)
  if alpha is None:
    return loss
  return (alpha * labels + (1.0 - alpha) * (1.0 - labels)) * loss


def hinge_loss(predictor_outputs: ArrayLike, targets: ArrayLike) -> jax.Array:
  r"""Binary hinge loss, :math:`\max(0, 1 - s t)` for a score `s` and a target `t` in {-1, 1}.

  Args:
    predictor_outputs: scores of the decision function.
    targets: targets in {-1, 1}, broadcastable to the scores.

  Returns:
    The loss per entry.

  See https://en.wikipedia.org/wiki/Hinge_loss.
  """
  predictor_outputs, targets = inputs.as_array(predictor_outputs), inputs.as_array(targets)
  inputs.check_broadcastable(
      "hinge_loss", predictor_outputs=predictor_outputs, targets=targets
  )
  return jnp.maximum(0, 1 - predictor_outputs * targets)


def perceptron_loss(predictor_outputs: ArrayLike, targets: ArrayLike) -> jax.Array:
  r"""Binary perceptron loss, :math:`\max(0, -s t)` for a score `s` and a target `t` in {-1, 1}.

  Args:
    predictor_outputs: scores of the model.
    targets: targets in {-1, 1}, the same shape as the scores.

  Returns:
    The loss per entry.

  See https://en.wikipedia.org/wiki/Perceptron.
  """
  predictor_outputs, targets = inputs.as_array(predictor_outputs), inputs.as_array(targets)
  inputs.check_same_shape(
      "perceptron_loss", "predictor_outputs", predictor_outputs, "targets", targets
  )
  return jnp.maximum(0, -predictor_outputs * targets)


def sparsemax_loss(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
  r"""Binary sparsemax loss, the Fenchel-Young loss of the sparse sigmoid.

  .. math::
    \ell(x, y) = \operatorname{sparseplus}(-x) \text{ if } y = 1, \quad
    \operatorname{sparseplus}(x) \text{ if } y = 0,

  with :math:`\operatorname{sparseplus}(z) = 0` for :math:`z \le -1`,
  :math:`(z + 1)^2 / 4` for :math:`|z| < 1` and `z` for :math:`z \ge 1`. It is 0
  exactly when `jax.nn.sparse_sigmoid(logits) == labels`.

  Args:
    logits: scores of the model.
    labels: labels in {0, 1} (any non-zero value counts as 1).

  Returns:
    The loss per entry.

  Blondel, Martins & Niculae, 2020, Sec. 4.4, https://arxiv.org/abs/1901.02324.
  """
  logits, labels = inputs.as_array(logits), inputs.as_array(labels)
  inputs.check_broadcastable("sparsemax_loss", logits=logits, labels=labels)
  return jax.nn.sparse_plus(jnp.where(labels, -logits, logits))
