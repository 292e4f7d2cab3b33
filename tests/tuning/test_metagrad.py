"""meta_gradient and meta_tune against closed forms and finite differences."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jopt
from test_sweep import _mlp_problem


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
