"""PSGD Kron: step by step against psgd-jax, whitening fixed point, convergence, jit / vmap, ZeRO-1 mesh."""

import inspect
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jopt
from jopt._src.research import kron as kron_lib
from parity import gradient_sequence, random_tree
from research_checks import assert_mesh_zero1_matches_single, assert_trees_close, assert_vmap_matches_loop


@pytest.fixture(scope="module")
def psgd():
  """psgd-jax 0.2.9's `scale_by_kron`; it imports `optax._src.clipping` (gone in optax 0.2.8, unused)."""
  shim = "optax._src.clipping"
  added = shim not in sys.modules
  if added:
    sys.modules[shim] = types.ModuleType(shim)
  try:
    kron_ref = pytest.importorskip("psgd_jax.kron")
  finally:
    if added:
      del sys.modules[shim]
  return kron_ref


def params_tree(small=False):
  """Leaves (), (3,), (4, 5), (2, 3, 4), (3,) in a tuple, and (3, 9); `small`: (), (3,), (4, 5)."""
  if small:
    key = jax.random.PRNGKey(3)
    return {"s": jnp.ones(()), "v": jnp.arange(3.0), "m": jax.random.normal(key, (4, 5))}
  tree = random_tree(jax.random.PRNGKey(3))
  tree["wide"] = jax.random.normal(jax.random.PRNGKey(4), (3, 9))  # 9 > max_size_triangular below
  return tree


def run_pair(ours, ref, steps, seed=0, small=False):
  """Both transforms on the same gradients, jitted; yields (ours, ref) updates and states per step."""
  params = params_tree(small)
  grads = gradient_sequence(params, steps, seed=seed)
  s_ours, s_ref = ours.init(params), ref.init(params)
  up_ours, up_ref = jax.jit(ours.update), jax.jit(ref.update)
  for g in grads:
    u_ours, s_ours = up_ours(g, s_ours)
    u_ref, s_ref = up_ref(g, s_ref)
    yield u_ours, s_ours, u_ref, s_ref


def ref_factors(s_ref, small=False):
  """psgd-jax's factors in our layout: a tuple per leaf, scalars' factor with shape (1,)."""
  treedef = jax.tree.structure(params_tree(small))
  per_leaf = treedef.flatten_up_to(s_ref["Qs_preconditioners"])
  return treedef.unflatten(
      [tuple(q.reshape(-1) if q.ndim == 0 else q for q in qs) for qs in per_leaf])


SLOW_CASES = [
    dict(b1=0.0, preconditioner_update_probability=0.5, max_size_triangular=8,
         momentum_into_precond_update=False, precond_lr=0.3, precond_init_scale=2.0),
    dict(b1=0.5, preconditioner_update_probability=kron_lib.precond_update_prob_schedule(
        min_prob=0.2, decay=0.3, flat_start=3), memory_save_mode="one_diag", min_ndim_triangular=3),
    dict(b1=0.9, memory_save_mode="all_diag", mu_dtype=jnp.bfloat16),
]
CASES = [pytest.param(dict(b1=0.9, preconditioner_update_probability=1.0, max_size_triangular=4),
                      True, id="small-tree")]
CASES += [pytest.param(kw, False, marks=pytest.mark.slow) for kw in SLOW_CASES]


@pytest.mark.parametrize("kw, small", CASES)
def test_matches_psgd_jax_step_by_step(psgd, kw, small):
  """Updates at every step, and the final factors, momentum and counter, equal psgd-jax's."""
  ref_kw = dict(kw, preconditioner_lr=kw.get("precond_lr", 0.1),
                preconditioner_init_scale=kw.get("precond_init_scale", 1.0))
  ref_kw.pop("precond_lr", None)
  ref_kw.pop("precond_init_scale", None)
  ref_kw["preconditioner_update_probability"] = kw.get(
      "preconditioner_update_probability", kron_lib.precond_update_prob_schedule())
  ours = kron_lib.scale_by_kron(**kw)
  ref = psgd.scale_by_kron(**ref_kw)
  for u_ours, s_ours, u_ref, s_ref in run_pair(ours, ref, steps=12, small=small):
    assert_trees_close(u_ours, u_ref, rtol=2e-4, atol=2e-5)
  assert_trees_close(s_ours.preconditioners, ref_factors(s_ref, small), rtol=2e-4, atol=2e-5)
  assert int(s_ours.update_counter) == int(s_ref["update_counter"])
  if s_ref["mu"] is None:
    assert s_ours.mu is None
  else:
    assert_trees_close(s_ours.mu, s_ref["mu"], rtol=1e-5, atol=1e-6)
    assert jax.tree.leaves(s_ours.mu)[0].dtype == jax.tree.leaves(s_ref["mu"])[0].dtype


@pytest.mark.slow
def test_matches_psgd_jax_through_a_balancing_step(psgd):
  """With the probe key of psgd-jax, the first rebalancing of the factors happens at step 47."""
  ours = kron_lib.scale_by_kron(preconditioner_update_probability=1.0)
  ref = psgd.scale_by_kron(preconditioner_update_probability=1.0)
  for u_ours, s_ours, u_ref, s_ref in run_pair(ours, ref, steps=50, seed=1):
    pass
  assert_trees_close(u_ours, u_ref, rtol=2e-3, atol=2e-4)
  assert_trees_close(s_ours.preconditioners, ref_factors(s_ref), rtol=2e-3, atol=2e-4)


