"""Proximal steps placed last in a chain: L1 soft-thresholding, elastic net and group lasso.

A proximal transform receives the step the chain computed (`u`, already scaled
by `-learning_rate`) and the current params `p`, forms the plain step
`z = p + u`, and returns the update that moves `p` to `prox(z)` instead:

  `u <- prox_{lr * R}(p + u) - p`,

so `apply_updates` lands on the proximal point. With `sgd` this is proximal
gradient descent (ISTA); coordinates whose magnitude falls under the
threshold become exactly zero (`p + (0 - p) == 0` in floating point).

The prox is taken with the scalar learning rate you give it. Chained after an
adaptive optimizer (Adam, RMSprop, ...) the per-coordinate step is
`lr / (sqrt(v_hat) + eps)`, not `lr`, so the result is the prox of a
differently scaled problem, not of `loss + R`. With Adam the step is about
`lr * m_hat / sqrt(v_hat)`, whatever the gradient's scale, so the threshold
`lr * l1` acts on that normalized step: its magnitude is just under `lr` at the
first step and for gradients of steady sign (Kingma & Ba bound it by
`lr * (1 - b1) / sqrt(1 - b2)` in the worst case), so `l1 >= 1` keeps almost
every zero coordinate at exactly 0 and `l1 < 1` is a relative threshold
(sparse, but not the lasso solution). For the exact
penalized solution use `sgd` (proximal gradient descent).
"""

from typing import Any, NamedTuple, Optional, Sequence, Union

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src.transforms import masking
from jopt._src.transforms import regularization


class ProximalState(NamedTuple):
  """State of a proximal transform with a scheduled learning rate or strength."""

  count: jax.Array  # shape=(), dtype=int32: updates so far (as in `scale_by_learning_rate`).


def soft_threshold(z: jax.Array, threshold: Any) -> jax.Array:
  """`sign(z) * max(|z| - threshold, 0)`; for complex `z`, the modulus shrinks: `z * max(1 - t/|z|, 0)`.

  The proximal operator of `threshold * |x|`. Entries with `|z| <= threshold`
  are exactly 0.
  """
  if jnp.iscomplexobj(z):
    return _shrink(z, jnp.abs(z), threshold)
  return jnp.sign(z) * jnp.maximum(jnp.abs(z) - threshold, 0)


def _shrink(z: jax.Array, norm: jax.Array, threshold: Any) -> jax.Array:
  """`z * max(1 - threshold / norm, 0)`, exactly 0 where `norm <= threshold`, NaN-free at `norm = 0`."""
  keep = norm > threshold
  safe_norm = jnp.where(keep, norm, 1)
  factor = jnp.where(keep, 1 - threshold / safe_norm, 0)
  return z * factor.astype(z.dtype)


def _check_learning_rate(fn: str, learning_rate: Any) -> None:
  if learning_rate is None:
    raise ValueError(
        f"{fn}: `learning_rate` is required: pass the learning rate (or schedule) "
        "of the step this prox follows, e.g. the one given to `sgd`."
    )
  checks.check_nonnegative(fn, "learning_rate", learning_rate)


