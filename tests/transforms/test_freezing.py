"""freeze and selective_transform step by step against optax, eager and under jit."""

import jax
import jax.numpy as jnp
import optax
import pytest

import jopt
from cases import SMALL, match_small
from jopt._src.transforms import freezing
from parity import assert_trees_close, random_tree


def _same_layout(a, b):
  """Same leaves (shapes and values) in the same order; class names of nodes may differ."""
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  assert [jnp.shape(x) for x in la] == [jnp.shape(x) for x in lb]
  assert_trees_close(la, lb, 1e-6, 1e-7)


@pytest.mark.parametrize("mode,mask", [("jit", True), ("jit", False), ("jit", "tree"), ("eager", "tree")])
def test_freeze(mode, mask):
  if mask == "tree":
    mask = {"dense": {"w": True, "b": False}, "scalar": False}
    if mode == "jit":
      mask["stack"] = True
  match_small(jopt.chain(jopt.adam(0.1), freezing.freeze(mask)),
         optax.chain(optax.adam(0.1), optax.freeze(mask)), mode, full_tree=True)


@pytest.mark.parametrize("mode,mask", [("jit", False), ("jit", "tree"), ("eager", "tree")])
def test_selective_transform(mode, mask):
  if mask == "tree":
    mask = {"dense": {"w": False, "b": True}, "scalar": True}
    if mode == "jit":
      mask["stack"] = False
  ours = freezing.selective_transform(jopt.adam(0.1), freeze_mask=mask)
  theirs = optax.selective_transform(optax.adam(0.1), freeze_mask=mask)
  match_small(ours, theirs, mode, full_tree=True)
  params = SMALL if mode == "eager" else random_tree(jax.random.PRNGKey(0))
  _same_layout(ours.init(params), theirs.init(params))
