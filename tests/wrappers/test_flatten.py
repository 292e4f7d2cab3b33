"""flatten step by step against optax; dtypes kept per leaf."""

import jax.numpy as jnp
import optax
import pytest

import jopt
from cases import match_small
from jopt._src.wrappers import flatten as layouts
from parity import assert_trees_close

MODES = ["eager", "jit"]


@pytest.mark.parametrize("mode", MODES)
def test_flatten(mode):
  match_small(layouts.flatten(jopt.adam(0.1)), optax.flatten(optax.adam(0.1)), mode, full_tree=True)


def test_flatten_keeps_dtypes():
  params = {"a": jnp.ones((2, 3), jnp.bfloat16), "b": jnp.arange(4.0)}
  g = {"a": jnp.full((2, 3), 0.5, jnp.bfloat16), "b": jnp.linspace(-1, 1, 4)}
  ours, theirs = layouts.flatten(jopt.sgd(0.1)), optax.flatten(optax.sgd(0.1))
  u1, _ = ours.update(g, ours.init(params), params)
  u2, _ = theirs.update(g, theirs.init(params), params)
  assert u1["a"].dtype == jnp.bfloat16 and u1["b"].dtype == jnp.float32
  assert_trees_close(u1, u2, 1e-2, 1e-3)
  u, _ = ours.update({}, ours.init({}), {})
  assert u == {}