@checks.public
@base.declare_callable_args("mask")
def l1_proximal(
    l1: base.ScalarOrSchedule,
    learning_rate: base.ScalarOrSchedule,
    mask: Optional[masking.Mask] = None,
) -> base.GradientTransformation:
  """Proximal L1 step (soft-thresholding), placed last in a chain: exact zeros.

  .. math::
    z = \\theta + u, \\qquad
    \\theta_{new} = \\operatorname{sign}(z) \\max(|z| - \\eta_t \\lambda_1, 0), \\qquad
    u \\leftarrow \\theta_{new} - \\theta

  `chain(sgd(lr), l1_proximal(l1, lr))` is ISTA, proximal gradient descent on
  `loss + l1 * ||theta||_1`; its fixed points are exactly the lasso solutions,
  with exact zeros. Parameters whose magnitude after the step is at most
  `learning_rate * l1` become exactly zero.

  `learning_rate` must be the learning rate of the step this follows (the same
  float or the same schedule; the prox counts updates from 0 like
  `scale_by_learning_rate`, so a shared schedule stays in step). After an
  adaptive optimizer the step per coordinate is not `learning_rate`, so this
  is the prox of a rescaled problem: with Adam, `l1` is compared with the
  normalized step `|m_hat / sqrt(v_hat)|` (usually at most about 1), so
  `l1 >= 1` freezes (almost) every zero coordinate; see the module docstring.

  Beck & Teboulle, 2009, "A Fast Iterative Shrinkage-Thresholding Algorithm"
  (https://doi.org/10.1137/080716542); Parikh & Boyd, 2014, "Proximal
  Algorithms" (https://web.stanford.edu/~boyd/papers/prox_algs.html).
  optax has no proximal transforms (jaxopt's `ProximalGradient` is deprecated).

  Args:
    l1: the L1 strength lambda_1 >= 0 (float, scalar array or schedule).
    learning_rate: the step's learning rate >= 0 (float, scalar array or schedule).
    mask: a tree of bools (or a function of the params returning one) selecting
      the leaves to threshold; `None` thresholds every leaf. Complex leaves
      shrink their modulus.

  Returns:
    A `GradientTransformation` that needs `params`; state `EmptyState()` for
    constants, `ProximalState` if either argument is a schedule.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> tx = jopt.chain(jopt.sgd(0.1), jopt.l1_proximal(l1=1.0, learning_rate=0.1))
    >>> params = jnp.array([0.05, 1.0, -1.0])
    >>> updates, _ = tx.update(jnp.zeros(3), tx.init(params), params)
    >>> jopt.apply_updates(params, updates)
    Array([ 0. ,  0.9, -0.9], dtype=float32)
  """
  checks.check_nonnegative("l1_proximal", "l1", l1)
  _check_learning_rate("l1_proximal", learning_rate)

  def leaf_update(u, p, l1, learning_rate):
    return soft_threshold(p + u, learning_rate * l1) - p

  return base.declare_fusion(regularization.leafwise_with_params(
      "l1_proximal", {"l1": l1, "learning_rate": learning_rate}, leaf_update,
      ProximalState, mask,
  ), "elementwise", "l1_proximal")


@checks.public
@base.declare_callable_args("mask")
def elastic_net_proximal(
    l1: base.ScalarOrSchedule,
    l2: base.ScalarOrSchedule,
    learning_rate: base.ScalarOrSchedule,
    mask: Optional[masking.Mask] = None,
) -> base.GradientTransformation:
  """Proximal elastic-net step (L1 + L2), placed last in a chain.

  The prox of `eta * (l1 * ||x||_1 + l2 / 2 * ||x||^2)`:

  .. math::
    z = \\theta + u, \\qquad
    \\theta_{new} = \\frac{\\operatorname{sign}(z) \\max(|z| - \\eta_t \\lambda_1, 0)}{1 + \\eta_t \\lambda_2}

  `chain(sgd(lr), elastic_net_proximal(l1, l2, lr))` minimizes
  `loss + l1 * ||theta||_1 + l2 / 2 * ||theta||^2`. scikit-learn's
  `ElasticNet(alpha, l1_ratio)` is `l1 = alpha * l1_ratio`,
  `l2 = alpha * (1 - l1_ratio)` with the loss `||y - Xw||^2 / (2 n)`. `l2` uses
  the same `/2` convention as `add_decayed_weights`.

  Zou & Hastie, 2005, "Regularization and variable selection via the elastic
  net" (https://doi.org/10.1111/j.1467-9868.2005.00503.x). The learning rate
  and adaptive optimizers: as for `l1_proximal`.

  Args:
    l1: the L1 strength >= 0 (float, scalar array or schedule).
    l2: the L2 strength >= 0 (float, scalar array or schedule).
    learning_rate: the step's learning rate >= 0 (float, scalar array or schedule).
    mask: leaves to regularize (tree of bools or function of params); `None`: all.

  Returns:
    A `GradientTransformation` that needs `params`; state `EmptyState()` or
    `ProximalState`.
  """
  checks.check_nonnegative("elastic_net_proximal", "l1", l1)
  checks.check_nonnegative("elastic_net_proximal", "l2", l2)
  _check_learning_rate("elastic_net_proximal", learning_rate)

  def leaf_update(u, p, l1, l2, learning_rate):
    return soft_threshold(p + u, learning_rate * l1) / (1 + learning_rate * l2) - p

  return base.declare_fusion(regularization.leafwise_with_params(
      "elastic_net_proximal", {"l1": l1, "l2": l2, "learning_rate": learning_rate},
      leaf_update, ProximalState, mask,
  ), "elementwise", "elastic_net_proximal")


