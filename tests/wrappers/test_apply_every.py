"""apply_every against optax (updates and state), and its recovery after a NaN."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cases import SMALL, match_small
from jopt._src.wrappers import apply_every as apply_every_mod
from parity import assert_trees_close, gradient_sequence


@pytest.mark.parametrize("mode,k", [("jit", 1), ("jit", 3), ("eager", 3)])
def test_apply_every(mode, k):
  match_small(apply_every_mod.apply_every(k), optax.apply_every(k), mode, apply_scale=0.1)


def test_apply_every_state_matches_optax():
  params = SMALL
  ours, theirs = apply_every_mod.apply_every(3), optax.apply_every(3)
  s1, s2 = ours.init(params), theirs.init(params)
  for g in gradient_sequence(params, 5):
    _, s1 = ours.update(g, s1)
    _, s2 = theirs.update(g, s2)
    assert_trees_close(tuple(s1), tuple(s2), 1e-6, 1e-7, "apply_every state")


def test_apply_every_recovers_after_nan():
  """A NaN poisons only its own window (optax: every later update, since 0 * NaN = NaN)."""
  tx = apply_every_mod.apply_every(2)
  params = {"w": jnp.zeros(3)}
  state = tx.init(params)
  seq = [jnp.array([jnp.nan, 1.0, 1.0])] + [jnp.ones(3)] * 5
  outs = []
  for g in seq:
    u, state = tx.update({"w": g}, state)
    outs.append(u["w"])
  assert np.isnan(outs[1][0])
  for t in range(2, 6):
    np.testing.assert_array_equal(outs[t], jnp.full(3, 2.0 if t % 2 else 0.0))
