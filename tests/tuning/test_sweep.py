"""Tuning: vmapped sweep vs one-by-one training, hypergradient descent vs the paper's rule, meta-gradients vs closed forms, CLI errors."""

import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jopt

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------------------- sweeps


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


def test_grid_and_random_search_spaces():
  g = jopt.grid_search({"a": [1, 2], "b": [3.0, 4.0, 5.0]})
  np.testing.assert_array_equal(g["a"], [1, 1, 1, 2, 2, 2])
  np.testing.assert_array_equal(g["b"], [3, 4, 5, 3, 4, 5])
  r = jopt.random_search({"lr": ("log", 1e-5, 1e-1), "m": ("uniform", 0.0, 0.9)}, 2000, seed=1)
  assert r["lr"].min() >= 1e-5 and r["lr"].max() <= 1e-1
  # log-uniform: log10(lr) is uniform on [-5, -1], so its mean is -3 and a quarter lies below -4.
  assert abs(np.log10(r["lr"]).mean() + 3) < 0.1
  assert abs(np.mean(r["lr"] < 1e-4) - 0.25) < 0.04
  np.testing.assert_array_equal(
      r["m"], jopt.random_search({"lr": ("log", 1e-5, 1e-1), "m": ("uniform", 0.0, 0.9)}, 2000, seed=1)["m"])
  with pytest.raises(ValueError, match="random_search: .*log-uniform, so low must be > 0"):
    jopt.random_search({"lr": ("log", 0.0, 1.0)}, 3)
  with pytest.raises(ValueError, match="grid_search: `space\\['a'\\]` must be a non-empty list"):
    jopt.grid_search({"a": []})


# ---------------------------------------------------------------------------- hypergradient descent


def test_hd_sgd_hand_computed_three_steps():
  # f(theta) = theta^2 / 2, so g = theta; alpha_0 = 0.1, beta = 0.01, theta_0 = 1.
  #   step 1: g = 1,      alpha = 0.1 (no previous direction),        theta = 0.9
  #   step 2: g = 0.9,    alpha = 0.1 + 0.01 * 0.9 * 1 = 0.109,        theta = 0.9 - 0.109 * 0.9 = 0.8019
  #   step 3: g = 0.8019, alpha = 0.109 + 0.01 * 0.8019 * 0.9 = 0.1162171,
  #           theta = 0.8019 - 0.1162171 * 0.8019 = 0.70870550751
  expected_alpha = [0.1, 0.109, 0.1162171]
  expected_theta = [0.9, 0.8019, 0.70870550751]
  tx = jopt.hd_sgd(0.1, hypergrad_lr=0.01)
  theta = jnp.array([1.0])
  state = tx.init(theta)
  step = jax.jit(tx.update)
  for alpha, th in zip(expected_alpha, expected_theta):
    updates, state = step(theta, state)
    theta = jopt.apply_updates(theta, updates)
    np.testing.assert_allclose(float(jopt.hyperparams(state)["learning_rate"]), alpha, rtol=1e-6)
    np.testing.assert_allclose(float(theta[0]), th, rtol=1e-6)


def _paper_hd(kind, grads_fn, theta, alpha, beta, mu=0.9, b1=0.9, b2=0.999, eps=1e-8, steps=3):
  """Baydin et al. 2018, Algorithms 4-6, on a flat float64 vector, written out from the paper."""
  theta = np.asarray(theta, np.float64)
  grad_u = np.zeros_like(theta)  # nabla_alpha u_{t-1}, zero at t = 1
  v = np.zeros_like(theta)
  m = np.zeros_like(theta)
  s = np.zeros_like(theta)
  alphas = []
  for t in range(1, steps + 1):
    g = grads_fn(theta)
    h = g @ grad_u
    alpha = alpha - beta * h
    if kind == "sgdn":
      v = mu * v + g
      u = -alpha * (g + mu * v)
      grad_u = -(g + mu * v)
    elif kind == "adam":
      m = b1 * m + (1 - b1) * g
      s = b2 * s + (1 - b2) * g * g
      # Bias correction from the float32 value of b (as jopt and optax compute it): float32(0.999)
      # is 1.3e-5 relatively off in 1 - b2, which is the only float32 effect above rounding.
      m_hat = m / (1 - float(np.float32(b1)) ** t)
      s_hat = s / (1 - float(np.float32(b2)) ** t)
      u = -alpha * m_hat / (np.sqrt(s_hat) + eps)
      grad_u = -m_hat / (np.sqrt(s_hat) + eps)
    theta = theta + u
    alphas.append(alpha)
  return theta, alphas


