"""GaLore against optax.contrib, step by step, and its projection by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
from jopt._src.contrib import galore as jgalore
from parity import assert_trajectories_match, assert_trees_close, gradient_sequence, random_tree, trajectory

# random_tree leaves: dense/w (4, 5), dense/b (3,), scalar (), stack[0] (2, 3, 4), stack[1][0] (3,).


def _specs(cls):
  """Per-leaf specs: w as is (m < n: right projector), the 3-D leaf as (2*3, 4) (m > n: left)."""
  return {"dense": {"w": cls(), "b": None}, "scalar": None,
          "stack": [cls(reduction_axis=(0, 1), output_axis=2), (None,)]}


CASES = [
    ("default", dict(learning_rate=0.01, rank=2, update_proj_gap=4)),
    ("tree_specs", dict(learning_rate=0.01, rank=3, update_proj_gap=5, scale=0.5, weight_decay=0.1,
                        mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p))),
    ("single_spec_adam", dict(learning_rate=0.02, rank=8, update_proj_gap=3)),
    ("fn_specs", dict(learning_rate=0.01, rank=2, update_proj_gap=2)),
]


def _build(name, kwargs):
  ours, ref = dict(kwargs), dict(kwargs)
  if name == "tree_specs":
    ours["weight_dimension_numbers"] = _specs(jgalore.GaLoreDimensionNumbers)
    ref["weight_dimension_numbers"] = _specs(optax.contrib.GaLoreDimensionNumbers)
  elif name == "fn_specs":
    ours["weight_dimension_numbers"] = lambda p: _specs(jgalore.GaLoreDimensionNumbers)
    ref["weight_dimension_numbers"] = lambda p: _specs(optax.contrib.GaLoreDimensionNumbers)
  elif name == "single_spec_adam":  # one spec for every leaf of rank >= 2
    ours["weight_dimension_numbers"] = jgalore.GaLoreDimensionNumbers(0, 1)
    ref["weight_dimension_numbers"] = optax.contrib.GaLoreDimensionNumbers(0, 1)
    ours["base_optimizer"] = jopt.scale_by_adam(b1=0.5, b2=0.9)
    ref["base_optimizer"] = optax.scale_by_adam(b1=0.5, b2=0.9)
  return jgalore.galore(**ours), optax.contrib.galore(**ref)


def _params(name):
  params = random_tree(jax.random.PRNGKey(3))
  if name == "single_spec_adam":  # a single 2-axis spec cannot cover a 3-D leaf
    params["stack"][0] = params["stack"][0].reshape(6, 4)
  if name == "default":  # a square matrix takes the left projector
    params["square"] = jax.random.normal(jax.random.PRNGKey(4), (3, 3))
  return params


@pytest.mark.parametrize("name,kwargs", CASES[:3], ids=[c[0] for c in CASES[:3]])
def test_galore_matches_optax(name, kwargs):
  ours, ref = _build(name, kwargs)
  assert_trajectories_match(ours, ref, steps=10, params=_params(name))


def test_galore_eager_matches_optax_jit():
  # optax's eager GaLore recompiles its lax.cond every step: compare against its jit run.
  ours, ref = _build("fn_specs", CASES[3][1])
  params = _params("fn_specs")
  grads = gradient_sequence(params, 6)
  for (p1, u1), (p2, u2) in zip(trajectory(ours, params, grads, "eager"),
                                trajectory(ref, params, grads, "jit")):
    assert_trees_close(u1, u2, 1e-5, 1e-6, "updates")
    assert_trees_close(p1, p2, 1e-5, 1e-6, "params")


def test_scale_by_galore_projection_by_hand():
  # One step of a (5, 3) matrix with rank 2 and sgd inside: u = P P^T G, P = top-2 left singular vectors.
  g = jax.random.normal(jax.random.PRNGKey(0), (5, 3))
  tx = jgalore.scale_by_galore(rank=2, base_optimizer=jopt.identity())
  u, state = tx.update(g, tx.init(g))
  p = np.linalg.svd(np.asarray(g), full_matrices=False)[0][:, :2]
  np.testing.assert_allclose(u, p @ p.T @ np.asarray(g), rtol=1e-4, atol=1e-5)
  assert state.projector.shape == (5, 2)
  assert jax.tree.leaves(state.base_optimizer_state) == []


def test_galore_errors():
  with pytest.raises(ValueError, match=r"\bgalore: .*rank"):
    jgalore.galore(0.1, rank=0)
  with pytest.raises(ValueError, match=r"\bgalore: .*update_proj_gap"):
    jgalore.galore(0.1, update_proj_gap=0)
  tx = jgalore.scale_by_galore(weight_dimension_numbers=jgalore.GaLoreDimensionNumbers(0, 0))
  with pytest.raises(ValueError, match="disjoint"):
    tx.init(jnp.ones((3, 4)))
