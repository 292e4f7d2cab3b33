"""Wrappers against optax (where optax is right), hand-computed sequences and PyTorch's plateau rule."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
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


# ---------------------------------------------------------------- MultiSteps

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


# ---------------------------------------------------------------- apply_if_finite

def test_apply_if_finite_matches_optax_and_leaves_state_untouched():
  params = random_tree(jax.random.PRNGKey(0))
  bad = {1, 3, 4, 6, 7, 8}
  grads = _with_nans(gradient_sequence(params, 11, seed=4), bad)
  jtx = jopt.apply_if_finite(jopt.adam(1e-2), max_consecutive_errors=2)
  otx = optax.apply_if_finite(optax.adam(1e-2), max_consecutive_errors=2)
  ours, ref = _run(jtx, params, grads), _run(otx, params, grads)
  consecutive, total = 0, 0
  for t, ((u1, s1), (u2, s2)) in enumerate(zip(ours, ref)):
    assert_trees_close(u1, u2, 1e-5, 1e-7, f"updates at step {t}")
    consecutive = consecutive + 1 if t in bad else 0
    total += t in bad
    assert int(s1.notfinite_count) == consecutive == int(s2.notfinite_count)
    assert int(s1.total_notfinite) == total == int(s2.total_notfinite)
    assert bool(s1.last_finite) == (t not in bad)
    if t in bad and consecutive <= 2:  # skipped: the inner state (count, mu, nu) is untouched
      prev = ours[t - 1][1].inner_state
      assert_trees_close(s1.inner_state, prev, 0, 0, f"inner state at skipped step {t}")
      assert all(float(jnp.max(jnp.abs(l))) == 0 for l in jax.tree.leaves(u1))
  # The third NaN in a row is accepted (gives up), so the inner count moved on it.
  assert int(ours[8][1].inner_state[0].count) == int(ours[7][1].inner_state[0].count) + 1


def test_apply_if_finite_pmap_counts():
  params = {"w": jnp.ones((2, 3))}
  grads = _with_nans(gradient_sequence(params, 5, seed=5), {1, 2}, leaf="w")
  tx = jopt.apply_if_finite(jopt.sgd(0.1), max_consecutive_errors=5)
  step = jax.pmap(tx.update, axis_name="d")
  rep = lambda t: jax.tree.map(lambda x: jnp.stack([x, x]), t)  # noqa: E731
  state = rep(tx.init(params))
  counts = []
  for g in grads:
    _, state = step(rep(g), state, rep(params))
    counts.append((state.notfinite_count.tolist(), state.total_notfinite.tolist()))
  assert counts == [([0, 0], [0, 0]), ([1, 1], [1, 1]), ([2, 2], [2, 2]),
                    ([0, 0], [2, 2]), ([0, 0], [2, 2])]


def test_eager_wrappers_do_not_recompile_every_step():
  compiles = []
  jax.monitoring.register_event_duration_secs_listener(
      lambda event, _, **kw: compiles.append(event)
      if event == "/jax/core/compile/backend_compile_duration" else None
  )
  params = {"w": jnp.ones(3)}
  grads = _with_nans(gradient_sequence(params, 8, seed=6), {2, 5}, leaf="w")
  for tx in [jopt.apply_if_finite(jopt.sgd(0.1), 3),
             jopt.MultiSteps(jopt.sgd(0.1), 2, should_skip_update_fn=jopt.skip_not_finite),
             jopt.reduce_on_plateau()]:
    state = tx.init(params)
    for t, g in enumerate(grads):
      if t == 3:
        n_warm = len(compiles)
      _, state = tx.update(g, state, params, value=jnp.float32(t))
    assert len(compiles) == n_warm, f"{len(compiles) - n_warm} compiles in 5 eager steps"


# ---------------------------------------------------------------- lookahead, ema

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


@pytest.mark.parametrize("debias", [True, False])
def test_ema_matches_optax(debias):
  assert_trajectories_match(jopt.ema(0.9, debias=debias), optax.ema(0.9, debias=debias),
                            steps=8, apply_scale=1e-2)


# ---------------------------------------------------------------- reduce_on_plateau

def _plateau_scales(tx, losses, params=None):
  params = jnp.ones(2) if params is None else params
  state = tx.init(params)
  step = jax.jit(lambda s, v: tx.update(jax.tree.map(jnp.ones_like, params), s, value=v))
  scales = []
  for v in losses:
    u, state = step(state, jnp.float32(v))
    scales.append(float(state.scale))
    u0 = jax.tree.leaves(u)[0].reshape(-1)[0]
    assert u0.dtype == jax.tree.leaves(params)[0].dtype
    np.testing.assert_array_equal(u0, state.scale.astype(u0.dtype))
  return scales, state


@pytest.mark.parametrize("kwargs", [
    dict(factor=0.5, patience=2),
    dict(factor=0.5, patience=2, cooldown=2),
    dict(factor=0.3, patience=1, min_scale=0.05),
    dict(factor=0.5, patience=2, accumulation_size=3, atol=0.01),
])
def test_reduce_on_plateau_matches_optax_for_positive_losses(kwargs):
  rng = np.random.default_rng(0)
  losses = np.concatenate([np.linspace(5, 1, 6), 1 + 0.05 * rng.random(24)])
  ours, _ = _plateau_scales(jopt.reduce_on_plateau(**kwargs), losses)
  ref, _ = _plateau_scales(optax.contrib.reduce_on_plateau(**kwargs), losses)
  np.testing.assert_allclose(ours, ref, rtol=1e-6)
  assert min(ours) < 1.0


def test_reduce_on_plateau_negative_losses_and_cooldown_by_hand():
  # Flat losses, patience 2: reduce on every 2nd evaluation (optax.contrib's counting),
  # for +1 and -1 alike; optax never reduces for -1.
  expected = [1, 1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
  for v in (1.0, -1.0):
    ours, _ = _plateau_scales(jopt.reduce_on_plateau(patience=2), [v] * 8)
    np.testing.assert_allclose(ours, expected, rtol=1e-6)
  ref, _ = _plateau_scales(optax.contrib.reduce_on_plateau(patience=2), [-1.0] * 8)
  assert ref == [1.0] * 8
  # Worsening negative values never replace the best value.
  _, state = _plateau_scales(jopt.reduce_on_plateau(patience=5), [-3.0, -2.0, -1.0])
  assert float(state.best_value) == -3.0
  # Cooldown 2 after each reduction (plateau count held at 0), floor at min_scale 0.2.
  ours, _ = _plateau_scales(jopt.reduce_on_plateau(factor=0.5, patience=1, cooldown=2, min_scale=0.2),
                            [-1.0] * 10)
  np.testing.assert_allclose(ours, [1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2], rtol=1e-6)


def test_reduce_on_plateau_bf16_keeps_float32_scale():
  params = {"w": jnp.ones(3, jnp.bfloat16)}
  _, state = _plateau_scales(jopt.reduce_on_plateau(patience=1, factor=0.3), [1.0, 1.0], params)
  assert state.scale.dtype == jnp.float32 and float(state.scale) == np.float32(0.3)


# ---------------------------------------------------------------- early stopping

def test_early_stopping_hand_computed():
  stopper = jopt.early_stopping(patience=3, min_delta=0.1)
  losses = [5.0, 4.0, 3.95, 3.0, 3.5, 2.95, 3.1, 3.2, 3.3, 1.0]
  # improvement iff loss < best - 0.1: steps 0, 1, 3 (2.95 is not < 3.0 - 0.1)
  exp_best = [5.0, 4.0, 4.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 1.0]
  exp_step = [0, 1, 1, 3, 3, 3, 3, 3, 3, 9]
  exp_wait = [0, 0, 1, 0, 1, 2, 3, 4, 5, 0]
  exp_stop = [False] * 6 + [True] * 4  # sticky once set
  state = stopper.init()
  update = jax.jit(stopper.update)
  for t, v in enumerate(losses):
    state = update(v, state)
    assert (float(state.best_value), int(state.best_step), int(state.wait), bool(state.should_stop)) \
        == (exp_best[t], exp_step[t], exp_wait[t], exp_stop[t]), t


def test_early_stopping_max_mode_nan_and_best_params():
  stopper = jopt.early_stopping(patience=2, mode="max", keep_best_params=True)
  state = stopper.init({"w": jnp.zeros(2)})
  for t, acc in enumerate([0.5, 0.7, float("nan"), 0.6]):
    state = stopper.update(acc, state, {"w": jnp.full(2, float(t))})
  assert float(state.best_value) == np.float32(0.7) and int(state.best_step) == 1
  assert bool(state.should_stop)
  np.testing.assert_array_equal(state.best_params["w"], [1.0, 1.0])


def test_early_stopping_inside_while_loop():
  # Minimise (x - 3)^2 + 1 by gradient descent; stop when the loss stalls (min_delta 1e-3).
  stopper = jopt.early_stopping(patience=5, min_delta=1e-3, keep_best_params=True)
  tx = jopt.sgd(0.1)
  loss_fn = lambda x: (x - 3.0) ** 2 + 1.0  # noqa: E731

  def cond(carry):
    _, _, es, i = carry
    return jnp.logical_and(jnp.logical_not(es.should_stop), i < 1000)

  def body(carry):
    x, opt_state, es, i = carry
    loss, g = jax.value_and_grad(loss_fn)(x)
    es = stopper.update(loss, es, x)
    u, opt_state = tx.update(g, opt_state)
    return x + u, opt_state, es, i + 1

  x0 = jnp.float32(0.0)
  x, _, es, n = jax.jit(lambda x: jax.lax.while_loop(
      cond, body, (x, tx.init(x), stopper.init(x), 0)))(x0)
  # Reference: the same rules in plain Python.
  xs, best, best_i, wait, i = 0.0, float("inf"), -1, 0, 0
  while True:
    loss = np.float32((np.float32(xs) - 3) ** 2 + 1)
    if loss < best - 1e-3:
      best, best_i, wait = loss, i, 0
    else:
      wait += 1
    xs = np.float32(xs - np.float32(0.1) * 2 * (np.float32(xs) - 3))
    i += 1
    if wait >= 5:
      break
  assert int(n) == i and int(es.best_step) == best_i
  np.testing.assert_allclose(float(es.best_value), best, rtol=1e-6)
  assert abs(float(es.best_params) - 3.0) < 0.05


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("build,arg", [
    (lambda: jopt.early_stopping(patience=0), "patience"),
    (lambda: jopt.early_stopping(patience=2, min_delta=-1.0), "min_delta"),
    (lambda: jopt.early_stopping(patience=2, mode="up"), "mode"),
    (lambda: jopt.reduce_on_plateau(factor=1.0), "factor"),
    (lambda: jopt.reduce_on_plateau(factor=0.0), "factor"),
    (lambda: jopt.reduce_on_plateau(patience=0), "patience"),
    (lambda: jopt.reduce_on_plateau(cooldown=-1), "cooldown"),
    (lambda: jopt.reduce_on_plateau(accumulation_size=0), "accumulation_size"),
    (lambda: jopt.reduce_on_plateau(min_scale=2.0), "min_scale"),
    (lambda: jopt.reduce_on_plateau(rtol=-0.1), "rtol"),
    (lambda: jopt.reduce_on_plateau(rtol=0.0, atol=0.0), "atol"),
    (lambda: jopt.MultiSteps(jopt.sgd(0.1), 0), "every_k_schedule"),
    (lambda: jopt.apply_if_finite(jopt.sgd(0.1), -1), "max_consecutive_errors"),
    (lambda: jopt.lookahead(jopt.sgd(0.1), 0, 0.5), "sync_period"),
    (lambda: jopt.lookahead(jopt.sgd(0.1), 2, 1.5), "slow_step_size"),
    (lambda: jopt.ema(1.0), "decay"),
    (lambda: jopt.ema(-0.1), "decay"),
])
def test_bad_input_names_the_argument(build, arg):
  with pytest.raises(ValueError, match=arg):
    build()


def test_lookahead_needs_params_and_ema_checks_structure():
  tx = jopt.lookahead(jopt.sgd(0.1), 2, 0.5)
  state = tx.init(jopt.LookaheadParams.init_synced(jnp.ones(2)))
  with pytest.raises(ValueError, match="lookahead"):
    tx.update(jnp.ones(2), state)
  e = jopt.ema(0.9)
  with pytest.raises(ValueError, match="ema"):
    e.update({"a": jnp.ones(2)}, e.init(jnp.ones(2)))


def test_abstract_init_of_every_wrapper():
  params = random_tree(jax.random.PRNGKey(0))
  for tx in [jopt.MultiSteps(jopt.adam(1e-3), 4).gradient_transformation(),
             jopt.apply_if_finite(jopt.adam(1e-3), 2), jopt.ema(0.9), jopt.reduce_on_plateau(),
             jopt.lookahead(jopt.adam(1e-3), 2, 0.5)]:
    jax.eval_shape(tx.init, params)
  jax.eval_shape(jopt.early_stopping(2, keep_best_params=True).init, params)
