"""MultiSteps against optax (where optax is right) and hand-computed sequences."""

import functools

import jax
import jax.numpy as jnp
import optax
import pytest

import jopt
from parity import assert_trajectories_match, assert_trees_close, gradient_sequence, random_tree


def _run(tx, params, grads, jit=True, extra_seq=None, pass_params=True):
  """(updates, state) after each step."""
  step = jax.jit(tx.update) if jit else tx.update
  state = tx.init(params)
  out = []
  for t, g in enumerate(grads):
    extra = extra_seq[t] if extra_seq is not None else {}
    u, state = step(g, state, params if pass_params else None, **extra)
    out.append((u, state))
  return out


def _with_nans(grads, bad_steps, leaf="scalar"):
  out = []
  for t, g in enumerate(grads):
    if t in bad_steps:
      g = {**g, leaf: jnp.full_like(g[leaf], jnp.nan)}
    out.append(g)
  return out


@pytest.mark.parametrize("k,use_grad_mean", [(3, True), (2, False), (1, True)])
def test_multisteps_matches_optax(k, use_grad_mean):
  jtx = jopt.MultiSteps(jopt.adam(1e-2), k, use_grad_mean=use_grad_mean).gradient_transformation()
  otx = optax.MultiSteps(optax.adam(1e-2), k, use_grad_mean=use_grad_mean).gradient_transformation()
  assert_trajectories_match(jtx, otx, steps=7)


def test_multisteps_schedule_eager_and_has_updated():
  every_k = lambda step: jnp.where(step < 2, 1, 3)  # noqa: E731
  jopt_ms = jopt.MultiSteps(jopt.sgd(0.1, momentum=0.9), every_k)
  optax_ms = optax.MultiSteps(optax.sgd(0.1, momentum=0.9), every_k)
  assert_trajectories_match(jopt_ms.gradient_transformation(), optax_ms.gradient_transformation(),
                            steps=8, mode="eager")
  params = jnp.zeros(2)
  state = jopt_ms.init(params)
  flags = []
  for _ in range(8):
    _, state = jopt_ms.update(jnp.ones(2), state)
    flags.append(bool(jopt_ms.has_updated(state)))
  assert flags == [True, True, False, False, True, False, False, True]


def test_multisteps_k1_allocates_no_accumulator():
  params = random_tree(jax.random.PRNGKey(0))
  state = jopt.MultiSteps(jopt.sgd(0.1), 1).init(params)
  assert state.acc_grads == ()
  n_ours = sum(x.size for x in jax.tree.leaves(state))
  n_optax = sum(x.size for x in jax.tree.leaves(optax.MultiSteps(optax.sgd(0.1), 1).init(params)))
  n_params = sum(x.size for x in jax.tree.leaves(params))
  assert n_optax - n_ours == n_params


def test_multisteps_recovers_from_one_nan():
  params = random_tree(jax.random.PRNGKey(0))
  grads = _with_nans(gradient_sequence(params, 9, seed=1), {1})
  ours = _run(jopt.MultiSteps(jopt.sgd(0.1), 3).gradient_transformation(), params, grads)
  ref = _run(optax.MultiSteps(optax.sgd(0.1), 3).gradient_transformation(), params, grads)
  finite = lambda u: all(bool(jnp.all(jnp.isfinite(l))) for l in jax.tree.leaves(u))  # noqa: E731
  # The group holding the NaN emits NaN (as in optax); the next groups are clean again and equal
  # a fresh run on those gradients, while optax's accumulator stays NaN.
  assert not finite(ours[2][0])
  assert all(finite(u) for u, _ in ours[3:])
  assert not finite(ref[5][0])
  for t in (0, 1, 3, 4):
    assert finite(ours[t][0])
    assert all(float(jnp.max(jnp.abs(l))) == 0 for l in jax.tree.leaves(ours[t][0]))
  fresh = _run(optax.MultiSteps(optax.sgd(0.1), 3).gradient_transformation(), params, grads[3:])
  assert_trees_close(ours[5][0], fresh[2][0], 1e-6, 1e-7, "group after the NaN")


def test_multisteps_skip_not_finite_matches_optax():
  params = random_tree(jax.random.PRNGKey(0))
  grads = _with_nans(gradient_sequence(params, 8, seed=2), {1, 2, 6})
  jtx = jopt.MultiSteps(jopt.adam(1e-2), 2, should_skip_update_fn=jopt.skip_not_finite)
  otx = optax.MultiSteps(optax.adam(1e-2), 2, should_skip_update_fn=optax.skip_not_finite)
  ours = _run(jtx.gradient_transformation(), params, grads)
  ref = _run(otx.gradient_transformation(), params, grads)
  for t, ((u1, s1), (u2, s2)) in enumerate(zip(ours, ref)):
    assert_trees_close(u1, u2, 1e-5, 1e-7, f"updates at step {t}")
    assert int(s1.mini_step) == int(s2.mini_step) and int(s1.gradient_step) == int(s2.gradient_step)
    assert int(s1.skip_state["num_not_finite"]) == int(s2.skip_state["num_not_finite"])
  # A skipped mini-step leaves the accumulator and the inner state untouched.
  before, after = ours[0][1], ours[1][1]
  assert_trees_close((after.acc_grads, after.inner_opt_state), (before.acc_grads, before.inner_opt_state),
                     0, 0, "state across a skipped mini-step")
  # skip_large_updates, bound with partial, skips a huge gradient.
  big = jopt.MultiSteps(jopt.sgd(1.0), 1, should_skip_update_fn=functools.partial(
      jopt.skip_large_updates, max_squared_norm=10.0))
  state = big.init(jnp.zeros(2))
  u, state = big.update(jnp.array([100.0, 0.0]), state)
  assert float(jnp.abs(u).max()) == 0 and int(state.gradient_step) == 0
