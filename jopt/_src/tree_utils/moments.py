"""Moment EMAs and bias correction on pytrees: public faces of `jopt._src.numerics`, plus Adamax's infinity moment."""

from typing import Any

import jax.numpy as jnp

from jopt._src import numerics


def tree_update_moment(updates, moments, decay, order):
  """EMA of the `order`-th power of the updates.

  .. math::
    m \\leftarrow (1 - \\beta) \\, g^{k} + \\beta \\, m

  `None` leaves of `updates` stay `None`.

  Args:
    updates: the gradients `g`.
    moments: the running moments `m`, same structure.
    decay: the decay `beta`.
    order: the power `k`.

  Returns:
    The new moments.
  """
  return numerics.update_moment(updates, moments, decay, order)


def tree_update_infinity_moment(updates, moments, decay, eps):
  """Exponentially weighted infinity norm (Adamax's second moment).

  .. math::
    u \\leftarrow \\max(|g| + \\epsilon, \\beta \\, u)

  `None` leaves of `updates` stay `None`. Kingma & Ba, 2014, section 7.1,
  https://arxiv.org/abs/1412.6980.

  Args:
    updates: the gradients `g`.
    moments: the running norms `u`, same structure.
    decay: the decay `beta`.
    eps: added to `|g|` (keeps the norm away from 0).

  Returns:
    The new norms.
  """
  return infinity_moment(updates, moments, decay, eps)


def infinity_moment(updates: Any, moments: Any, decay: Any, eps: Any) -> Any:
  """`max(|g| + eps, decay * u)` per leaf, `None` leaves passed through (shareable helper)."""
  return numerics.tree_map(
      lambda g, u: jnp.maximum(jnp.abs(g) + eps, decay * u), updates, moments
  )


def tree_update_moment_per_elem_norm(updates, moments, decay, order):
  """EMA of the `order`-th power of each element's magnitude (real for complex updates).

  .. math::
    m \\leftarrow (1 - \\beta) \\, |g|^{k} + \\beta \\, m

  For real `g` this is `g ** order`, as in `tree_update_moment`.

  Args:
    updates: the gradients `g`.
    moments: the running moments `m`, same structure.
    decay: the decay `beta`.
    order: the power `k`.

  Returns:
    The new moments.
  """
  return numerics.update_moment_per_elem_norm(updates, moments, decay, order)


def tree_bias_correction(moment, decay, count):
  """Removes the zero-initialisation bias of an EMA after `count` steps.

  .. math::
    \\hat m = m / (1 - \\beta^{t})

  The factor `1 - beta^t` is computed in float32 by the helper every jopt
  transform uses (`jopt._src.numerics.bias_correction_factor`), then cast to
  each leaf's dtype before dividing, so bf16 moments stay bf16.

  Args:
    moment: the moments `m`.
    decay: the EMA decay `beta`.
    count: the step count `t` (>= 1).

  Returns:
    The corrected moments, same structure and dtypes.
  """
  return numerics.bias_correction(moment, decay, count)
