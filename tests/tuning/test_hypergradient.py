"""Hypergradient descent against hand-computed steps and Baydin et al.'s algorithms written out in NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jopt


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