@pytest.mark.parametrize("kind", ["sgdn", "adam"])
def test_hd_sgdn_and_adam_follow_the_papers_algorithms(kind):
  # f = sum_i c_i theta_i^4 / 4 over two leaves: the global dot product spans both.
  c = np.array([1.0, 2.0, 0.5, 3.0, 1.5])
  grads_fn = lambda th: c * th**3
  theta0 = np.array([1.0, -0.5, 2.0, 0.3, -1.2])
  if kind == "sgdn":
    tx, beta = jopt.hd_sgd(0.01, hypergrad_lr=0.002, momentum=0.9, nesterov=True), 0.002
    alpha0 = 0.01
  else:
    tx, beta = jopt.hd_adam(0.05, hypergrad_lr=0.01), 0.01
    alpha0 = 0.05
  expected, alphas = _paper_hd(kind, grads_fn, theta0, alpha0, beta)
  params = {"a": jnp.asarray(theta0[:2], jnp.float32), "b": jnp.asarray(theta0[2:], jnp.float32)}
  state = tx.init(params)
  for t in range(3):
    flat = np.concatenate([np.asarray(params["a"]), np.asarray(params["b"])]).astype(np.float64)
    g = grads_fn(flat)
    grads = {"a": jnp.asarray(g[:2], jnp.float32), "b": jnp.asarray(g[2:], jnp.float32)}
    updates, state = tx.update(grads, state)
    params = jopt.apply_updates(params, updates)
    np.testing.assert_allclose(float(jopt.hyperparams(state)["learning_rate"]), alphas[t], rtol=1e-5)
  got = np.concatenate([np.asarray(params["a"]), np.asarray(params["b"])])
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
  assert alphas[-1] != alpha0  # the rate actually moved


def test_hd_state_reader_dtype_and_bad_input():
  tx = jopt.chain(jopt.clip_by_global_norm(1.0) if hasattr(jopt, "clip_by_global_norm") else jopt.identity(),
                  jopt.hd_adam(1e-3))
  params = {"w": jnp.ones((2, 3), jnp.bfloat16)}
  state = jax.eval_shape(tx.init, params)
  state = tx.init(params)
  updates, state = tx.update({"w": jnp.ones((2, 3), jnp.bfloat16)}, state)
  assert updates["w"].dtype == jnp.bfloat16
  assert set(jopt.hyperparams(state)) == {"learning_rate"}  # found once: its plain name
  with pytest.raises(ValueError, match=r"hd_sgd: `hypergrad_lr` must be in \[0, inf\)"):
    jopt.hd_sgd(0.1, hypergrad_lr=-1.0)
  with pytest.raises(ValueError, match="hypergradient_descent: `learning_rate` must be a number"):
    jopt.hd_sgd(lambda t: 0.1)
  with pytest.raises(ValueError, match="hd_sgd: `momentum` must be in"):
    jopt.hd_sgd(0.1, momentum=1.5)
  with pytest.raises(ValueError, match="hypergradient_descent: the updates tree does not match"):
    jopt.hd_sgd(0.1).update({"v": jnp.ones(3)}, jopt.hd_sgd(0.1).init({"w": jnp.ones(3)}))


# ---------------------------------------------------------------------------- meta-gradients


def _sgd_wd(learning_rate, weight_decay):
  return jopt.chain(jopt.add_decayed_weights(weight_decay), jopt.sgd(learning_rate))


@pytest.mark.parametrize("checkpoint", [True, False])
def test_meta_gradient_of_a_quadratic_equals_the_closed_form(checkpoint):
  # Train loss a/2 (p - c)^2 with weight decay w: p_{t+1} = r p_t + lr a c, r = 1 - lr (a + w);
  # p_T = p* + r^T (p_0 - p*), p* = a c / (a + w). Validation loss (p_T - d)^2 / 2.
  a, c, d, p0, lr, wd, steps = 2.0, 1.5, 1.0, -1.0, 0.05, 0.3, 7
  loss_fn = lambda p, b: 0.5 * a * jnp.sum((p - b) ** 2)
  val_fn = lambda p: 0.5 * jnp.sum((p - d) ** 2)
  f = jopt.meta_gradient(loss_fn, val_fn, _sgd_wd, checkpoint=checkpoint)
  val, grads = f({"learning_rate": math.log(lr), "weight_decay": math.log(wd)}, jnp.array([p0]),
                 jnp.full((steps, 1), c))
  r = 1 - lr * (a + wd)
  p_star = a * c / (a + wd)
  p_t = p_star + r**steps * (p0 - p_star)
  dp_dlr = steps * r ** (steps - 1) * -(a + wd) * (p0 - p_star)
  dp_dwd = -a * c / (a + wd) ** 2 * (1 - r**steps) + steps * r ** (steps - 1) * -lr * (p0 - p_star)
  np.testing.assert_allclose(float(val), 0.5 * (p_t - d) ** 2, rtol=1e-5)
  np.testing.assert_allclose(float(grads["learning_rate"]), lr * (p_t - d) * dp_dlr, rtol=1e-4)
  np.testing.assert_allclose(float(grads["weight_decay"]), wd * (p_t - d) * dp_dwd, rtol=1e-4)


