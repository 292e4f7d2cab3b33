"""Clipping beyond the reference table (`transforms/clipping` rows): clip_by_global_norm's closed form and
zero max_norm, unit-wise norms and clipping, adaptive_grad_clip, per-example clipping: against optax and
closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
from cases import SMALL, match_small
from jopt._src.transforms import clipping as per_example_clipping
from jopt._src.transforms import clipping as unitwise_clipping
from parity import assert_trees_close


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


def _finite(tree):
  return all(bool(jnp.all(jnp.isfinite(l))) for l in jax.tree.leaves(tree))


def test_clip_by_global_norm_closed_form_and_zero_max_norm():
  g = {"a": jnp.array([3.0, 0.0]), "b": jnp.array([[4.0]])}  # global norm 5
  tx = jopt.clip_by_global_norm(1.0)
  u, _ = tx.update(g, tx.init(g))
  np.testing.assert_allclose(u["a"], [0.6, 0.0], rtol=1e-6)
  np.testing.assert_allclose(u["b"], [[0.8]], rtol=1e-6)
  zeros = jax.tree.map(jnp.zeros_like, g)
  for name in ("clip_by_global_norm", "clip_by_block_rms"):
    tx = getattr(jopt, name)(0.0)
    u, _ = tx.update(zeros, tx.init(zeros))
    assert _finite(u), name
    ref = getattr(optax, name)(0.0)
    assert not _finite(ref.update(zeros, ref.init(zeros))[0]), name  # optax: 0/0 = NaN


def test_clip_by_global_norm_is_one_scalar_factor():
  """The rescale multiplies each leaf by one scalar: no per-element select (optax's `lax.select`)."""
  g = {"a": jnp.ones((8, 8)), "b": jnp.ones(5)}
  jaxpr = jax.make_jaxpr(lambda g: jopt.clip_by_global_norm(1.0).update(g, jopt.EmptyState())[0])(g)

  def eqns(j):
    for e in j.eqns:
      yield e
      for sub in jax.core.jaxprs_in_params(e.params):
        yield from eqns(sub)

  selects = [e for e in eqns(jaxpr.jaxpr) if e.primitive.name == "select_n" and e.outvars[0].aval.shape]
  assert not selects
  reductions = [e for e in eqns(jaxpr.jaxpr) if e.primitive.name == "reduce_sum"]
  assert len(reductions) == 2  # one per leaf, summed into one norm


@pytest.mark.parametrize("mode,clipping,eps", [("jit", 0.05, 1e-3), ("jit", 0.7, 0.5), ("eager", 0.05, 1e-3)])
def test_adaptive_grad_clip(mode, clipping, eps):
  match_small(unitwise_clipping.adaptive_grad_clip(clipping, eps),
         optax.adaptive_grad_clip(clipping, eps), mode, apply_scale=0.1)


def test_adaptive_grad_clip_axis():
  params = {"w": SMALL["dense"]["w"]}
  match_small(unitwise_clipping.adaptive_grad_clip(0.1, axis=1),
         optax.adaptive_grad_clip(0.1, axis=1), "eager", params=params, steps=2)


def test_adaptive_grad_clip_needs_params():
  tx = unitwise_clipping.adaptive_grad_clip(0.1)
  g = {"a": jnp.ones(3)}
  for call in (lambda: tx.update(g, tx.init(g)), lambda: tx.update(g, tx.init(g), None)):
    with pytest.raises(ValueError, match="adaptive_grad_clip"):
      call()
  with pytest.raises(ValueError, match="clipping"):
    unitwise_clipping.adaptive_grad_clip(float("nan"))
