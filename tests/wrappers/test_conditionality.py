"""apply_if_finite, conditionally_transform and conditionally_mask against optax, eager and under jit."""

import jax
import jax.numpy as jnp
import optax
import pytest

import jopt
from cases import SMALL, match_small
from jopt._src.wrappers import conditionality as conditional
from parity import assert_trees_close, gradient_sequence, random_tree


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


def _same_layout(a, b):
  """Same leaves (shapes and values) in the same order; class names of nodes may differ."""
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  assert [jnp.shape(x) for x in la] == [jnp.shape(x) for x in lb]
  assert_trees_close(la, lb, 1e-6, 1e-7)


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


def _cond_fns(forward):
  if forward:
    return lambda step, value: jnp.logical_and(step % 3 != 1, value > 0)
  return lambda step: step % 3 != 1


@pytest.mark.parametrize("mode,forward", [("jit", False), ("jit", True), ("eager", True)])
@pytest.mark.parametrize("kind", ["transform", "mask"])
def test_conditional(mode, forward, kind):
  ours_fn = {"transform": conditional.conditionally_transform, "mask": conditional.conditionally_mask}[kind]
  theirs_fn = {"transform": optax.conditionally_transform, "mask": optax.conditionally_mask}[kind]
  fn = _cond_fns(forward)
  extra = {"value": jnp.float32(1.0)}
  match_small(ours_fn(jopt.adam(0.1), fn, forward_extra_args=forward),
         theirs_fn(optax.adam(0.1), fn, forward_extra_args=forward), mode, extra=extra)


def test_conditional_state_and_extra_args():
  """The step counter and inner state match optax's; non-array extra args reach the condition."""
  params = SMALL
  fn = lambda step, tag: jnp.logical_and(step % 2 == 0, tag == "on")
  for ours_fn, theirs_fn in [(conditional.conditionally_transform, optax.conditionally_transform),
                             (conditional.conditionally_mask, optax.conditionally_mask)]:
    ours = ours_fn(jopt.trace(0.5), fn, forward_extra_args=True)
    theirs = theirs_fn(optax.trace(0.5), fn, forward_extra_args=True)
    s1, s2 = ours.init(params), theirs.init(params)
    for t, g in enumerate(gradient_sequence(params, 4)):
      tag = "on" if t < 3 else "off"
      u1, s1 = ours.update(g, s1, params, tag=tag)
      u2, s2 = theirs.update(g, s2, params, tag=tag)
      assert_trees_close(u1, u2, 1e-6, 1e-7, f"updates {t}")
      assert type(s1).__name__ == type(s2).__name__ and s1._fields == s2._fields
      _same_layout(s1, s2)


def test_conditional_eager_compiles_once():
  """Eager steps reuse one compiled `cond` (fresh branch closures would compile every step)."""
  tx = conditional.conditionally_transform(jopt.sgd(0.1), lambda step: step % 2 == 0)
  params = {"w": jnp.ones(3)}
  state = tx.init(params)
  g = {"w": jnp.ones(3)}
  tx.update(g, state)  # warm up
  with jax.log_compiles(True):
    import logging  # pylint: disable=import-outside-toplevel
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("jax")
    logger.addHandler(handler)
    try:
      for _ in range(3):
        _, state = tx.update(g, state)
    finally:
      logger.removeHandler(handler)
  assert not [r for r in records if "cond" in r.getMessage()]
