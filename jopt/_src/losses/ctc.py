"""Connectionist temporal classification (CTC) loss and its forward (alpha) log-probabilities."""

import jax
import jax.numpy as jnp
import numpy as np

from jopt._src.losses import inputs

ArrayLike = jax.typing.ArrayLike


def _log_add_after_first(scores: jax.Array, added: jax.Array) -> jax.Array:
  """`scores` with `added` log-added into every column but the first."""
  return jnp.concatenate([scores[:, :1], jnp.logaddexp(scores[:, 1:], added)], axis=-1)


def _ctc_forward(fn, logits, logit_paddings, labels, label_paddings, blank_id, log_epsilon):
  """The CTC forward recursion; returns (loss, log_alpha_blank, log_alpha_label)."""
  logits, logit_paddings = inputs.as_array(logits), inputs.as_array(logit_paddings)
  labels, label_paddings = inputs.as_array(labels), inputs.as_array(label_paddings)
  inputs.check_rank(fn, "logits", logits, 3, "[batch, time, classes]")
  inputs.check_rank(fn, "labels", labels, 2, "[batch, max_label_length]")
  inputs.check_same_shape(fn, "labels", labels, "label_paddings", label_paddings)
  if logit_paddings.shape != logits.shape[:2]:
    raise ValueError(
        f"{fn}: `logit_paddings` must have shape {logits.shape[:2]} ([batch, time] of `logits` "
        f"{logits.shape}), got {logit_paddings.shape}."
    )
  if labels.shape[0] != logits.shape[0]:
    raise ValueError(
        f"{fn}: `labels` must have batch size {logits.shape[0]} (that of `logits`), got "
        f"{labels.shape[0]}."
    )
  batch_size, _, num_classes = logits.shape
  max_label_len = labels.shape[1]
  if isinstance(blank_id, (bool, np.bool_)) or not isinstance(blank_id, (int, np.integer)):
    raise TypeError(f"{fn}: `blank_id` must be a class index (an int), got {blank_id!r}.")
  if not 0 <= blank_id < num_classes:
    raise ValueError(
        f"{fn}: `blank_id` must be a class index in [0, {num_classes}) (the class axis of `logits` "
        f"{logits.shape}), got {blank_id}.")
  inputs.check_scalar(fn, "log_epsilon", log_epsilon, None, 0.0, high_inclusive=False)

  log_probs = jax.nn.log_softmax(logits)
  label_lengths = max_label_len - jnp.sum(label_paddings, axis=1).astype(jnp.int32)
  # repeat[b, n] = 1 when labels n and n + 1 are equal: a blank must separate them.
  repeat = (labels[:, :-1] == labels[:, 1:]).astype(jnp.float32)
  repeat = jnp.pad(repeat, ((0, 0), (0, 1)))

  blank_log_probs = jnp.transpose(log_probs[:, :, blank_id:blank_id + 1], (1, 0, 2))  # [T, B, 1]
  # Log-probability of emitting label n at time t; an out-of-range label emits with log-prob 0.
  in_range = (labels >= 0) & (labels < num_classes)
  gathered = jnp.take_along_axis(
      log_probs, jnp.clip(labels, 0, num_classes - 1)[:, None, :], axis=2
  )
  label_log_probs = jnp.transpose(jnp.where(in_range[:, None, :], gathered, 0.0), (1, 0, 2))

  # State n of the blank chain: n labels emitted, now in a blank; of the label chain:
  # now emitting label n. log(0) is approximated by log_epsilon so that nothing is -inf.
  init_blank = (jnp.ones((batch_size, max_label_len + 1)) * log_epsilon).at[:, 0].set(0.0)
  init_label = jnp.ones((batch_size, max_label_len)) * log_epsilon

  def step(carry, frame):
    blank, label = carry
    emit, stay_blank, pad = frame
    # label n -> blank n + 1 without consuming a frame (forbidden before a repeat).
    blank_in = _log_add_after_first(blank, label + log_epsilon * repeat)
    next_label = jnp.logaddexp(blank_in[:, :-1] + emit, label + emit)
    next_blank = blank_in + stay_blank
    # label n -> blank n + 1 consuming a blank frame, only needed before a repeat.
    next_blank = _log_add_after_first(
        next_blank, label + stay_blank + log_epsilon * (1.0 - repeat)
    )
    pad = pad.reshape((batch_size, 1))
    next_label = pad * label + (1.0 - pad) * next_label
    next_blank = pad * blank + (1.0 - pad) * next_blank
    return (next_blank, next_label), (next_blank, next_label)

  frames = (label_log_probs, blank_log_probs, jnp.transpose(logit_paddings, (1, 0)))
  _, (log_alpha_blank, log_alpha_label) = jax.lax.scan(step, (init_blank, init_label), frames)

  # The final epsilon move from the last label to the trailing blank state.
  last_blank = _log_add_after_first(log_alpha_blank[-1], log_alpha_label[-1])
  log_alpha_blank = log_alpha_blank.at[-1].set(last_blank)
  loss = -jnp.take_along_axis(last_blank, label_lengths[:, None], axis=1)[:, 0]
  return loss, log_alpha_blank, log_alpha_label


