"""Adafactor where jopt differs from optax: a decay offset from a fresh state, bf16 momentum.

Step-by-step parity with optax: the `optimizers/adafactor` rows of `cases.PARITY`.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt


def _run(tx, params, steps=5, state=None):
  state = tx.init(params) if state is None else state
  step = jax.jit(lambda p, s, g: tx.update(g, s, p))
  out = []
  for k in range(steps):
    grads = jax.tree.map(lambda x: jnp.sin(x * (k + 1.0) + 0.3).astype(x.dtype), params)
    updates, state = step(params, state, grads)
    params = jax.tree.map(lambda p, u: (p + u).astype(p.dtype), params, updates)
    out.append(updates)
  return params, state, out


def _finite(tree):
  return all(bool(jnp.all(jnp.isfinite(l))) for l in jax.tree.leaves(tree))


@pytest.mark.parametrize("decay_offset", [1, 5])
def test_adafactor_decay_offset_is_finite_from_a_fresh_state(decay_offset):
  params = {"w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), "big": jnp.ones((8, 6))}
  kwargs = dict(learning_rate=1e-2, decay_offset=decay_offset, min_dim_size_to_factor=4)
  p_ref, _, _ = _run(optax.adafactor(**kwargs), params)
  assert not _finite(p_ref)  # optax: 0 ** -0.8 in the decay rate, then NaN forever
  p, state, _ = _run(jopt.adafactor(**kwargs), params, steps=decay_offset + 3)
  assert _finite(p) and _finite(state)
  # From a count at or past the offset, jopt and optax agree.
  ours, theirs = jopt.adafactor(**kwargs), optax.adafactor(**kwargs)
  s1 = ours.init(params)
  s1 = (s1[0]._replace(count=jnp.int32(decay_offset)),) + tuple(s1[1:])
  s2 = theirs.init(params)
  s2 = (s2[0]._replace(count=jnp.int32(decay_offset)),) + tuple(s2[1:])
  p1, _, _ = _run(ours, params, state=s1)
  p2, _, _ = _run(theirs, params, state=s2)
  for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(p2)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_adafactor_bf16_momentum_keeps_dtype():
  params = {"w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4).astype(jnp.bfloat16), "b": jnp.ones(3, jnp.bfloat16)}
  kwargs = dict(learning_rate=1e-2, momentum=0.9, min_dim_size_to_factor=2)
  p1, state, updates = _run(jopt.adafactor(**kwargs), params)
  p2, _, ref_updates = _run(optax.adafactor(**kwargs), params)
  assert all(u.dtype == jnp.bfloat16 for u in jax.tree.leaves(updates[-1]))
  assert any(u.dtype == jnp.float32 for u in jax.tree.leaves(ref_updates[-1]))  # optax promotes
  for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(p2)):
    np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b, np.float32), rtol=2e-2, atol=2e-2)
