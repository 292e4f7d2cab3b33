"""Unit-wise norms and clipping, per-example clipping: against optax and closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from parity import assert_trees_close

from jopt._src.transforms import clipping as per_example_clipping
from jopt._src.transforms import clipping as unitwise_clipping


def _arr(shape, seed=0, dtype=jnp.float32):
  return jax.random.normal(jax.random.PRNGKey(seed), shape).astype(dtype)


@pytest.mark.parametrize("shape", [(), (5,), (1, 4), (3, 4), (2, 3, 4), (2, 2, 3, 4), (2, 1, 2, 3, 2)])
def test_unitwise_norm_default_axes(shape):
  x = _arr(shape)
  np.testing.assert_allclose(unitwise_clipping.unitwise_norm(x),
                             optax.transforms.unitwise_norm(x), rtol=1e-6)


def test_unitwise_norm_closed_form_and_axis():
  x = _arr((3, 4), 1)
  expected = jnp.broadcast_to(jnp.sqrt(jnp.sum(x * x, axis=0, keepdims=True)), x.shape)
  np.testing.assert_allclose(unitwise_clipping.unitwise_norm(x), expected, rtol=1e-6)
  y = _arr((2, 3, 2, 2, 2, 3), 2)
  for axis in [0, (1, 2), -1]:
    np.testing.assert_allclose(unitwise_clipping.unitwise_norm(y, axis=axis),
                               optax.transforms.unitwise_norm(y, axis=axis), rtol=1e-6)
  with pytest.raises(ValueError, match="axis"):
    unitwise_clipping.unitwise_norm(y)
  z = _arr((3,), 3) + 1j * _arr((3,), 4)
  np.testing.assert_allclose(unitwise_clipping.unitwise_norm(z),
                             jnp.full(3, jnp.linalg.norm(z)), rtol=1e-6)


def test_unitwise_clip():
  g = _arr((3, 4), 5)
  norm = unitwise_clipping.unitwise_norm(g)
  max_norm = jnp.broadcast_to(jnp.array([0.5, 10.0, 0.0, 1.0]), g.shape)
  for eps in [1e-6, 0.3]:
    ours = unitwise_clipping.unitwise_clip(norm, max_norm, g, eps)
    np.testing.assert_allclose(ours, optax.transforms.unitwise_clip(norm, max_norm, g, eps), rtol=1e-6)
  clipped = unitwise_clipping.unitwise_clip(norm, max_norm, g)
  np.testing.assert_allclose(unitwise_clipping.unitwise_norm(clipped)[0],
                             jnp.minimum(norm[0], max_norm[0]), rtol=1e-5, atol=1e-6)
  with pytest.raises(ValueError, match="one shape"):
    unitwise_clipping.unitwise_clip(norm, 1.0, g)


def _per_example_grads(seed=0, batch=5):
  k = jax.random.split(jax.random.PRNGKey(seed), 3)
  g = {"w": jax.random.normal(k[0], (batch, 3, 2)), "b": jax.random.normal(k[1], (batch, 2)),
       "s": [jax.random.normal(k[2], (batch,))]}
  return jax.tree.map(lambda x: x.at[1].set(0.0), g)  # one all-zero example


@pytest.mark.parametrize("clip", [0.0, 0.5, 2.0, 1e6, float("inf")])
def test_per_example_global_norm_clip(clip):
  grads = _per_example_grads()
  ours = per_example_clipping.per_example_global_norm_clip(grads, clip)
  theirs = optax.per_example_global_norm_clip(grads, clip)
  assert_trees_close(ours[0], theirs[0], 1e-5, 1e-6)
  assert int(ours[1]) == int(theirs[1])
  # Closed form: each example scaled to norm <= clip, then summed.
  norms = jnp.sqrt(sum(jnp.sum(x.reshape(x.shape[0], -1) ** 2, axis=1) for x in jax.tree.leaves(grads)))
  factor = jnp.where(norms > clip, clip / jnp.where(norms > 0, norms, 1.0), 1.0)
  expected = jax.tree.map(lambda x: jnp.tensordot(factor, x, axes=1), grads)
  assert_trees_close(ours[0], expected, 1e-5, 1e-6)


@pytest.mark.parametrize("uniform", [True, False])
@pytest.mark.parametrize("clip", [0.3, 3.0])
def test_per_example_layer_norm_clip(uniform, clip):
  grads = _per_example_grads(1)
  ours = per_example_clipping.per_example_layer_norm_clip(grads, clip, uniform)
  theirs = optax.per_example_layer_norm_clip(grads, clip, uniform)
  assert_trees_close(ours[0], theirs[0], 1e-5, 1e-6)
  assert jax.tree.map(int, ours[1]) == jax.tree.map(int, theirs[1])


def test_per_example_clipping_under_jit_and_errors():
  grads = _per_example_grads(2)
  ours = jax.jit(per_example_clipping.per_example_layer_norm_clip, static_argnums=2)(grads, 0.7, False)
  theirs = optax.per_example_layer_norm_clip(grads, 0.7, False)
  assert_trees_close(ours[0], theirs[0], 1e-5, 1e-6)
  bad = {"a": jnp.ones((3, 2)), "b": jnp.ones((4,))}
  for fn in (per_example_clipping.per_example_global_norm_clip,
             per_example_clipping.per_example_layer_norm_clip):
    with pytest.raises(ValueError, match="batch"):
      fn(bad, 1.0)
