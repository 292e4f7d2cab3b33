"""Clipping updates: element-wise (`clip`), per leaf (`clip_by_block_rms`) and over the whole tree (`clip_by_global_norm`)."""

import jax
import jax.numpy as jnp
import math
from typing import Any
from typing import Optional, Union

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics


@checks.public
def clip(max_delta: jax.typing.ArrayLike) -> base.GradientTransformation:
  """Clips every element of the updates to `[-max_delta, max_delta]`.

  .. math::
    u \\leftarrow \\min(\\max(u, -\\delta), \\delta)

  Args:
    max_delta: the largest allowed absolute value of an element, >= 0.

  Returns:
    A stateless `GradientTransformation`. Updates keep each leaf's dtype.

  Differs from optax: a `params` tree that does not match the updates raises.
  """
  checks.check_nonnegative("clip", "max_delta", max_delta, finite=False)

  def update_fn(updates, state, params=None):
    checks.check_params_structure("clip", updates, params)
    updates = numerics.tree_map(
        lambda g: jnp.clip(g, -max_delta, max_delta).astype(g.dtype), updates
    )
    return updates, state

  return base.declare_fusion(
      base.GradientTransformation(base.init_empty_state, update_fn), "elementwise", "clip")


@checks.public
def clip_by_block_rms(threshold: jax.typing.ArrayLike) -> base.GradientTransformation:
  """Rescales each leaf ("block") whose root-mean-square exceeds `threshold`.

  .. math::
    u \\leftarrow u / \\max\\left(1, \\mathrm{rms}(u) / c\\right), \\qquad
    \\mathrm{rms}(u) = \\sqrt{\\mathrm{mean}(|u|^2)}

  computed as `u * min(1, c / rms(u))`. Used by Adafactor (Shazeer & Stern,
  2018, https://arxiv.org/abs/1804.04235, section 6).

  Args:
    threshold: the largest allowed rms of a leaf, >= 0.

  Returns:
    A stateless `GradientTransformation`. Updates keep each leaf's dtype.

  Differs from optax: `threshold=0` on an all-zero leaf gives zeros (optax:
  NaN from 0/0); a `params` tree that does not match the updates raises.
  """
  checks.check_nonnegative("clip_by_block_rms", "threshold", threshold, finite=False)

  def clip_leaf(u):
    rms = jnp.sqrt(numerics.leaf_sum_of_squares(u) / max(u.size, 1))
    keep = rms <= threshold  # False for a NaN rms: the NaN propagates, clipping stays on.
    # The division only runs where it is selected, so its gradient stays finite.
    factor = jnp.where(keep, 1.0, threshold / jnp.where(keep, 1.0, rms))
    return (u * factor).astype(u.dtype)

  def update_fn(updates, state, params=None):
    checks.check_params_structure("clip_by_block_rms", updates, params)
    return numerics.tree_map(clip_leaf, updates), state

  return base.declare_fusion(
      base.GradientTransformation(base.init_empty_state, update_fn),
      "per_leaf", "clip_by_block_rms",
      why="the RMS of each leaf")


@checks.public
def clip_by_global_norm(max_norm: jax.typing.ArrayLike) -> base.GradientTransformation:
  """Rescales the whole update tree when its global l2 norm exceeds `max_norm`.

  .. math::
    u \\leftarrow u \\cdot \\min\\left(1, \\frac{c}{\\|u\\|_2}\\right), \\qquad
    \\|u\\|_2 = \\sqrt{\\textstyle\\sum_{\\text{leaves}} \\sum |u|^2}

  One reduction (the sum of squares, accumulated in float32 for low-precision
  leaves) and one scalar factor, multiplied into every leaf: the rescale fuses
  with whatever follows it in the step. Pascanu et al., 2013, "On the
  difficulty of training recurrent neural networks"
  (https://arxiv.org/abs/1211.5063).

  Args:
    max_norm: the largest allowed global norm, >= 0.

  Returns:
    A stateless `GradientTransformation`. Updates keep each leaf's dtype.

  Differs from optax: `max_norm=0` with all-zero updates gives zeros (optax:
  NaN); a `params` tree that does not match the updates raises.
  """
  checks.check_nonnegative("clip_by_global_norm", "max_norm", max_norm, finite=False)

  def update_fn(updates, state, params=None):
    checks.check_params_structure("clip_by_global_norm", updates, params)
    if not [l for l in jax.tree.leaves(updates) if l is not None]:
      return updates, state
    norm = numerics.global_norm(updates)
    # `keep` is False for a NaN norm, so a NaN anywhere makes every leaf NaN (as in optax) and
    # the usual guards (`apply_if_finite`, `skip_not_finite`) see it; `norm > max_norm` would be
    # False for NaN and silently switch clipping off.
    keep = norm <= max_norm
    # One scalar factor multiplied into every leaf (fuses with what follows); a NaN norm gives a
    # NaN factor. Differs from optax's per-element `(g / norm) * max_norm` by rounding only.
    factor = jnp.where(keep, 1.0, max_norm / jnp.where(keep, 1.0, norm))
    return numerics.tree_map(lambda g: (g * factor).astype(g.dtype), updates), state

  return base.declare_fusion(
      base.GradientTransformation(base.init_empty_state, update_fn),
      "global", "clip_by_global_norm")