def test_whitening_fixed_point():
  """`P = Q^H Q` tends to `E[g g^H]^{-1/2}` (Li's gradient-whitening criterion, the fixed point of Kron
  without Hessian-vector products): a diagonal covariance for a 1-D leaf and a Kronecker one for a
  matrix. The factors fluctuate by about `sqrt(precond_lr)`, so P is averaged over the last 1000 steps.
  """
  std_vec = jnp.geomspace(0.1, 10.0, 6)
  std_rows, std_cols = jnp.geomspace(0.3, 3.0, 4), jnp.geomspace(0.5, 2.0, 5)
  tx = kron_lib.scale_by_kron(b1=0.0, preconditioner_update_probability=1.0, precond_lr=0.05)
  params = {"v": jnp.zeros(6), "m": jnp.zeros((4, 5))}

  def body(state, k):
    k1, k2 = jax.random.split(k)
    g = {"v": std_vec * jax.random.normal(k1, (6,)),
         "m": std_rows[:, None] * jax.random.normal(k2, (4, 5)) * std_cols[None, :]}
    state = tx.update(g, state)[1]
    (q_vec,), (q_rows, q_cols) = state.preconditioners["v"], state.preconditioners["m"]
    return state, (q_vec**2, q_rows.T @ q_rows, q_cols.T @ q_cols)

  keys = jax.random.split(jax.random.PRNGKey(0), 2000)
  _, (p_vec, p_rows, p_cols) = jax.lax.scan(jax.jit(body), tx.init(params), keys)
  p_vec = np.exp(np.mean(np.log(p_vec[1000:]), axis=0))
  np.testing.assert_allclose(p_vec * std_vec, 1.0, rtol=0.15)
  p = np.mean([np.kron(r, c) for r, c in zip(p_rows[1000::10], p_cols[1000::10])], axis=0)
  np.testing.assert_allclose(np.diag(p) * np.kron(std_rows, std_cols), 1.0, rtol=0.15)
  off = p - np.diag(np.diag(p))
  assert np.max(np.abs(off)) < 0.1 * np.max(np.diag(p))


@pytest.mark.slow
def test_converges_on_rotated_ill_conditioned_quadratic():
  """0.5 tr(X^T A X B), A and B dense with condition number 30 (Hessian A (x) B, condition 900):
  Kron with a linearly decaying learning rate gets within 1e-5 of the optimum in 300 steps; plain
  SGD at its largest stable rate stays above 1e-3."""
  def spd(n, seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    return jnp.asarray(q @ np.diag(np.geomspace(1.0, 30.0, n)) @ q.T, jnp.float32)

  a, b = spd(4, 0), spd(3, 1)
  loss = lambda x: 0.5 * jnp.sum(x * (a @ x @ b))
  x0 = jnp.ones((4, 3))

  def relative_loss(tx, steps=300):
    def body(carry, _):
      x, state = carry
      u, state = tx.update(jax.grad(loss)(x), state, x)
      return (x + u, state), None

    (x, _), _ = jax.lax.scan(body, (x0, tx.init(x0)), None, length=steps)
    return float(loss(x) / loss(x0))

  schedule = jopt.linear_schedule(0.05, 0.0, 300)
  assert relative_loss(kron_lib.kron(schedule, preconditioner_update_probability=1.0)) < 1e-5
  assert relative_loss(jopt.sgd(1.9 / 900.0)) > 1e-3


@pytest.mark.slow
def test_jit_and_vmap():
  params = {"m": jnp.ones((3, 4))}
  tx = kron_lib.kron(1e-2, weight_decay=1e-2, preconditioner_update_probability=0.5)
  assert_vmap_matches_loop(tx, params, gradient_sequence(params, 3))


def test_mesh_zero1_equals_single_device():
  tx = kron_lib.kron(1e-2, preconditioner_update_probability=1.0)
  zero = assert_mesh_zero1_matches_single(tx)
  q_w = zero.opt_state[0].preconditioners["w"]
  assert "data" in tuple(q_w[1].sharding.spec)  # the (8, 8) factor is split over the 4 devices


def test_signature_follows_psgd_jax(psgd):
  ours = inspect.signature(kron_lib.scale_by_kron).parameters
  ref = inspect.signature(psgd.scale_by_kron).parameters
  renamed = {"preconditioner_lr": "precond_lr", "preconditioner_init_scale": "precond_init_scale"}
  unsupported = {"scanned_layers", "lax_map_scanned_layers", "lax_map_batch_size"}
  expected = [renamed.get(n, n) for n in ref if n not in unsupported]
  assert list(ours)[: len(expected)] == expected
  for n in ref:
    if n in unsupported or n == "preconditioner_update_probability":
      continue
    assert ours[renamed.get(n, n)].default == ref[n].default
  kron_params = inspect.signature(kron_lib.kron).parameters
  assert list(kron_params)[:4] == ["learning_rate", "b1", "weight_decay", "weight_decay_mask"]
  assert kron_params["learning_rate"].default == 0.001


def test_bad_arguments():
  with pytest.raises(ValueError, match="scale_by_kron: `memory_save_mode`"):
    kron_lib.scale_by_kron(memory_save_mode="smart")
  with pytest.raises(ValueError, match="`preconditioner_update_probability` must be in"):
    kron_lib.scale_by_kron(preconditioner_update_probability=0.0)
  with pytest.raises(ValueError, match="`b1`"):
    kron_lib.kron(b1=1.0)
  tx = kron_lib.scale_by_kron()
  state = tx.init({"a": jnp.zeros(3)})
  with pytest.raises(ValueError, match="scale_by_kron: the updates tree does not match"):
    tx.update({"b": jnp.zeros(3)}, state)
