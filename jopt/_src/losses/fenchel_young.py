"""Fenchel-Young losses built from a max (regularized argmax) function."""

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp


def make_fenchel_young_loss(max_fun: Callable[..., Any]):
  r"""Builds the Fenchel-Young loss of a max function.

  .. math::
    \ell(\theta, y) = \Omega^*(\theta) - \langle y, \theta \rangle

  with :math:`\Omega^* =` `max_fun` a convex "max". This is the Fenchel-Young loss
  :math:`\Omega^*(\theta) + \Omega(y) - \langle y, \theta \rangle` without the term
  :math:`\Omega(y)`, which does not depend on :math:`\theta`: with `logsumexp` it is
  exactly the softmax cross-entropy for `y` on the simplex. Its gradient in
  :math:`\theta` is :math:`\nabla \Omega^*(\theta) - y`, zero exactly when `y` is the
  regularized prediction :math:`\nabla \Omega^*(\theta)`.

  Args:
    max_fun: a function of a vector of scores (extra positional and keyword
      arguments are passed through) returning a scalar.

  Returns:
    `loss(scores, targets, *args, **kwargs)`, applied along the last axis of
    `scores` and `targets` (any leading axes are batch axes; unlike jaxopt, which
    flattens everything into one vector).

  Blondel, Martins & Niculae, 2020, https://arxiv.org/abs/1901.02324.
  """
  if not callable(max_fun):
    raise TypeError(
        f"make_fenchel_young_loss: `max_fun` must be a function of the scores (e.g. "
        f"`jax.nn.logsumexp`), got {max_fun!r}.")
  inner_product = jnp.vectorize(jnp.vdot, signature="(n),(n)->()")
  max_along_last_axis = jnp.vectorize(max_fun, signature="(n)->()")

  def fenchel_young_loss(scores, targets, *args, **kwargs):
    return max_along_last_axis(scores, *args, **kwargs) - inner_product(targets, scores)

  return fenchel_young_loss