# --- per-example clipping (differential privacy) ---

def _check_batch_axis(fn: str, grads: Any) -> None:
  leaves = jax.tree.leaves(grads)
  shapes = [jnp.shape(g) for g in leaves]
  if not leaves or any(len(s) < 1 or s[0] != shapes[0][0] for s in shapes):
    raise ValueError(
        f"{fn}: every leaf of `grads` must carry the same batch (example) axis 0; "
        f"got shapes {shapes}."
    )


def _clip_and_sum(grads: Any, l2_norm_clip: jax.typing.ArrayLike) -> tuple[Any, jax.Array]:
  norms = jax.vmap(numerics.global_norm)(grads)
  # 0 / 0 (a zero gradient with a zero bound) keeps the example: factor 1.
  factors = jnp.nan_to_num(jnp.minimum(l2_norm_clip / norms, 1.0), nan=1.0)
  clipped_sum = jax.tree.map(lambda g: jnp.tensordot(factors, g, axes=1), grads)
  return clipped_sum, jnp.sum(factors < 1.0)


@checks.public
def per_example_global_norm_clip(
    grads: Any, l2_norm_clip: jax.typing.ArrayLike
) -> tuple[Any, jax.Array]:
  """Clips each example's gradient to global norm `l2_norm_clip`, then sums over examples.

  .. math::
    \\sum_i g_i \\min\\!\\left(1, \\frac{C}{\\|g_i\\|}\\right)

  where :math:`\\|g_i\\|` is the norm of example :math:`i`'s gradient over all
  leaves and :math:`C` = `l2_norm_clip` (the DP-SGD aggregation step).

  Abadi et al., 2016, "Deep Learning with Differential Privacy",
  https://arxiv.org/abs/1607.00133.

  Args:
    grads: a tree of per-example gradients, every leaf with the example axis
      first.
    l2_norm_clip: :math:`C`, the largest per-example norm.

  Returns:
    `(clipped_sum, num_clipped)`: the tree summed over examples and the int32
    number of examples whose gradient was scaled down.

  Raises:
    ValueError: when a leaf lacks the shared leading example axis.
  """
  _check_batch_axis("per_example_global_norm_clip", grads)
  return _clip_and_sum(grads, l2_norm_clip)


@checks.public
def per_example_layer_norm_clip(
    grads: Any, global_l2_norm_clip: jax.typing.ArrayLike, uniform: bool = True
) -> tuple[Any, Any]:
  """Clips each example's gradient leaf by leaf (layer by layer), then sums over examples.

  Each of the :math:`K` leaves is clipped as in `per_example_global_norm_clip`
  with its own bound: :math:`C / \\sqrt{K}` (`uniform=True`) or
  :math:`C \\sqrt{D_k / D}` with :math:`D_k` the leaf's size per example and
  :math:`D` the total (`uniform=False`), so that the per-example norm over all
  leaves is at most :math:`C`. With one leaf this is
  `per_example_global_norm_clip`.

  McMahan et al., 2017, "Learning Differentially Private Recurrent Language
  Models", https://arxiv.org/abs/1710.06963.

  Args:
    grads: a tree of per-example gradients, every leaf with the example axis
      first.
    global_l2_norm_clip: :math:`C`, the overall per-example bound.
    uniform: equal bounds per leaf (True) or bounds in proportion to the square
      root of the leaf sizes (False).

  Returns:
    `(clipped_sum, num_clipped)`: two trees shaped like `grads`, the sums over
    examples and each leaf's int32 number of clipped examples.

  Raises:
    ValueError: when a leaf lacks the shared leading example axis.
  """
  _check_batch_axis("per_example_layer_norm_clip", grads)
  if uniform:
    num_leaves = len(jax.tree.leaves(grads))
    bounds = jax.tree.map(lambda _: global_l2_norm_clip * (1.0 / num_leaves) ** 0.5, grads)
  else:
    size = lambda g: math.prod(jnp.shape(g)[1:])  # per example
    total = sum(size(g) for g in jax.tree.leaves(grads))
    bounds = jax.tree.map(lambda g: global_l2_norm_clip * (size(g) / total) ** 0.5, grads)
  pairs = jax.tree.map(_clip_and_sum, grads, bounds)
  return jax.tree.transpose(jax.tree.structure(grads), jax.tree.structure((0, 0)), pairs)


# --- unit-wise clipping (NFNets' adaptive gradient clipping) ---

Axis = Optional[Union[int, tuple[int, ...]]]

# Reduction axes by rank when `axis` is None: linear layers (in, out) and
# multi-head (in, heads, out) reduce over the input axis, conv kernels
# (H, W, in, out) / (D, H, W, in, out) over everything but the output axis.
_DEFAULT_AXES = {2: (0,), 3: (0,), 4: (0, 1, 2), 5: (0, 1, 2, 3)}