def _group_axes(fn: str, axis: Optional[Union[int, Sequence[int]]], ndim: int) -> Optional[tuple]:
  """The axes a group norm reduces over for a leaf of `ndim` dims (None: the whole leaf)."""
  if axis is None or ndim == 0:
    return None
  axes = (axis,) if isinstance(axis, int) else tuple(axis)
  if any(not -ndim <= a < ndim for a in axes):
    raise ValueError(
        f"{fn}: `axis` {axis!r} is out of range for a parameter with {ndim} "
        "dimension(s); mask such leaves out or use `axis=None` (one group per leaf)."
    )
  return tuple(sorted(a % ndim for a in axes))


@checks.public
@base.declare_callable_args("mask")
def group_lasso_proximal(
    strength: base.ScalarOrSchedule,
    learning_rate: base.ScalarOrSchedule,
    axis: Optional[Union[int, Sequence[int]]] = None,
    mask: Optional[masking.Mask] = None,
) -> base.GradientTransformation:
  """Proximal group-lasso step (block soft-thresholding), placed last in a chain.

  The prox of `eta * strength * sum_g ||x_g||_2`:

  .. math::
    z = \\theta + u, \\qquad
    \\theta_{new, g} = z_g \\max\\left(1 - \\frac{\\eta_t\\, \\text{strength}}{\\|z_g\\|_2}, 0\\right)

  A whole group becomes exactly zero when its norm is at most
  `learning_rate * strength`. Groups: with `axis=None` each leaf is one group;
  otherwise the norm is taken over `axis` (an int or a tuple), so each slice
  along the remaining axes is a group. For a `(in_features, out_features)`
  kernel, `axis=-1` makes each row (one input feature) a group: feature
  selection, as in scikit-learn's `MultiTaskLasso`, whose penalty
  `alpha * sum_j ||W_j||_2` over the rows of `W` is `strength = alpha`.
  Scalar leaves are one group (plain soft-thresholding). The penalty is not
  scaled by `sqrt(group size)`; fold such weights into `strength` per leaf
  (one transform per mask) if you want them.

  Yuan & Lin, 2006, "Model selection and estimation in regression with grouped
  variables" (https://doi.org/10.1111/j.1467-9868.2005.00532.x). The learning
  rate and adaptive optimizers: as for `l1_proximal`.

  Args:
    strength: the group penalty >= 0 (float, scalar array or schedule).
    learning_rate: the step's learning rate >= 0 (float, scalar array or schedule).
    axis: the axis or axes of each leaf the group norm runs over; `None` for
      one group per leaf. A leaf with too few dimensions raises `ValueError`
      when the transform is traced.
    mask: leaves to regularize (tree of bools or function of params); `None`: all.

  Returns:
    A `GradientTransformation` that needs `params`; state `EmptyState()` or
    `ProximalState`.
  """
  fn = "group_lasso_proximal"
  checks.check_nonnegative(fn, "strength", strength)
  _check_learning_rate(fn, learning_rate)
  checks.check_axis(fn, "axis", axis)

  def leaf_update(u, p, strength, learning_rate):
    z = p + u
    axes = _group_axes(fn, axis, z.ndim)
    norm = jnp.sqrt(numerics.leaf_sum_of_squares(z, axis=axes, keepdims=True)).astype(jnp.real(z).dtype)
    return _shrink(z, norm, learning_rate * strength) - p

  return base.declare_fusion(regularization.leafwise_with_params(
      fn, {"strength": strength, "learning_rate": learning_rate}, leaf_update,
      ProximalState, mask,
  ), "per_leaf", fn,
      why="the norm of each leaf, or of its slices along `axis`")
