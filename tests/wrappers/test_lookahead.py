"""lookahead against optax; it needs the params."""

import jax
import jax.numpy as jnp
import optax
import pytest

import jopt
from parity import assert_trees_close, gradient_sequence, random_tree


@pytest.mark.parametrize("reset_state", [False, True])
def test_lookahead_matches_optax(reset_state):
  base = random_tree(jax.random.PRNGKey(0))
  grads = gradient_sequence(base, 7, seed=7)
  results = []
  for lib in (jopt, optax):
    tx = lib.lookahead(lib.adam(1e-2), sync_period=3, slow_step_size=0.5, reset_state=reset_state)
    params = lib.LookaheadParams.init_synced(base)
    state = tx.init(params)
    step = jax.jit(tx.update)
    traj = []
    for g in grads:
      u, state = step(g, state, params)
      params = lib.apply_updates(params, u)
      traj.append((params.fast, params.slow))
    results.append(traj)
  for t, (a, b) in enumerate(zip(*results)):
    assert_trees_close(a, b, 1e-5, 1e-6, f"params at step {t}")
  # After a sync (step 3, 6) fast == slow.
  assert_trees_close(results[0][2][0], results[0][2][1], 1e-6, 1e-6, "synced")


def test_lookahead_needs_params():
  tx = jopt.lookahead(jopt.sgd(0.1), 2, 0.5)
  state = tx.init(jopt.LookaheadParams.init_synced(jnp.ones(2)))
  with pytest.raises(ValueError, match="lookahead"):
    tx.update(jnp.ones(2), state)
