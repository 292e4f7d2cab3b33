"""DP-SGD aggregation against optax (same key, same noise), and per-example clipping by hand."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jopt._src.contrib import privacy as jprivacy

BATCH = 4


def _per_example_grads(steps, seed=0):
  """Per-example gradient trees (batch axis first), some examples with large norms."""
  out, key = [], jax.random.PRNGKey(seed)
  for t in range(steps):
    key, k1, k2 = jax.random.split(key, 3)
    scale = jnp.array([0.1, 1.0, 5.0, 20.0])[:, None]
    out.append({"w": scale[:, :, None] * jax.random.normal(k1, (BATCH, 3, 2)),
                "b": scale * jax.random.normal(k2, (BATCH, 3))})
  return out


def _run(tx, grads, jit):
  params = {"w": jnp.zeros((3, 2)), "b": jnp.zeros(3)}
  step = lambda g, s: tx.update(g, s, params)
  step = jax.jit(step) if jit else step
  state, out = tx.init(params), []
  for g in grads:
    u, state = step(g, state)
    out.append(u)
  return out


def _assert_same(ours, ref, rtol=1e-6):
  for u1, u2 in zip(ours, ref):
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-7), u1, u2)


@pytest.mark.parametrize("clip,noise,key,jit", [
    (1.0, 0.5, 3, True),
    (0.3, 1.1, 11, False),
])
def test_differentially_private_aggregate_matches_optax(clip, noise, key, jit):
  grads = _per_example_grads(6 if jit else 3)
  ours = jprivacy.differentially_private_aggregate(clip, noise, key=jax.random.key(key))
  ref = optax.contrib.differentially_private_aggregate(clip, noise, key=jax.random.key(key))
  _assert_same(_run(ours, grads, jit), _run(ref, grads, jit))


def test_int_seed_raw_and_typed_keys_are_the_same_key():
  data = lambda key: jax.random.key_data(
      jprivacy.differentially_private_aggregate(1.0, 1.0, key=key).init(None).rng_key)
  for key in [jax.random.PRNGKey(5), 5]:
    np.testing.assert_array_equal(data(key), data(jax.random.key(5)))


@pytest.mark.parametrize("momentum,nesterov", [(None, False), (0.9, False), (0.5, True)])
def test_dpsgd_matches_optax(momentum, nesterov):
  grads = _per_example_grads(8, seed=1)
  sched = lambda c: 0.1 / (1 + c)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # optax's dpsgd passes the deprecated seed=
    ref = optax.contrib.dpsgd(sched, 1.0, 0.7, seed=7, momentum=momentum, nesterov=nesterov)
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    ours = jprivacy.dpsgd(sched, 1.0, 0.7, seed=7, momentum=momentum, nesterov=nesterov)
  _assert_same(_run(ours, grads, True), _run(ref, grads, True))


def test_per_example_global_norm_clip_by_hand_and_vs_optax():
  grads = [jnp.array([[0.0, 0.0, 0.0], [0.0, 3.0, 4.0], [4.0, 0.0, 3.0], [0.6, 0.8, 0.0]])]
  for clip, expected, n in [(jnp.inf, [4.6, 3.8, 7.0], 0), (0.0, [0, 0, 0], 3),
                            (2.5, [2.0 + 0.6, 1.5 + 0.8, 2.0 + 1.5], 2)]:
    total, num = jprivacy.per_example_global_norm_clip(grads, clip)
    np.testing.assert_allclose(total[0], expected, rtol=1e-6)
    assert int(num) == n
    ref_total, ref_num = optax.per_example_global_norm_clip(grads, clip)
    np.testing.assert_allclose(total[0], ref_total[0], rtol=1e-6)
    assert int(num) == int(ref_num)


def test_privacy_errors_and_warnings():
  with pytest.raises(ValueError, match="batch"):
    jprivacy.per_example_global_norm_clip([jnp.ones((2, 3)), jnp.ones((3, 3))], 1.0)
  with pytest.raises(ValueError, match="differentially_private_aggregate.*l2_norm_clip"):
    jprivacy.differentially_private_aggregate(-1.0, 1.0, key=0)
  with pytest.warns(DeprecationWarning, match="seed"):
    jprivacy.differentially_private_aggregate(1.0, 1.0, seed=0)
  with pytest.raises(ValueError, match="only one of"):
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", DeprecationWarning)
      jprivacy.differentially_private_aggregate(1.0, 1.0, key=1, seed=0)
  with pytest.warns(UserWarning, match="key"):
    jprivacy.differentially_private_aggregate(1.0, 1.0)