def ctc_loss_with_forward_probs(
    logits: ArrayLike,
    logit_paddings: ArrayLike,
    labels: ArrayLike,
    label_paddings: ArrayLike,
    *,
    blank_id: int = 0,
    log_epsilon: ArrayLike = -1e5,
) -> tuple[jax.Array, jax.Array, jax.Array]:
  r"""CTC loss and the forward log-probabilities of the blank and label states.

  CTC sums over every alignment :math:`\pi` of the frames to the label sequence
  with blanks inserted: :math:`\ell = -\log \sum_{\pi \to y} \prod_t p(\pi_t \mid x_t)`.
  The forward recursion tracks, for each frame `t` and label position `n`,

  .. math::
    \alpha_{\mathrm{blank}}(t, n) = \log p(\pi_t = \phi, \text{ n labels emitted}), \quad
    \alpha_{\mathrm{label}}(t, n) = \log p(\pi_t = y_n, \ldots)

  Args:
    logits: `[B, T, K]` logits over `K` classes (the blank included).
    logit_paddings: `[B, T]`, 1.0 on padded frames, 0.0 on real ones.
    labels: `[B, N]` integer labels.
    label_paddings: `[B, N]`, 1.0 on padded labels; padding must be on the right.
    blank_id: the class index of the blank.
    log_epsilon: a large negative number standing in for `log(0)`.

  Returns:
    `(loss, log_alpha_blank, log_alpha_label)`: the `[B]` loss per sequence, and
    the `[T, B, N + 1]` and `[T, B, N]` forward log-probabilities.

  Graves et al., 2006, https://dl.acm.org/doi/abs/10.1145/1143844.1143891.
  """
  return _ctc_forward(
      "ctc_loss_with_forward_probs",
      logits, logit_paddings, labels, label_paddings, blank_id, log_epsilon,
  )


def ctc_loss(
    logits: ArrayLike,
    logit_paddings: ArrayLike,
    labels: ArrayLike,
    label_paddings: ArrayLike,
    *,
    blank_id: int = 0,
    log_epsilon: ArrayLike = -1e5,
) -> jax.Array:
  r"""CTC loss per sequence: minus the log-probability of `labels` summed over all alignments.

  .. math::
    \ell(x, y) = -\log \sum_{\pi \,:\, \mathcal{B}(\pi) = y} \prod_t p(\pi_t \mid x_t)

  where :math:`\mathcal{B}` removes repeats then blanks. See
  :func:`ctc_loss_with_forward_probs` for the recursion.

  Args:
    logits: `[B, T, K]` logits over `K` classes (the blank included).
    logit_paddings: `[B, T]`, 1.0 on padded frames, 0.0 on real ones.
    labels: `[B, N]` integer labels.
    label_paddings: `[B, N]`, 1.0 on padded labels; padding must be on the right.
    blank_id: the class index of the blank.
    log_epsilon: a large negative number standing in for `log(0)`.

  Returns:
    The `[B]` loss per sequence.

  Graves et al., 2006, https://dl.acm.org/doi/abs/10.1145/1143844.1143891.
  """
  loss, _, _ = _ctc_forward(
      "ctc_loss", logits, logit_paddings, labels, label_paddings, blank_id, log_epsilon
  )
  return loss
