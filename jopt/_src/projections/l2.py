"""Projections onto the l2 sphere and ball (rescaling the whole tree)."""

from typing import Any

import jax
import jax.numpy as jnp

from jopt._src.tree_utils import arithmetic
from jopt._src.tree_utils import reductions


def projection_l2_sphere(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
  """Projection onto the l2 sphere `{||p||_2 = s}`: `x * s / ||x||_2`.

  .. math::
    \\operatorname{argmin}_{\\|p\\|_2 = s} \\|x - p\\|_2^2 = \\frac{s}{\\|x\\|_2} x

  Args:
    tree: the tree `x` to project (NaN for `x = 0`, where every point of the
      sphere is a projection).
    scale: the radius `s`.

  Returns:
    The projected tree, same structure.
  """
  return arithmetic.tree_scale(scale / reductions.tree_norm(tree), tree)


def projection_l2_ball(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
  """Projection onto the l2 ball `{||p||_2 <= s}`.

  .. math::
    \\Pi(x) = \\frac{s}{\\max(\\|x\\|_2, s)} x

  Args:
    tree: the tree `x` to project.
    scale: the radius `s`.

  Returns:
    The projected tree, same structure.
  """
  squared_norm = reductions.tree_norm(tree, squared=True)
  factor = scale / jnp.sqrt(jnp.maximum(squared_norm, scale**2))
  return arithmetic.tree_scale(factor, tree)
