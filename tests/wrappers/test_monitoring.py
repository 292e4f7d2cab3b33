"""monitor, measure_with_ema and snapshot: measurements and updates equal optax's at every step."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
from cases import SMALL
from jopt._src.wrappers import monitoring
from parity import assert_trees_close, gradient_sequence

MODES = ["eager", "jit"]


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
