"""Single-device training step: optax/flax reference loops, metrics, RNG, model state, vmap, bad input."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import jopt
from cases import STEPS, make_batches, make_params, mlp_loss


def assert_trees_close(a, b, tol=1e-6):
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=tol, atol=tol), a, b)


def test_jit_step_matches_optax_loop_and_metrics():
  params, batches = make_params(), make_batches()
  trainer = jopt.make_train_step(mlp_loss, jopt.adam(1e-2))
  state = trainer.init(params)
  ref_tx = optax.adam(1e-2)
  ref_p, ref_s = params, ref_tx.init(params)
  for b in batches:
    state, metrics = trainer.step(state, b)
    loss, g = jax.value_and_grad(mlp_loss)(ref_p, b)
    u, ref_s = ref_tx.update(g, ref_s, ref_p)
    ref_p = optax.apply_updates(ref_p, u)
    np.testing.assert_allclose(metrics["loss"], loss, rtol=1e-6)
    np.testing.assert_allclose(metrics["grad_norm"], optax.global_norm(g), rtol=1e-5)
    np.testing.assert_allclose(metrics["update_norm"], optax.global_norm(u), rtol=1e-5)
  assert int(state.step) == STEPS
  assert_trees_close(state.params, ref_p)
  assert metrics["hyperparams"] == {}
  # init copied the caller's arrays, so donation left them alive.
  assert not any(x.is_deleted() for x in jax.tree.leaves(params))


def test_hyperparams_in_metrics():
  sched = optax.linear_schedule(0.1, 0.0, 10)  # the reference values only
  tx = jopt.inject_hyperparams(jopt.sgd)(learning_rate=jopt.linear_schedule(0.1, 0.0, 10))
  trainer = jopt.make_train_step(mlp_loss, tx)
  state = trainer.init(make_params())
  for k, b in enumerate(make_batches(3)):
    state, metrics = trainer.step(state, b)
    np.testing.assert_allclose(metrics["hyperparams"]["learning_rate"], sched(k), rtol=1e-6)


def dropout_loss(params, batch, rng):
  keep = jax.random.bernoulli(rng, 0.5, batch["x"].shape)
  x = jnp.where(keep, batch["x"] / 0.5, 0.0)
  return mlp_loss(params, {"x": x, "y": batch["y"]}), {"u": jax.random.uniform(rng)}


def test_rng_is_folded_from_step_and_deterministic():
  batches = make_batches(4)

  def run(seed):
    trainer = jopt.make_train_step(dropout_loss, jopt.sgd(0.1, momentum=0.9), has_aux=True)
    state = trainer.init(make_params(), rng=seed)
    us = []
    for b in batches:
      state, metrics = trainer.step(state, b)
      us.append(float(metrics["u"]))
    return state.params, us

  p1, u1 = run(3)
  p2, u2 = run(3)
  jax.tree.map(np.testing.assert_array_equal, p1, p2)  # same seed: bitwise the same
  key = jax.random.key(3)
  expected = [float(jax.random.uniform(jax.random.fold_in(key, k))) for k in range(len(batches))]
  np.testing.assert_allclose(u1, expected, rtol=0)
  p3, _ = run(4)
  assert not np.allclose(p1["w"], p3["w"])


class BNNet(nn.Module):
  @nn.compact
  def __call__(self, x, train: bool):
    x = nn.Dense(6, use_bias=False)(x)  # a bias before batch norm has a zero gradient
    x = nn.BatchNorm(use_running_average=not train, momentum=0.8)(x)
    return nn.Dense(1)(nn.relu(x))[:, 0]


def test_flax_linen_batchnorm_model_state_matches_flax_loop():
  model = BNNet()
  batches = make_batches(5)
  variables = model.init(jax.random.key(0), batches[0]["x"], train=False)
  params, stats = variables["params"], variables["batch_stats"]

  def loss_fn(p, batch, model_state):
    out, new = model.apply(
        {"params": p, "batch_stats": model_state}, batch["x"], train=True, mutable=["batch_stats"]
    )
    return jnp.mean((out - batch["y"]) ** 2), {"model_state": new["batch_stats"]}

  trainer = jopt.make_train_step(loss_fn, jopt.adam(1e-2), has_aux=True)
  state = trainer.init(params, model_state=stats)
  ref_tx = optax.adam(1e-2)
  ref_p, ref_ms, ref_s = params, stats, ref_tx.init(params)
  for b in batches:
    state, _ = trainer.step(state, b)
    (_, aux), g = jax.value_and_grad(loss_fn, has_aux=True)(ref_p, b, ref_ms)
    u, ref_s = ref_tx.update(g, ref_s, ref_p)
    ref_p, ref_ms = optax.apply_updates(ref_p, u), aux["model_state"]
  assert_trees_close(state.params, ref_p, 1e-5)
  assert_trees_close(state.model_state, ref_ms, 1e-5)
  assert not np.allclose(state.model_state["BatchNorm_0"]["mean"], 0.0)


def test_flax_nnx_model_matches_nnx_optimizer():
  batches = make_batches(5)
  model = nnx.Linear(3, 1, rngs=nnx.Rngs(0))
  graphdef, params = nnx.split(model, nnx.Param)

  def loss_fn(p, batch):
    return jnp.mean((nnx.merge(graphdef, p)(batch["x"])[:, 0] - batch["y"]) ** 2)

  trainer = jopt.make_train_step(loss_fn, jopt.sgd(0.05, momentum=0.9))
  state = trainer.init(params)
  # Reference: flax's own nnx loop with optax's sgd.
  ref_model = nnx.Linear(3, 1, rngs=nnx.Rngs(0))
  opt = nnx.Optimizer(ref_model, optax.sgd(0.05, momentum=0.9), wrt=nnx.Param)
  ref_loss = lambda m, b: jnp.mean((m(b["x"])[:, 0] - b["y"]) ** 2)
  for b in batches:
    state, _ = trainer.step(state, b)
    grads = nnx.grad(ref_loss)(ref_model, b)
    opt.update(ref_model, grads)
  nnx.update(model, state.params)
  np.testing.assert_allclose(model.kernel[...], ref_model.kernel[...], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(model.bias[...], ref_model.bias[...], rtol=1e-5, atol=1e-6)


def test_step_fn_vmaps_over_trials():
  lrs = jnp.array([0.01, 0.1, 0.3])
  batches = make_batches(3)

  def one_trial(lr, state, batch):
    return jopt.train_step_body(mlp_loss, jopt.sgd(lr))(state, batch)

  tx0 = jopt.sgd(0.1)
  states = jax.vmap(lambda _: jopt.init_train_state(make_params(), tx0))(lrs)
  vstep = jax.jit(jax.vmap(one_trial, in_axes=(0, 0, None)))
  for b in batches:
    states, metrics = vstep(lrs, states, b)
  assert metrics["loss"].shape == (3,)
  for i, lr in enumerate([0.01, 0.1, 0.3]):
    trainer = jopt.make_train_step(mlp_loss, jopt.sgd(lr))
    state = trainer.init(make_params())
    for b in batches:
      state, _ = trainer.step(state, b)
    assert_trees_close(jax.tree.map(lambda x: x[i], states.params), state.params, 1e-5)


def test_bad_input_raises_before_compilation():
  batch = make_batches(1)[0]
  vec_loss = lambda p, b: (b["x"] @ p["w"]).sum(axis=1)
  trainer = jopt.make_train_step(vec_loss, jopt.sgd(0.1))
  state = trainer.init(make_params())
  # `.trace` stops before lowering and compiling: the checks fire while tracing.
  with pytest.raises(ValueError, match=r"scalar loss, got shape \(8,\)"):
    jax.jit(trainer.step_fn).trace(state, batch)
  with pytest.raises(ValueError, match="scalar loss"):
    trainer.step(state, batch)

  trainer = jopt.make_train_step(mlp_loss, jopt.adam(0.1))
  state = trainer.init(make_params())
  other = {"w": jnp.zeros((3, 5)), "b": jnp.zeros(5), "v": jnp.zeros(5)}
  bad = state._replace(params=other)
  with pytest.raises(ValueError, match=r"leaf \[0\]\.mu\['b'\] has shape \(8,\) but these params need \(5,\)"):
    jax.jit(trainer.step_fn).trace(bad, batch)
  bad = state._replace(opt_state=jopt.sgd(0.1, momentum=0.9).init(make_params()))
  with pytest.raises(ValueError, match="optimizer state does not match"):
    jax.jit(trainer.step_fn).trace(bad, batch)

  with pytest.raises(ValueError, match="has_aux=True"):
    jax.jit(jopt.make_train_step(dropout_loss, jopt.sgd(0.1)).step_fn).trace(
        jopt.init_train_state(make_params(), jopt.sgd(0.1), rng=0), batch
    )
  with pytest.raises(ValueError, match="parallel"):
    jopt.make_train_step(mlp_loss, jopt.sgd(0.1), parallel="data")
  with pytest.raises(ValueError, match="shard_opt_state"):
    jopt.make_train_step(mlp_loss, jopt.sgd(0.1), shard_opt_state=True)


def test_distributed_helpers_single_process(monkeypatch):
  assert jopt.process_batch_slice(12) == slice(0, 12)
  info = jopt.process_info()
  assert (info.process_id, info.num_processes) == (0, 1)
  with pytest.raises(ValueError, match="positive integer"):
    jopt.process_batch_slice(0)
  with pytest.raises(ValueError, match=r"process_id` must be in \[0, 2\), got 2"):
    jopt.initialize_distributed("localhost:1234", 2, 2)
  monkeypatch.setenv("JOPT_NUM_PROCESSES", "2")
  with pytest.raises(ValueError, match="give all of"):
    jopt.initialize_distributed()
  monkeypatch.setenv("JOPT_NUM_PROCESSES", "two")
  with pytest.raises(ValueError, match="JOPT_NUM_PROCESSES must be an integer"):
    jopt.initialize_distributed()
