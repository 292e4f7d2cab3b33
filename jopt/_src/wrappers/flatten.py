"""`flatten`: run a transform on one vector holding every leaf, instead of leaf by leaf."""

import math
from typing import Any

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import combine
from jopt._src.transforms import stateless


def _ravel(tree: Any) -> jax.Array:
  leaves = jax.tree.leaves(tree)
  if not leaves:
    return jnp.zeros((0,), jnp.float32)
  return jnp.concatenate([jnp.reshape(x, (-1,)) for x in leaves])


def _unravel(like: Any, flat: jax.Array) -> Any:
  leaves, treedef = jax.tree.flatten(like)
  out, start = [], 0
  for x in leaves:
    size = math.prod(jnp.shape(x))
    out.append(jnp.reshape(flat[start:start + size], jnp.shape(x)).astype(x.dtype))
    start += size
  return jax.tree.unflatten(treedef, out)


def flatten(inner: base.GradientTransformation) -> base.GradientTransformationExtraArgs:
  """Runs `inner` on the concatenation of all leaves (params and updates) as one vector.

  Saves the per-leaf overhead of many small leaves, at the cost of a copy of the
  updates (and of the params when passed). `inner`'s state is that of one
  vector. The leaves are concatenated in tree order and split back into the
  updates' shapes.

  Differs from optax: each output leaf keeps its update's dtype (optax returns
  the dtype the concatenation promotes mixed dtypes to), and an empty tree
  works.

  Args:
    inner: the transform to run on the flat vector.

  Returns:
    A `GradientTransformationExtraArgs` with `inner`'s state (for the vector).

  Example:
    >>> import jopt
    >>> tx = jopt.flatten(jopt.adam(1e-3))
  """
  inner = combine.with_extra_args_support(inner)

  def init_fn(params):
    return inner.init(_ravel(params))

  def update_fn(updates, state, params=None, **extra_args):
    flat_params = None if params is None else _ravel(params)
    flat_updates, state = inner.update(_ravel(updates), state, flat_params, **extra_args)
    return _unravel(updates, flat_updates), state

  # No `rebuild`: a mask inside would be evaluated on the one flat vector.
  return base.declare_fusion(
      base.GradientTransformationExtraArgs(init_fn, update_fn), "composite", "flatten",
      children=(inner,))
