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


def test_reset_state_with_python_scalars_in_the_fast_state_matches_optax():
  """A fast optimizer whose state holds a Python bool and float (optax's own lookahead test does):
  `reset_state=True` resets them at each sync, the same values as optax (jopt read `.dtype`)."""
  from typing import NamedTuple

  class FastState(NamedTuple):
    total: dict
    fresh: bool
    scale: float

  def fast(step_size):
    def init_fn(params):
      return FastState(jax.tree.map(jnp.zeros_like, params), True, 1.0)

    def update_fn(updates, state, params=None):
      del params
      total = jax.tree.map(lambda a, u: a + u, state.total, updates)
      return jax.tree.map(lambda u: step_size * u, updates), FastState(total, False, 2.0)

    return optax.GradientTransformation(init_fn, update_fn)

  params = {"x": jnp.array([1.0, -2.0]), "y": jnp.array(3.0)}
  grads = {"x": jnp.array([0.5, 1.0]), "y": jnp.array(-1.0)}
  out = []
  for lib in (jopt, optax):
    tx = lib.lookahead(fast(-0.5), sync_period=2, slow_step_size=0.5, reset_state=True)
    p = lib.LookaheadParams.init_synced(params)
    state = tx.init(p)
    states = []
    for _ in range(3):
      updates, state = tx.update(grads, state, p)
      p = lib.apply_updates(p, updates)
      states.append(state.fast_state)
    out.append((p, states))
  for field in ("fast", "slow"):
    assert_trees_close(getattr(out[0][0], field), getattr(out[1][0], field), 1e-6, 1e-7)
  for ours, theirs in zip(out[0][1], out[1][1]):
    assert_trees_close(ours.total, theirs.total, 1e-6, 1e-7)
    assert bool(ours.fresh) == bool(theirs.fresh) and float(ours.scale) == float(theirs.scale)
