"""Shared checks for the research optimizers: jit / vmap, and the ZeRO-1 mesh step equal to one device."""

import jax
import jax.numpy as jnp
import numpy as np

import jopt
from cases import make_batches, make_params, mlp_loss

MESH_STEPS = 6


def assert_trees_close(a, b, rtol, atol):
  jax.tree.map(lambda x, y: np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol), a, b)


def assert_vmap_matches_loop(tx, params, grads_seq, rtol=1e-5, atol=1e-6):
  """`vmap` over two independent copies (params and gradients differ) equals two separate runs."""
  batched_p = jax.tree.map(lambda x: jnp.stack([x, 0.5 * x + 1.0]), params)
  batched_gs = [jax.tree.map(lambda g: jnp.stack([g, -2.0 * g + 0.3]), gs) for gs in grads_seq]
  vstate = jax.vmap(tx.init)(batched_p)
  vupdate = jax.jit(jax.vmap(tx.update))
  for g in batched_gs:
    vu, vstate = vupdate(g, vstate, batched_p)
  for member in range(2):
    pick = lambda t: jax.tree.map(lambda x: x[member], t)
    p = pick(batched_p)
    state = tx.init(p)
    update = jax.jit(tx.update)
    for g in batched_gs:
      u, state = update(pick(g), state, p)
    assert_trees_close(pick(vu), u, rtol, atol)
    assert_trees_close(pick(vstate), state, rtol, atol)


def regression_loss(params, batch):
  return jnp.mean((batch["x"] @ params["w"] + params["b"] - batch["y"]) ** 2)


def square_regression():
  """`(loss, params, batches)`: 8 inputs to 8 outputs, with well-separated gradient statistics.

  SOAP's eigenbasis (so its update) moves by rounding / eigengap; `test_train_step`'s MLP has
  rank-deficient, nearly degenerate statistics, where the rounding of the gradient all-reduce alone
  changes the result. Inputs with geometric scales and random targets give eigengaps of order 1.
  """
  r = np.random.default_rng(0)
  scales = np.geomspace(0.5, 4.0, 8).astype(np.float32)
  params = {"w": jnp.asarray(r.normal(size=(8, 8)) / 3, jnp.float32), "b": jnp.zeros(8, jnp.float32)}
  batches = [{"x": (r.normal(size=(16, 8)) * scales).astype(np.float32),
              "y": r.normal(size=(16, 8)).astype(np.float32)} for _ in range(MESH_STEPS)]
  return regression_loss, params, batches


def assert_mesh_zero1_matches_single(tx, problem=None, rtol=1e-4, atol=1e-5):
  """`make_train_step(parallel="mesh", shard_opt_state=True)` on 4 devices equals the one-device step.

  `problem` is `(loss, params, batches)` (default: `test_train_step`'s MLP). Returns the sharded
  final state so callers can check what was split.
  """
  assert jax.device_count() == 4, "tests/conftest.py should give 4 simulated CPU devices"
  loss, params, batches = problem or (mlp_loss, make_params(), make_batches(MESH_STEPS, size=16))
  results = []
  for kw in ({}, {"parallel": "mesh", "shard_opt_state": True}):
    trainer = jopt.make_train_step(loss, tx, **kw)
    state = trainer.init(params)
    for b in batches:
      state, _ = trainer.step(state, b)
    results.append(state)
  single, zero = results
  assert_trees_close(zero.params, single.params, rtol, atol)
  assert_trees_close(zero.opt_state, single.opt_state, rtol, atol)
  specs = [x.sharding.spec for x in jax.tree.leaves(zero.opt_state)]
  assert any("data" in tuple(s) for s in specs), "no optimizer-state leaf was sharded"
  return zero
