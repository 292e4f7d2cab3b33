"""Clipping updates: element-wise (`clip`), per leaf (`clip_by_block_rms`) and over the whole tree (`clip_by_global_norm`)."""

from typing import Any

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import tree


def check_params_structure(fn: str, updates: Any, params: Any) -> None:
  """For a stateless transform: when `params` is given, its tree must be the updates' tree."""
  if params is not None:
    checks.check_same_structure(fn, updates, params, "params")


def _real_sum(x: jax.Array) -> jax.Array:
  """`sum(|x|^2)` accumulated in float32 or wider (bf16/f16 leaves do not lose the sum)."""
  real = jnp.real(jnp.zeros((), x.dtype)).dtype
  return jnp.sum(tree.abs_sq(x), dtype=jnp.promote_types(real, jnp.float32))


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
  checks.check_nonnegative("clip", "max_delta", max_delta)

  def update_fn(updates, state, params=None):
    check_params_structure("clip", updates, params)
    updates = tree.tree_map(
        lambda g: jnp.clip(g, -max_delta, max_delta).astype(g.dtype), updates
    )
    return updates, state

  return base.GradientTransformation(base.init_empty_state, update_fn)


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
  checks.check_nonnegative("clip_by_block_rms", "threshold", threshold)

  def clip_leaf(u):
    rms = jnp.sqrt(_real_sum(u) / max(u.size, 1))
    over = rms > threshold
    # The division only runs where it is selected, so its gradient stays finite.
    factor = jnp.where(over, threshold / jnp.where(over, rms, 1.0), 1.0)
    return (u * factor).astype(u.dtype)

  def update_fn(updates, state, params=None):
    check_params_structure("clip_by_block_rms", updates, params)
    return tree.tree_map(clip_leaf, updates), state

  return base.GradientTransformation(base.init_empty_state, update_fn)


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
  checks.check_nonnegative("clip_by_global_norm", "max_norm", max_norm)

  def update_fn(updates, state, params=None):
    check_params_structure("clip_by_global_norm", updates, params)
    leaves = [l for l in jax.tree.leaves(updates) if l is not None]
    if not leaves:
      return updates, state
    norm = jnp.sqrt(sum(_real_sum(l) for l in leaves))
    over = norm > max_norm
    factor = jnp.where(over, max_norm / jnp.where(over, norm, 1.0), 1.0)
    return tree.tree_map(lambda g: (g * factor).astype(g.dtype), updates), state

  return base.GradientTransformation(base.init_empty_state, update_fn)
