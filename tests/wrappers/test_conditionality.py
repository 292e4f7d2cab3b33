"""Wrappers and stateless transforms step by step against optax, eager and under jit, flags both ways."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from parity import assert_trajectories_match, assert_trees_close, gradient_sequence, random_tree

import jopt
from jopt._src.wrappers import apply_every as apply_every_mod
from jopt._src.wrappers import conditionality as conditional
from jopt._src.transforms import freezing
from jopt._src.wrappers import flatten as layouts
from jopt._src.wrappers import monitoring
from jopt._src.transforms import stateless
from jopt._src.transforms import clipping as unitwise_clipping

MODES = ["eager", "jit"]
STEPS = 6


# Eager steps dispatch every op (and optax's `cond` wrappers recompile each step):
# a small tree and few steps there; the full random tree under jit.
SMALL = {"dense": {"w": jnp.linspace(-1.0, 1.0, 6).reshape(2, 3), "b": jnp.array([0.5, -0.25])},
         "scalar": jnp.float32(0.3)}
SMALL_LABELS = {"dense": {"w": "a", "b": "b"}, "scalar": "b"}


def _match(ours, theirs, mode, full_tree=False, **kw):
  """Side by side with optax; the nested random tree (lists, tuples) only under jit with `full_tree`."""
  if mode == "eager" or not full_tree:
    kw.setdefault("params", SMALL)
  kw.setdefault("steps", 3 if mode == "eager" else STEPS)
  return assert_trajectories_match(ours, theirs, mode=mode, **kw)


def _same_layout(a, b):
  """Same leaves (shapes and values) in the same order; class names of nodes may differ."""
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  assert [jnp.shape(x) for x in la] == [jnp.shape(x) for x in lb]
  assert_trees_close(la, lb, 1e-6, 1e-7)


@pytest.mark.parametrize("mode,clipping,eps", [("jit", 0.05, 1e-3), ("jit", 0.7, 0.5), ("eager", 0.05, 1e-3)])
def test_adaptive_grad_clip(mode, clipping, eps):
  _match(unitwise_clipping.adaptive_grad_clip(clipping, eps),
         optax.adaptive_grad_clip(clipping, eps), mode, apply_scale=0.1)


def test_adaptive_grad_clip_axis():
  params = {"w": SMALL["dense"]["w"]}
  _match(unitwise_clipping.adaptive_grad_clip(0.1, axis=1),
         optax.adaptive_grad_clip(0.1, axis=1), "eager", params=params, steps=2)


def test_adaptive_grad_clip_needs_params():
  tx = unitwise_clipping.adaptive_grad_clip(0.1)
  g = {"a": jnp.ones(3)}
  for call in (lambda: tx.update(g, tx.init(g)), lambda: tx.update(g, tx.init(g), None)):
    with pytest.raises(ValueError, match="adaptive_grad_clip"):
      call()
  with pytest.raises(ValueError, match="clipping"):
    unitwise_clipping.adaptive_grad_clip(float("nan"))


@pytest.mark.parametrize("mode,k", [("jit", 1), ("jit", 3), ("eager", 3)])
def test_apply_every(mode, k):
  _match(apply_every_mod.apply_every(k), optax.apply_every(k), mode, apply_scale=0.1)


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


@pytest.mark.parametrize("mode,callable_labels", [("jit", False), ("eager", True)])
def test_partition(mode, callable_labels):
  labels = SMALL_LABELS if mode == "eager" else {"dense": {"w": "a", "b": "b"}, "scalar": "b", "stack": "a"}
  param_labels = (lambda p: labels) if callable_labels else labels
  _match(freezing.partition({"a": jopt.adam(0.1), "b": jopt.sgd(0.1, momentum=0.9)}, param_labels),
         optax.partition({"a": optax.adam(0.1), "b": optax.sgd(0.1, momentum=0.9)}, param_labels),
         mode, full_tree=True)


@pytest.mark.parametrize("mode,mask", [("jit", True), ("jit", False), ("jit", "tree"), ("eager", "tree")])
def test_freeze(mode, mask):
  if mask == "tree":
    mask = {"dense": {"w": True, "b": False}, "scalar": False}
    if mode == "jit":
      mask["stack"] = True
  _match(jopt.chain(jopt.adam(0.1), freezing.freeze(mask)),
         optax.chain(optax.adam(0.1), optax.freeze(mask)), mode, full_tree=True)


@pytest.mark.parametrize("mode,mask", [("jit", False), ("jit", "tree"), ("eager", "tree")])
def test_selective_transform(mode, mask):
  if mask == "tree":
    mask = {"dense": {"w": False, "b": True}, "scalar": True}
    if mode == "jit":
      mask["stack"] = False
  ours = freezing.selective_transform(jopt.adam(0.1), freeze_mask=mask)
  theirs = optax.selective_transform(optax.adam(0.1), freeze_mask=mask)
  _match(ours, theirs, mode, full_tree=True)
  params = SMALL if mode == "eager" else random_tree(jax.random.PRNGKey(0))
  _same_layout(ours.init(params), theirs.init(params))


@pytest.mark.parametrize("mode", MODES)
def test_set_to_zero(mode):
  ours, _ = _match(stateless.set_to_zero(), optax.set_to_zero(), mode, steps=2)
  assert all(not np.any(np.asarray(l)) for l in jax.tree.leaves(ours[-1][1]))


@pytest.mark.parametrize("mode,pass_params", [("jit", True), ("jit", False), ("eager", True)])
def test_stateless(mode, pass_params):
  def f(updates, params):
    if params is None:
      return jax.tree.map(lambda g: 2.0 * g, updates)
    return jax.tree.map(lambda g, p: g - 0.1 * p, updates, params)

  _match(stateless.stateless(f), optax.stateless(f), mode, pass_params=pass_params, steps=4)


@pytest.mark.parametrize("mode,pass_params", [("jit", True), ("jit", False), ("eager", False)])
def test_stateless_with_tree_map(mode, pass_params):
  f = lambda g, p: 2.0 * g if p is None else g * jnp.tanh(p)
  _match(stateless.stateless_with_tree_map(f), optax.stateless_with_tree_map(f), mode,
         pass_params=pass_params, steps=4)


def test_with_extra_args_support():
  inner = jopt.trace(0.9)
  assert not isinstance(inner, optax.GradientTransformationExtraArgs)
  wrapped = stateless.with_extra_args_support(inner)
  assert isinstance(wrapped, optax.GradientTransformationExtraArgs)
  assert stateless.with_extra_args_support(wrapped) is wrapped
  params = SMALL
  g = gradient_sequence(params, 1)[0]
  u1, s1 = wrapped.update(g, wrapped.init(params), params, value=3.0, other="x")
  u2, s2 = optax.trace(0.9).update(g, optax.trace(0.9).init(params), params)
  assert_trees_close(u1, u2, 1e-6, 1e-7)
  assert_trees_close(tuple(s1), tuple(s2), 1e-6, 1e-7)


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
  _match(ours_fn(jopt.adam(0.1), fn, forward_extra_args=forward),
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


@pytest.mark.parametrize("mode", MODES)
def test_flatten(mode):
  _match(layouts.flatten(jopt.adam(0.1)), optax.flatten(optax.adam(0.1)), mode, full_tree=True)


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


def _norm(u):
  return jnp.sqrt(sum(jnp.sum(x * x) for x in jax.tree.leaves(u)))


@pytest.mark.parametrize("mode,debias", [("jit", True), ("jit", False), ("eager", True)])
def test_monitor_and_measure_with_ema(mode, debias):
  """Measurements in the state equal optax's at every step; the updates pass through."""
  def make(lib):
    return lib.chain(
        lib.sgd(0.1, momentum=0.9),
        lib_monitor(lib)({
            "norm": _norm,
            "clipped": lib_ema(lib)(lambda u: _norm(u) > 0.3, 0.8, debias),
            "mean_ema": lib_ema(lib)(lambda u: jax.tree.map(jnp.mean, u), 0.5, debias),
        }),
        lib.clip_by_global_norm(0.3),
    )

  lib_monitor = lambda lib: monitoring.monitor if lib is jopt else optax.monitor
  lib_ema = lambda lib: monitoring.measure_with_ema if lib is jopt else optax.measure_with_ema
  ours, theirs = make(jopt), make(optax)
  params = SMALL
  s1, s2 = ours.init(params), theirs.init(params)
  step1 = jax.jit(ours.update) if mode == "jit" else ours.update
  step2 = jax.jit(theirs.update) if mode == "jit" else theirs.update
  for t, g in enumerate(gradient_sequence(params, 5 if mode == "jit" else 3)):
    u1, s1 = step1(g, s1, params)
    u2, s2 = step2(g, s2, params)
    assert_trees_close(u1, u2, 1e-5, 1e-7, f"updates {t}")
    assert_trees_close(s1[1].measurements, s2[1].measurements, 2e-5, 1e-6, f"measurements {t}")


