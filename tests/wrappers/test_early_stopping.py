"""early_stopping against hand-computed sequences and a plain-Python reference loop."""

import jax
import jax.numpy as jnp
import numpy as np

import jopt


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
