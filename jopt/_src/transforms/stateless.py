"""Transforms without state built from plain functions (`stateless`, `stateless_with_tree_map`, `set_to_zero`)."""

from typing import Callable, Optional

import jax
import jax.numpy as jnp

from jopt._src import base


def set_to_zero() -> base.GradientTransformation:
  """Replaces every update by zeros of the same shape and dtype: the parameters stay where they are.

  .. math::
    u'_t = 0

  Use it inside `partition`/`multi_transform` or `masked` to freeze part of the
  parameters (see also `freeze`). Under `jit` the computation of the discarded
  gradients is usually pruned.

  Returns:
    A `GradientTransformation` with state `EmptyState`.
  """

  def update_fn(updates, state, params=None):
    del params
    return jax.tree.map(jnp.zeros_like, updates), state

  return base.declare_fusion(
      base.GradientTransformation(base.init_empty_state, update_fn), "elementwise", "set_to_zero")


def stateless(
    f: Callable[[base.Updates, Optional[base.Params]], base.Updates],
) -> base.GradientTransformation:
  """A transform without state from a function of the whole trees: `u' = f(u, params)`.

  Args:
    f: `f(updates, params) -> updates`; `params` is None when `update` is
      called without them.

  Returns:
    A `GradientTransformation` with state `EmptyState`.

  Example:
    >>> import jax, jopt
    >>> halve = jopt.stateless(lambda u, p: jax.tree.map(lambda x: 0.5 * x, u))
  """

  def update_fn(updates, state, params=None):
    del state
    return f(updates, params), base.EmptyState()

  return base.declare_fusion(
      base.GradientTransformation(base.init_empty_state, update_fn),
      "unknown", "stateless",
      why="it applies a user function to the whole updates tree")


def stateless_with_tree_map(
    f: Callable[[jax.typing.ArrayLike, Optional[jax.typing.ArrayLike]], jax.typing.ArrayLike],
) -> base.GradientTransformation:
  """A transform without state from a function of one leaf: `u'_i = f(u_i, params_i)` for every leaf.

  Args:
    f: `f(update_leaf, param_leaf) -> update_leaf`; `param_leaf` is None when
      `update` is called without params.

  Returns:
    A `GradientTransformation` with state `EmptyState`.

  Example:
    >>> import jopt
    >>> tx = jopt.stateless_with_tree_map(lambda g, p: g + 1e-4 * p)
  """

  def update_fn(updates, state, params=None):
    del state
    if params is None:
      return jax.tree.map(lambda u: f(u, None), updates), base.EmptyState()
    return jax.tree.map(f, updates, params), base.EmptyState()

  return base.declare_fusion(
      base.GradientTransformation(base.init_empty_state, update_fn),
      "unknown", "stateless_with_tree_map",
      why="it applies a user function to each leaf, which may use the leaf's shape")
