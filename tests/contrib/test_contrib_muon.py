"""Muon (`muon`, `scale_by_muon`, Newton-Schulz orthogonalization, dimension numbers) against optax.contrib."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
from optax.contrib import _muon as optax_muon
import pytest

from jopt._src.contrib import muon as ours
from parity import assert_trajectories_match, random_tree

SCHED = lambda count: 0.02 * jnp.cos(0.1 * count)


def _both(make):
  """The same construction with jopt's and with optax's MuonDimensionNumbers."""
  return make(ours.MuonDimensionNumbers), make(optax.contrib.MuonDimensionNumbers)


def _dims_tree(dn):
  # random_tree: dense/w (4, 5), dense/b (3,), scalar (), stack[0] (2, 3, 4), stack[1][0] (3,).
  return {"dense": {"w": dn(), "b": None}, "scalar": None,
          "stack": [dn(reduction_axis=1, output_axis=2), (None,)]}


def _dims_fn(dn):
  def fn(params):
    pick = lambda x: dn((0, 1), -1) if x.ndim == 3 else (dn(1, 0) if x.ndim == 2 else None)
    return jax.tree.map(pick, params)
  return fn


def _matrices_only(params):
  return jax.tree.map(lambda x: x.ndim > 1, params)


DRAWS = [
    lambda dn: dict(learning_rate=0.02),
    lambda dn: dict(learning_rate=SCHED, ns_coeffs="dion", beta=0.9, eps=1e-6, weight_decay=0.1,
                    weight_decay_mask=_matrices_only, nesterov=False, adaptive=True, preconditioning="aol",
                    adam_b1=0.8, adam_b2=0.99, adam_eps_root=1e-8, adam_weight_decay=0.01,
                    adam_learning_rate=1e-3, consistent_rms=0.2),
    lambda dn: dict(learning_rate=0.01, ns_steps=3, preconditioning="schatten",
                    muon_weight_dimension_numbers=_dims_tree(dn)),
    lambda dn: dict(learning_rate=0.01, ns_coeffs=((3.0, -3.2, 1.2), (3.4445, -4.7750, 2.0315)),
                    preconditioning="spectral", muon_weight_dimension_numbers=_dims_fn(dn),
                    adaptive=True),
]


@pytest.mark.parametrize("draw", [0, 1, pytest.param(2, marks=pytest.mark.slow),
                                  pytest.param(3, marks=pytest.mark.slow)])
def test_muon_matches_optax_jit(draw):
  kw_ours, kw_ref = _both(DRAWS[draw])
  assert_trajectories_match(ours.muon(**kw_ours), optax.contrib.muon(**kw_ref), steps=12,
                            rtol=2e-5, atol=2e-6)


@pytest.mark.slow
def test_muon_matches_optax_eager():
  kw_ours, kw_ref = _both(DRAWS[1])
  assert_trajectories_match(ours.muon(**kw_ours), optax.contrib.muon(**kw_ref), steps=6,
                            mode="eager", rtol=2e-5, atol=2e-6)


def test_scale_by_muon_on_one_matrix_matches_optax():
  kwargs = dict(beta=0.8, nesterov=False, preconditioning="frobenius", adaptive=True)
  params = jax.random.normal(jax.random.PRNGKey(1), (6, 4))
  assert_trajectories_match(ours.scale_by_muon(**kwargs), optax.contrib.scale_by_muon(**kwargs),
                            steps=10, params=params, apply_scale=1e-2, rtol=2e-5, atol=2e-6)


def test_scale_by_muon_default_treats_every_leaf_as_a_matrix():
  # optax accepts weight_dimension_numbers=None only for a single-array params; jopt applies the
  # documented meaning (every leaf a (fan_in, fan_out) matrix), equal to optax given the full tree.
  params = {"a": jnp.ones((4, 3)), "b": [jnp.ones((2, 5))]}
  full = {"a": optax.contrib.MuonDimensionNumbers(), "b": [optax.contrib.MuonDimensionNumbers()]}
  assert_trajectories_match(ours.scale_by_muon(),
                            optax.contrib.scale_by_muon(weight_dimension_numbers=full),
                            steps=6, params=params, apply_scale=1e-2, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("preconditioning", ["frobenius", "spectral", "aol", "schatten"])
def test_orthogonalize_matches_optax(preconditioning):
  # A stack of 4 tall (6, 2) matrices: batch axis 1, reduction axes (0, 2), output axis 3.
  x = jax.random.normal(jax.random.PRNGKey(2), (2, 4, 3, 2))
  coeffs = jnp.asarray(ours._DEFAULT_NS_COEFFS)

  def run(fn, dn):
    return jax.jit(lambda x, c: fn(x, c, 5, preconditioning, 1e-8, dn((0, 2), 3)))(x, coeffs)

  np.testing.assert_allclose(
      run(ours.orthogonalize_via_newton_schulz, ours.MuonDimensionNumbers),
      run(optax_muon.orthogonalize_via_newton_schulz, optax.contrib.MuonDimensionNumbers),
      rtol=2e-5, atol=2e-6)


def test_orthogonalize_pushes_singular_values_towards_one():
  # The default quintic leaves singular values in about [0.7, 1.2]; a badly conditioned input has
  # singular values spread over 3 orders of magnitude.
  u, _ = jnp.linalg.qr(jax.random.normal(jax.random.PRNGKey(3), (8, 8)))
  v, _ = jnp.linalg.qr(jax.random.normal(jax.random.PRNGKey(4), (6, 6)))
  x = u[:, :6] @ jnp.diag(jnp.logspace(-2, 1, 6)) @ v.T
  out = ours.orthogonalize_via_newton_schulz(x, jnp.asarray(ours._DEFAULT_NS_COEFFS), 10)
  s = jnp.linalg.svd(out, compute_uv=False)
  assert jnp.all((s > 0.6) & (s < 1.3)), s
  # Same singular vectors: out = U diag(s') V^T.
  np.testing.assert_allclose(jnp.abs(u[:, :6].T @ out @ v), jnp.diag(jnp.abs(jnp.diag(u[:, :6].T @ out @ v))),
                             atol=1e-4)


def test_state_dtype_and_labels():
  params = random_tree(jax.random.PRNGKey(0))
  tx = ours.muon(0.02, mu_dtype=jnp.bfloat16)
  state = tx.init(params)
  for _ in range(2):
    updates, state = tx.update(params, state, params)
  muon_state = state.inner_states["muon"].inner_state[0]
  assert isinstance(muon_state, ours.MuonState)
  assert [m.dtype for m in jax.tree.leaves(muon_state.mu)] == [jnp.bfloat16]  # only dense/w is 2-D
  assert all(u.dtype == jnp.float32 for u in jax.tree.leaves(updates))


@pytest.mark.parametrize("kwargs,match", [
    (dict(preconditioning="newton"), "^muon: `preconditioning`"),
    (dict(ns_coeffs="muon"), "^muon: `ns_coeffs` preset"),
    (dict(ns_coeffs="dion", ns_steps=3), "^muon: `ns_coeffs` has 5 rows"),
    (dict(ns_coeffs=(1.0, 2.0)), r"^muon: `ns_coeffs` must have shape \(3,\)"),
    (dict(beta=1.0), "^muon: `beta`"),
])
def test_bad_hyperparameters_raise_at_build(kwargs, match):
  with pytest.raises(ValueError, match=match):
    ours.muon(0.02, **kwargs)


def test_bad_dimension_numbers_raise():
  tx = ours.scale_by_muon(weight_dimension_numbers=ours.MuonDimensionNumbers(0, (1, -3)))
  with pytest.raises(ValueError, match="overlap"):
    tx.update(jnp.ones((3, 4, 2)), tx.init(jnp.ones((3, 4, 2))))
  tx = ours.scale_by_muon()
  with pytest.raises(ValueError, match="rank >= 2"):
    tx.update(jnp.ones(3), tx.init(jnp.ones(3)))
