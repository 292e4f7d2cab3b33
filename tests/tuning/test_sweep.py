"""sweep: vmapped trials equal trials run one by one with make_train_step; per-trial params, bad input."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jopt


def _mlp_problem():
  kx, kw, kv, ky = jax.random.split(jax.random.key(0), 4)
  steps, batch, d_in, hidden, d_out = 12, 16, 6, 8, 3
  x = jax.random.normal(kx, (steps, batch, d_in))
  y = jax.random.randint(ky, (steps, batch), 0, d_out)
  params = {
      "w1": jax.random.normal(kw, (d_in, hidden)) / math.sqrt(d_in), "b1": jnp.zeros(hidden),
      "w2": jax.random.normal(kv, (hidden, d_out)) / math.sqrt(hidden), "b2": jnp.zeros(d_out),
  }

  def loss_fn(p, b):
    h = jnp.tanh(b["x"] @ p["w1"] + p["b1"])
    logits = h @ p["w2"] + p["b2"]
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), b["y"][:, None], 1))

  return loss_fn, params, {"x": x, "y": y}


def test_vmapped_sweep_equals_trials_run_one_by_one():
  loss_fn, params, batches = _mlp_problem()
  val = jax.tree.map(lambda a: a[0], batches)
  space = {"learning_rate": [1e-3, 1e-2, 3e-2, 1e-1], "weight_decay": [0.0, 1e-3, 1e-2, 1e-1]}
  res = jopt.sweep(loss_fn, jopt.adamw, space, params, batches, fixed={"b1": 0.8},
                   eval_fn=lambda p: {"val": loss_fn(p, val)})
  assert res.train_loss.shape == (4, 12) and res.metrics["val"].shape == (4,)
  # conftest exposes 4 CPU devices: the 4 trials were split over them (one each).
  assert len(res.train_loss.sharding.device_set) == jax.local_device_count() == 4
  np.testing.assert_array_equal(res.hyperparams["weight_decay"], np.float32(space["weight_decay"]))
  stored = jopt.hyperparams(res.state.opt_state)
  np.testing.assert_allclose(stored["learning_rate"], np.float32(space["learning_rate"]))

  # Reference: each trial on its own, an ordinary Python loop over jopt.make_train_step.
  for k in range(4):
    tx = jopt.adamw(space["learning_rate"][k], b1=0.8, weight_decay=space["weight_decay"][k])
    trainer = jopt.make_train_step(loss_fn, tx, donate=False)
    state = trainer.init(params)
    losses = []
    for t in range(12):
      state, metrics = trainer.step(state, jax.tree.map(lambda a: a[t], batches))
      losses.append(metrics["loss"])
    for name in params:
      np.testing.assert_allclose(res.state.params[name][k], state.params[name], rtol=0, atol=1e-6)
    np.testing.assert_allclose(res.train_loss[k], np.stack(losses), rtol=0, atol=1e-6)
    np.testing.assert_allclose(res.metrics["val"][k], loss_fn(state.params, val), rtol=0, atol=1e-6)

  # The same program trial by trial (vmap=False) agrees too.
  seq = jopt.sweep(loss_fn, jopt.adamw, space, params, batches, fixed={"b1": 0.8},
                   eval_fn=lambda p: {"val": loss_fn(p, val)}, vmap=False)
  np.testing.assert_allclose(seq.train_loss, res.train_loss, rtol=0, atol=1e-6)
  for name in params:
    np.testing.assert_allclose(seq.state.params[name], res.state.params[name], rtol=0, atol=1e-6)


def test_sweep_per_trial_params_and_bad_input():
  loss_fn, params, batches = _mlp_problem()
  stacked = jax.tree.map(lambda a: jnp.stack([a, 2 * a]), params)
  res = jopt.sweep(loss_fn, jopt.sgd, {"learning_rate": [0.1, 0.1]}, stacked, batches,
                   per_trial_params=True)
  one = jopt.sweep(loss_fn, jopt.sgd, {"learning_rate": [0.1]}, jax.tree.map(lambda a: 2 * a, params),
                   batches)
  np.testing.assert_allclose(res.train_loss[1], one.train_loss[0], rtol=0, atol=1e-6)

  with pytest.raises(ValueError, match=r"sweep: .*same number of trials"):
    jopt.sweep(loss_fn, jopt.adamw, {"learning_rate": [0.1, 0.2], "weight_decay": [0.0]}, params, batches)
  with pytest.raises(ValueError, match=r"sweep: `hyperparams` key 'lr' is not an argument of sgd"):
    jopt.sweep(loss_fn, jopt.sgd, {"lr": [0.1]}, params, batches)
  with pytest.raises(ValueError, match=r"sgd: `learning_rate` must be in \[0, inf\)"):
    jopt.sweep(loss_fn, jopt.sgd, {"learning_rate": [0.1, -1.0]}, params, batches)
  with pytest.raises(ValueError, match="per_trial_params=True"):
    jopt.sweep(loss_fn, jopt.sgd, {"learning_rate": [0.1, 0.2, 0.3]}, stacked, batches,
               per_trial_params=True)
