"""MoMo and MoMo-Adam against optax.contrib, step by step (with the loss `value`)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jopt._src.contrib import momo as jmomo
from parity import assert_trajectories_match, random_tree

SCHED = lambda count: 0.5 / (1.0 + 0.1 * count)


def _loss(p):
  return sum(jnp.sum(0.5 * x ** 2 + 0.3 * jnp.sin(2 * x)) for x in jax.tree.leaves(p)) + 3.0


MOMO = [
    dict(),
    dict(learning_rate=SCHED, beta=0.5, lower_bound=-1.0, weight_decay=0.1, adapt_lower_bound=True),
]
MOMO_ADAM = [
    dict(),
    dict(learning_rate=SCHED, b1=0.5, b2=0.9, eps=1e-6, lower_bound=-1.0, weight_decay=0.1,
         adapt_lower_bound=True),
]
CASES = ([(jmomo.momo, optax.contrib.momo, k) for k in MOMO]
         + [(jmomo.momo_adam, optax.contrib.momo_adam, k) for k in MOMO_ADAM])


@pytest.mark.parametrize("ours,ref,kwargs", CASES, ids=[f"{c[0].__name__}-{i % 2}" for i, c in enumerate(CASES)])
def test_momo_matches_optax_on_a_gradient_sequence(ours, ref, kwargs):
  # A fixed loss value with random gradients drives every branch (incl. the
  # lower-bound reset) of the step-size rule.
  assert_trajectories_match(ours(**kwargs), ref(**kwargs), steps=12, extra=dict(value=2.5))


@pytest.mark.parametrize("ours,ref,kwargs", [
    (jmomo.momo, optax.contrib.momo, dict(weight_decay=0.1)),  # (optax's adaptive momo recompiles eagerly)
    (jmomo.momo_adam, optax.contrib.momo_adam, dict(adapt_lower_bound=True, lower_bound=-1.0)),
], ids=["momo", "momo_adam"])
def test_momo_eager_matches_optax(ours, ref, kwargs):
  assert_trajectories_match(ours(**kwargs), ref(**kwargs), steps=4, mode="eager",
                            extra=dict(value=2.5))


@pytest.mark.parametrize("ours,ref", [(jmomo.momo, optax.contrib.momo),
                                      (jmomo.momo_adam, optax.contrib.momo_adam)])
def test_momo_training_loop_matches_optax(ours, ref):
  # value_and_grad of a real loss, lower bound adapted on the fly.
  params = random_tree(jax.random.PRNGKey(5))

  def run(tx):
    @jax.jit
    def step(p, s):
      v, g = jax.value_and_grad(_loss)(p)
      u, s = tx.update(g, s, p, value=v)
      return jax.tree.map(lambda a, b: a + b, p, u), s, v
    p, s, out = params, tx.init(params), []
    for _ in range(10):
      p, s, v = step(p, s)
      out.append((p, v))
    return out

  kwargs = dict(learning_rate=0.5, lower_bound=2.0, adapt_lower_bound=True)
  for (p1, v1), (p2, v2) in zip(run(ours(**kwargs)), run(ref(**kwargs))):
    np.testing.assert_allclose(v1, v2, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), p1, p2)


def test_momo_first_step_is_the_polyak_step():
  # Step 1 (beta_0 = 0): d = g, tau = min(lr, (f - lb - <g,x> + <g,x>) / |g|^2) = min(lr, f / |g|^2).
  tx = jmomo.momo(learning_rate=10.0)
  x = jnp.array([1.0, 2.0, 3.0])
  f, g = 14.0, 2 * x
  u, state = tx.update(g, tx.init(x), x, value=f)
  np.testing.assert_allclose(u, -(f / jnp.sum(g ** 2)) * g, rtol=1e-6)
  np.testing.assert_allclose(x + u, 0.5 * x, rtol=1e-6)   # the minimizer's half-way point


def test_momo_needs_value_and_params():
  tx = jmomo.momo()
  x = jnp.ones(2)
  with pytest.raises(ValueError, match="momo.*value=loss"):
    tx.update(x, tx.init(x), x)
  with pytest.raises(ValueError, match="momo_adam needs the current parameters"):
    jmomo.momo_adam().update(x, jmomo.momo_adam().init(x), value=1.0)
  with pytest.raises(ValueError, match="momo_adam.*b2"):
    jmomo.momo_adam(b2=1.0)