def unitwise_norm(x: jax.typing.ArrayLike, axis: Axis = None) -> jax.Array:
  """The l2 norm of each unit of `x`, broadcast back to `x`'s shape.

  A unit is the slice of `x` that `axis` reduces over. With `axis=None` the
  axes follow the layer layout: a scalar or a vector (also after squeezing
  size-1 axes) is one unit; rank 2 and 3 (`(in, out)`, `(in, heads, out)`)
  reduce over axis 0; rank 4 (`HWIO` conv kernels) over `(0, 1, 2)`; rank 5
  (`DHWIO`) over `(0, 1, 2, 3)`.

  .. math::
    \\|x\\|_{\\text{unit}} = \\sqrt{\\textstyle\\sum_{\\text{axis}} |x|^2}

  Args:
    x: an array.
    axis: axis or axes to reduce over, or None for the layout above.

  Returns:
    An array of `x`'s shape holding each element's unit norm.

  Raises:
    ValueError: for `axis=None` and a rank above 5.
  """
  x = jnp.asarray(x)
  if axis is None:
    if jnp.squeeze(x).ndim <= 1:
      axis = None  # the whole array is one unit
    elif x.ndim in _DEFAULT_AXES:
      axis = _DEFAULT_AXES[x.ndim]
    else:
      raise ValueError(
          f"unitwise_norm: no default unit for an array of shape {x.shape} (rank "
          f"{x.ndim}); pass `axis` (the axes to reduce over) for ranks above 5."
      )
  squared = jnp.sum(numerics.abs_sq(x), axis=axis, keepdims=True)
  return jnp.broadcast_to(jnp.sqrt(squared), x.shape)


def unitwise_clip(
    g_norm: jax.typing.ArrayLike,
    max_norm: jax.typing.ArrayLike,
    grad: jax.typing.ArrayLike,
    div_eps: jax.typing.ArrayLike = 1e-6,
) -> jax.Array:
  """Rescales each unit of `grad` whose norm reaches `max_norm` down to norm `max_norm`.

  .. math::
    g' = g \\text{ if } \\|g\\| < m \\text{ else } g \\cdot m / \\max(\\|g\\|, \\epsilon)

  Args:
    g_norm: unit norms of `grad` (from `unitwise_norm`), `grad`'s shape.
    max_norm: the largest allowed unit norm, `grad`'s shape.
    grad: the array to clip.
    div_eps: lower bound on the divisor.

  Returns:
    The clipped array.

  Raises:
    ValueError: when the three shapes differ.
  """
  shapes = [jnp.shape(g_norm), jnp.shape(max_norm), jnp.shape(grad)]
  if len(set(shapes)) != 1:
    raise ValueError(
        f"unitwise_clip: `g_norm`, `max_norm` and `grad` must have one shape, got {shapes}."
    )
  clipped = grad * (max_norm / jnp.maximum(g_norm, div_eps))
  return jnp.where(g_norm < max_norm, grad, clipped)


@checks.public
def adaptive_grad_clip(
    clipping: jax.typing.ArrayLike,
    eps: jax.typing.ArrayLike = 1e-3,
    axis: Axis = None,
) -> base.GradientTransformation:
  """Adaptive gradient clipping (AGC): clips each unit's update to `clipping` times its parameter norm.

  .. math::
    m = \\lambda \\max(\\|w\\|_{\\text{unit}}, \\epsilon), \\qquad
    u' = u \\text{ if } \\|u\\|_{\\text{unit}} < m \\text{ else } u \\cdot m / \\|u\\|_{\\text{unit}}

  with :math:`\\lambda` = `clipping` and units as in `unitwise_norm`; `eps`
  keeps zero-initialised parameters trainable.

  Brock et al., 2021, "High-Performance Large-Scale Image Recognition Without
  Normalization", https://arxiv.org/abs/2102.06171.

  Args:
    clipping: :math:`\\lambda`, the largest update-to-parameter norm ratio, >= 0.
    eps: :math:`\\epsilon`, the smallest parameter norm used, >= 0.
    axis: reduction axes for the unit norms (see `unitwise_norm`).

  Returns:
    A `GradientTransformation` with state `EmptyState` (`AdaptiveGradClipState`);
    `update` needs `params`.
  """
  checks.check_nonnegative("adaptive_grad_clip", "clipping", clipping, finite=False)
  checks.check_nonnegative("adaptive_grad_clip", "eps", eps)
  checks.check_axis("adaptive_grad_clip", "axis", axis)

  def clip_leaf(u, p):
    max_norm = clipping * jnp.maximum(unitwise_norm(p, axis=axis), eps)
    return unitwise_clip(unitwise_norm(u, axis=axis), max_norm, u)

  def update_fn(updates, state, params=None):
    checks.require_params("adaptive_grad_clip", params)
    checks.check_same_structure("adaptive_grad_clip", updates, params, "params", shapes=True)
    return jax.tree.map(clip_leaf, updates, params), state

  return base.declare_fusion(
      base.GradientTransformation(base.init_empty_state, update_fn),
      "per_leaf", "adaptive_grad_clip",
      why="unit-wise norms of each leaf and its parameter")