def test_meta_gradient_through_adam_needs_eps_root_and_matches_finite_differences():
  loss_fn, params, batches = _mlp_problem()
  batches = jax.tree.map(lambda x: x[:4], batches)
  val = jax.tree.map(lambda x: x[4], _mlp_problem()[2])
  val_fn = lambda p: loss_fn(p, val)
  with pytest.raises(ValueError, match="meta_gradient: differentiating through adamw needs `eps_root` > 0"):
    jopt.meta_gradient(loss_fn, val_fn, jopt.adamw)
  f = jopt.meta_gradient(loss_fn, val_fn, jopt.adamw, fixed={"eps_root": 1e-8})
  log_hp = {"learning_rate": math.log(0.05), "weight_decay": math.log(0.1)}
  v, g = f(log_hp, params, batches)
  assert all(np.isfinite(float(x)) for x in g.values())
  h = 1e-2
  for name in log_hp:
    up = f({**log_hp, name: log_hp[name] + h}, params, batches)[0]
    down = f({**log_hp, name: log_hp[name] - h}, params, batches)[0]
    np.testing.assert_allclose(float(g[name]), float(up - down) / (2 * h), rtol=0.05, atol=1e-5)


def test_meta_tune_descends_to_the_best_learning_rate():
  # val(lr) = (1 - lr)^(2T) / 2 on f = p^2 / 2: decreases in lr up to lr = 1.
  loss_fn = lambda p, b: 0.5 * jnp.sum((p - b) ** 2)
  res = jopt.meta_tune(loss_fn, lambda p: 0.5 * jnp.sum(p**2), jopt.sgd, {"learning_rate": 0.01},
                       jnp.ones(1), jnp.zeros((5, 1)), num_steps=12)
  assert len(res.val_loss) == 12
  assert res.best_val_loss < 0.05 * res.val_loss[0]
  assert res.best["learning_rate"] > 0.2  # started at 0.01
  with pytest.raises(ValueError, match=r"meta_tune: `init_hyperparams\['learning_rate'\]` must be a finite number > 0"):
    jopt.meta_tune(loss_fn, lambda p: p.sum(), jopt.sgd, {"learning_rate": 0.0}, jnp.ones(1), jnp.zeros((2, 1)))


# ---------------------------------------------------------------------------- the sweep CLI


@pytest.mark.parametrize("args, message", [
    (["--grid=learning_rate"], "--grid"),
    (["--grid=learning_rate=1e-3,abc"], "abc"),
    (["--random=learning_rate=log:0:1e-1", "--search=random"], "log"),
    (["--random=learning_rate=cube:1:2", "--search=random"], "cube"),
    (["--search=random"], "--random"),
    (["--search=grid", "--random=learning_rate=log:1e-5:1e-1"], "--grid"),
    (["--grid=learning_rate=1e-3", "--trials=0"], "trials"),
])
def test_sweep_cli_flag_errors_are_clear_with_exit_code_2(args, message, tmp_path):
  if not os.path.exists(os.path.join(REPO, "experiments", "sweep.py")):
    pytest.skip("experiments/sweep.py not present")
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.sweep", f"--workdir={tmp_path}", *args],
      cwd=REPO, capture_output=True, text=True, timeout=120,
      env={**os.environ, "JAX_PLATFORMS": "cpu"},
  )
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert message in proc.stderr, proc.stderr[-2000:]
  assert "Traceback" not in proc.stderr


def test_sweep_cli_writes_csv_best_config_and_plot(tmp_path):
  if not os.path.exists(os.path.join(REPO, "experiments", "sweep.py")):
    pytest.skip("experiments/sweep.py not present")
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.sweep", f"--workdir={tmp_path}", "--epochs=1", "--hidden=8", "--optimizer=adamw",
       "--grid=learning_rate=1e-3,1e-1", "--grid=weight_decay=1e-4,1e-2"],
      cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "JAX_PLATFORMS": "cpu"},
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  import csv  # pylint: disable=g-import-not-at-top
  import json  # pylint: disable=g-import-not-at-top
  rows = list(csv.DictReader(open(tmp_path / "results.csv")))
  assert [(float(r["learning_rate"]), float(r["weight_decay"])) for r in rows] == [
      (1e-3, 1e-4), (1e-3, 1e-2), (1e-1, 1e-4), (1e-1, 1e-2)]
  best = json.load(open(tmp_path / "best.json"))
  assert best["final_val_loss"] == pytest.approx(min(float(r["final_val_loss"]) for r in rows), rel=1e-5)
  assert (tmp_path / "sweep.png").stat().st_size > 0
