"""Kullback-Leibler divergences between a predicted and a target distribution."""

from typing import Union
import warnings

import jax
import jax.numpy as jnp

from jopt._src.losses import inputs

ArrayLike = jax.typing.ArrayLike


def _kl(fn, log_predictions, targets, axis, where):
  log_predictions, targets = inputs.as_array(log_predictions), inputs.as_array(targets)
  inputs.check_axis(fn, "axis", axis, max(log_predictions.ndim, targets.ndim))
  inputs.check_floating(fn, "log_predictions", log_predictions)
  inputs.check_floating(fn, "targets", targets)
  where = inputs.optional_array(where)
  inputs.check_broadcastable(fn, log_predictions=log_predictions, targets=targets, where=where)
  # 0 log 0 = 0: a zero target contributes nothing (and no nan from log 0).
  log_targets = jnp.where(targets == 0, 0, jnp.log(targets))
  return jnp.sum(targets * (log_targets - log_predictions), axis=axis, where=where)


def kl_divergence(
    log_predictions: ArrayLike,
    targets: ArrayLike,
    axis: Union[int, tuple[int, ...], None] = -1,
    where: Union[ArrayLike, None] = None,
) -> jax.Array:
  r"""Kullback-Leibler divergence of the predictions from the targets.

  .. math::
    \mathrm{KL}(q \,\|\, p) = \sum_i q_i (\log q_i - \log p_i), \qquad 0 \log 0 = 0

  with `p` the predicted and `q` the target distribution.

  Args:
    log_predictions: log-probabilities of the predicted distribution, `[..., dim]`.
    targets: probabilities of the target distribution, `[..., dim]`.
    axis: the axis or axes to sum over.
    where: optional mask of the entries to include.

  Returns:
    The divergence per distribution, shape `[...]`.

  Kullback & Leibler, 1951, https://www.jstor.org/stable/2236703.
  """
  return _kl("kl_divergence", log_predictions, targets, axis, where)


def kl_divergence_with_log_targets(
    log_predictions: ArrayLike,
    log_targets: ArrayLike,
    axis: Union[int, tuple[int, ...], None] = -1,
    where: Union[ArrayLike, None] = None,
) -> jax.Array:
  r"""Kullback-Leibler divergence with the target distribution also given in log space.

  .. math::
    \mathrm{KL}(q \,\|\, p) = \sum_i e^{\log q_i} (\log q_i - \log p_i)

  Args:
    log_predictions: log-probabilities of the predicted distribution, `[..., dim]`.
    log_targets: log-probabilities of the target distribution, `[..., dim]`.
    axis: the axis or axes to sum over.
    where: optional mask of the entries to include.

  Returns:
    The divergence per distribution, shape `[...]`.
  """
  fn = "kl_divergence_with_log_targets"
  log_predictions, log_targets = inputs.as_array(log_predictions), inputs.as_array(log_targets)
  inputs.check_axis(fn, "axis", axis, max(log_predictions.ndim, log_targets.ndim))
  inputs.check_floating(fn, "log_predictions", log_predictions)
  inputs.check_floating(fn, "log_targets", log_targets)
  where = inputs.optional_array(where)
  inputs.check_broadcastable(
      fn, log_predictions=log_predictions, log_targets=log_targets, where=where
  )
  terms = jnp.exp(log_targets) * (log_targets - log_predictions)
  return jnp.sum(terms, axis=axis, where=where)


def _generalized_kl(fn, log_predictions, targets, axis, where):
  kl = _kl(fn, log_predictions, targets, axis, where)
  mass = jnp.sum(
      jnp.exp(inputs.as_array(log_predictions)) - inputs.as_array(targets),
      axis=axis,
      where=inputs.optional_array(where),
  )
  return kl + mass


def generalized_kl_divergence(
    log_predictions: ArrayLike,
    targets: ArrayLike,
    axis: Union[int, tuple[int, ...], None] = -1,
    where: Union[ArrayLike, None] = None,
) -> jax.Array:
  r"""Generalized Kullback-Leibler divergence, for unnormalized non-negative measures.

  .. math::
    D(q \,\|\, p) = \sum_i q_i (\log q_i - \log p_i) + \sum_i (p_i - q_i)

  the Bregman divergence of :math:`x \log x - x`; equal to the KL divergence when
  both sum to 1.

  Args:
    log_predictions: log of the predicted measure, `[..., dim]`.
    targets: the target measure (non-negative), `[..., dim]`.
    axis: the axis or axes to sum over.
    where: optional mask of the entries to include.

  Returns:
    The divergence per measure, shape `[...]`.

  Boyd & Vandenberghe, Convex Optimization, p. 90,
  https://stanford.edu/~boyd/cvxbook/bv_cvxbook.pdf.
  """
  return _generalized_kl("generalized_kl_divergence", log_predictions, targets, axis, where)


def convex_kl_divergence(
    log_predictions: ArrayLike,
    targets: ArrayLike,
    axis: Union[int, tuple[int, ...], None] = -1,
    where: Union[ArrayLike, None] = None,
) -> jax.Array:
  """Deprecated name of :func:`generalized_kl_divergence` (warns with `DeprecationWarning`, as optax does).

  Args:
    log_predictions: log of the predicted measure, `[..., dim]`.
    targets: the target measure (non-negative), `[..., dim]`.
    axis: the axis or axes to sum over.
    where: optional mask of the entries to include.

  Returns:
    The generalized KL divergence per measure, shape `[...]`.
  """
  warnings.warn(
      "convex_kl_divergence is deprecated: use generalized_kl_divergence, which computes the "
      "same thing.",
      DeprecationWarning,
      stacklevel=2,
  )
  return _generalized_kl("convex_kl_divergence", log_predictions, targets, axis, where)
