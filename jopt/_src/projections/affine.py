"""Projections onto a line through the origin, a hyperplane and a halfspace."""

from typing import Any

import jax
import jax.numpy as jnp

from jopt._src.tree_utils import arithmetic
from jopt._src.tree_utils import reductions


def projection_vector(x: Any, a: Any) -> Any:
  """Projection onto the line spanned by the tree `a`.

  .. math::
    \\Pi(x) = \\frac{\\langle x, a \\rangle}{\\langle a, a \\rangle} a

  Args:
    x: the tree to project.
    a: the direction, a tree like `x`.

  Returns:
    A tree like `x`.
  """
  coef = reductions.tree_vdot(x, a) / reductions.tree_vdot(a, a)
  return arithmetic.tree_scale(coef, a)


def projection_hyperplane(x: Any, a: Any, b: jax.typing.ArrayLike) -> Any:
  """Projection onto the hyperplane `{y : <a, y> = b}`.

  .. math::
    \\Pi(x) = x + \\frac{b - \\langle a, x \\rangle}{\\langle a, a \\rangle} a

  Args:
    x: the tree to project.
    a: the normal, a tree like `x`.
    b: the offset, a scalar.

  Returns:
    A tree like `x`.
  """
  coef = (b - reductions.tree_vdot(x, a)) / reductions.tree_vdot(a, a)
  return arithmetic.tree_add_scale(x, coef, a)


def projection_halfspace(x: Any, a: Any, b: jax.typing.ArrayLike) -> Any:
  """Projection onto the halfspace `{y : <a, y> <= b}`.

  .. math::
    \\Pi(x) = x + \\frac{\\min(b - \\langle a, x \\rangle, 0)}{\\langle a, a \\rangle} a

  Args:
    x: the tree to project.
    a: the outward normal, a tree like `x`.
    b: the offset, a scalar.

  Returns:
    A tree like `x` (`x` itself when already inside).
  """
  coef = (b - reductions.tree_vdot(x, a)) / reductions.tree_vdot(a, a)
  return arithmetic.tree_add_scale(x, jnp.minimum(coef, 0), a)