def test_monitor_state_is_stable_under_scan():
  """The state keeps one structure from `init` on, so a `lax.scan` training loop works."""
  tx = jopt.chain(jopt.sgd(0.1), monitoring.monitor({
      "norm": _norm, "ema": monitoring.measure_with_ema(lambda u: _norm(u) > 1.0, 0.9)}))
  params = SMALL
  grads = gradient_sequence(params, 4)
  state = tx.init(params)
  assert jax.tree.structure(jax.eval_shape(tx.update, grads[0], state, params)[1]) == (
      jax.tree.structure(state))

  def body(carry, g):
    _, s = tx.update(g, carry, params)
    return s, s[1].measurements["ema"]

  stacked = jax.tree.map(lambda *x: jnp.stack(x), *grads)
  _, scanned = jax.lax.scan(body, state, stacked)
  loop = []
  for g in grads:
    _, state = tx.update(g, state, params)
    loop.append(state[1].measurements["ema"])
  np.testing.assert_allclose(scanned, jnp.stack(loop), rtol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_snapshot(mode):
  measure = lambda u: {"norm": _norm(u), "first": jax.tree.leaves(u)[0]}
  ours = jopt.chain(jopt.adam(0.1), monitoring.snapshot("m", measure))
  theirs = optax.chain(optax.adam(0.1), optax.snapshot("m", measure))
  params = SMALL
  s1, s2 = ours.init(params), theirs.init(params)
  assert_trees_close(s1[1].measurement, s2[1].measurement, 1e-6, 1e-7, "init")
  step1 = jax.jit(ours.update) if mode == "jit" else ours.update
  step2 = jax.jit(theirs.update) if mode == "jit" else theirs.update
  for g in gradient_sequence(params, 3):
    u1, s1 = step1(g, s1, params)
    u2, s2 = step2(g, s2, params)
    assert_trees_close(u1, u2, 1e-5, 1e-7)
    assert_trees_close(s1[1].measurement, s2[1].measurement, 1e-5, 1e-7)
