"""Sophia and the Hutchinson Hessian-diagonal estimator against optax.contrib, step by step."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
from jopt._src.contrib import sophia as jsophia
from parity import assert_trajectories_match, assert_trees_close, gradient_sequence, random_tree, trajectory


def _obj(p):
  # Hessian diagonal 3 x^2 + 1 + 0.5 cos(x) > 0, off-diagonal zero.
  return sum(jnp.sum(0.25 * x ** 4 + 0.5 * x ** 2 + 0.5 * jnp.cos(x)) for x in jax.tree.leaves(p))


SCHED = lambda count: 0.01 / (1.0 + 0.1 * count)

CASES = [
    dict(learning_rate=SCHED, b1=0.9, b2=0.95, gamma=0.05, update_interval=3, weight_decay=0.01,
         weight_decay_mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)),
    dict(learning_rate=0.02, clip_threshold=None, update_interval=2, eps=1e-3, gamma=1.0, seed=5),
]


def _pair(kwargs):
  kwargs = dict(kwargs)
  seed = kwargs.pop("seed", None)
  if seed is None:  # the default estimator of each library (key PRNGKey(0))
    return jsophia.sophia(**kwargs), optax.contrib.sophia(**kwargs)
  key = jax.random.PRNGKey(seed)
  return (jsophia.sophia(hessian_diagonal_fn=jsophia.hutchinson_estimator_diag_hessian(key), **kwargs),
          optax.contrib.sophia(hessian_diagonal_fn=optax.contrib.hutchinson_estimator_diag_hessian(key),
                               **kwargs))


@pytest.mark.parametrize("kwargs", CASES, ids=range(len(CASES)))
def test_sophia_matches_optax(kwargs):
  ours, ref = _pair(kwargs)
  assert_trajectories_match(ours, ref, steps=12, extra=dict(obj_fn=_obj))


@pytest.mark.slow
def test_sophia_eager_matches_optax_jit():
  # optax's eager Sophia recompiles its lax.cond every step: compare against its jit run.
  ours, ref = _pair(dict(learning_rate=0.01, update_interval=2, seed=1))
  params = random_tree(jax.random.PRNGKey(100))
  grads = gradient_sequence(params, 5)
  extra = dict(obj_fn=_obj)
  for (p1, u1), (p2, u2) in zip(trajectory(ours, params, grads, "eager", extra=extra),
                                trajectory(ref, params, grads, "jit", extra=extra)):
    assert_trees_close(u1, u2, 1e-5, 1e-6, "updates")
    assert_trees_close(p1, p2, 1e-5, 1e-6, "params")


def test_hutchinson_estimate_is_exact_on_a_diagonal_hessian():
  # (Its values against optax's, key by key, are covered by the Sophia trajectories.)
  # A diagonal Hessian: z * (H z) = z^2 diag(H) = diag(H) exactly, whatever z.
  params = random_tree(jax.random.PRNGKey(3))
  tx = jsophia.hutchinson_estimator_diag_hessian(jax.random.PRNGKey(4))
  state = tx.init(params)
  h, new_state = jax.jit(lambda s: tx.update(None, s, params, obj_fn=_obj))(state)
  exact = jax.tree.map(lambda x: 3 * x ** 2 + 1 - 0.5 * jnp.cos(x), params)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), h, exact)
  assert not np.array_equal(new_state.key, state.key)


def test_sophia_update_uses_the_hessian_from_before_the_step():
  # First step: nu = 0, so the scaled update is clip(m_hat / eps) = sign(g) for clip 1.
  tx = jsophia.scale_by_sophia(update_interval=1)
  p = jnp.array([0.5, -1.0, 2.0])
  g = jnp.array([0.3, -0.2, 1e-12])
  u, state = tx.update(g, tx.init(p), p, obj_fn=_obj)
  np.testing.assert_allclose(u, [1.0, -1.0, 1e-12 / 1e-8], rtol=1e-5)
  assert float(jnp.max(jnp.abs(state.nu))) > 0


def test_sophia_with_a_plain_hessian_transform_by_hand():
  # A GradientTransformation without extra args (Hessian diagonal 4 everywhere).
  b1, b2, gamma = 0.9, 0.5, 0.1
  diag = jopt.GradientTransformation(lambda p: jopt.EmptyState(),
                                     lambda u, s, p=None: (jax.tree.map(lambda x: 4.0 + 0 * x, u), s))
  tx = jsophia.scale_by_sophia(b1=b1, b2=b2, gamma=gamma, update_interval=1, clip_threshold=None,
                               hessian_diagonal_fn=diag)
  p, g1, g2 = jnp.ones(2), jnp.array([0.2, -0.1]), jnp.array([0.05, 0.3])
  state = tx.init(p)
  _, state = tx.update(g1, state, p, obj_fn=_obj)  # extra args are dropped for `diag`
  u, state = tx.update(g2, state, p, obj_fn=_obj)
  m_hat = (b1 * (1 - b1) * g1 + (1 - b1) * g2) / (1 - b1 ** 2)
  np.testing.assert_allclose(u, m_hat / (gamma * (1 - b2) * 4.0), rtol=1e-5)
  np.testing.assert_allclose(state.nu, (1 - b2 ** 2) * 4.0, rtol=1e-6)


def test_sophia_verbose_prints_win_rate_like_optax(capfd):
  p = jnp.array([0.5, -1.0, 2.0])
  for tx in [jsophia.scale_by_sophia(verbose=True, print_win_rate_every_n_steps=1),
             optax.contrib._sophia.scale_by_sophia(verbose=True, print_win_rate_every_n_steps=1)]:
    s, step = tx.init(p), jax.jit(lambda g, s, tx=tx: tx.update(g, s, p, obj_fn=_obj))
    for _ in range(2):
      _, s = step(p, s)
    jax.effects_barrier()
  out = capfd.readouterr().out.strip().splitlines()
  assert len(out) == 4 and out[:2] == out[2:], out
  assert out[0].startswith("Sophia optimizer win rate:")


def test_sophia_errors():
  with pytest.raises(ValueError, match=r"\bsophia: .*update_interval"):
    jsophia.sophia(0.1, update_interval=0)
  with pytest.raises(ValueError, match=r"\bsophia: .*b1"):
    jsophia.sophia(0.1, b1=1.0)
  tx = jsophia.sophia(0.1)
  p = jnp.ones(2)
  with pytest.raises(ValueError, match="obj_fn"):
    tx.update(p, tx.init(p), p)
