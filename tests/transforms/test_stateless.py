"""set_to_zero, stateless and stateless_with_tree_map step by step against optax, eager and under jit."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cases import match_small
from jopt._src.transforms import stateless

MODES = ["eager", "jit"]


@pytest.mark.parametrize("mode", MODES)
def test_set_to_zero(mode):
  ours, _ = match_small(stateless.set_to_zero(), optax.set_to_zero(), mode, steps=2)
  assert all(not np.any(np.asarray(l)) for l in jax.tree.leaves(ours[-1][1]))


@pytest.mark.parametrize("mode,pass_params", [("jit", True), ("jit", False), ("eager", True)])
def test_stateless(mode, pass_params):
  def f(updates, params):
    if params is None:
      return jax.tree.map(lambda g: 2.0 * g, updates)
    return jax.tree.map(lambda g, p: g - 0.1 * p, updates, params)

  match_small(stateless.stateless(f), optax.stateless(f), mode, pass_params=pass_params, steps=4)


@pytest.mark.parametrize("mode,pass_params", [("jit", True), ("jit", False), ("eager", False)])
def test_stateless_with_tree_map(mode, pass_params):
  f = lambda g, p: 2.0 * g if p is None else g * jnp.tanh(p)
  match_small(stateless.stateless_with_tree_map(f), optax.stateless_with_tree_map(f), mode,
         pass_params=pass_params, steps=4)
