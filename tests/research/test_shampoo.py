"""Shampoo: step by step against distributed Shampoo (optax-shampoo), inverse roots against float64
NumPy, grafting, jit / vmap, ZeRO-1 mesh."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jopt
from jopt._src.research import shampoo as shampoo_lib
from parity import gradient_sequence
from research_checks import assert_mesh_zero1_matches_single, assert_trees_close, assert_vmap_matches_loop


def np_inverse_root(mat, p, eps):
  """`(mat + eps * lambda_max * I) ** (-1/p)` in float64 (identity for a zero matrix)."""
  w, v = np.linalg.eigh(np.asarray(mat, np.float64))
  w = np.maximum(w, 0)
  ridge = eps * w.max() if w.max() > 0 else 1.0
  return (v * (w + ridge) ** (-1.0 / p)) @ v.T


@pytest.fixture(scope="module")
def distributed_shampoo():
  """optax-shampoo 0.0.6 (Anil et al.'s distributed Shampoo), run on today's JAX.

  It calls `jax.tree_map` / `jax.tree_flatten` (removed from JAX), and its coupled-Newton inverse
  root no longer traces (a `while_loop` carry changes dtype). The root is replaced by its documented
  contract, `(matrix + matrix_epsilon * max(lambda_max, 1e-6)) ** (-1/p)` on the unpadded block,
  computed in float64; everything else is the package's code.
  """
  ds = pytest.importorskip("optax_shampoo.distributed_shampoo")

  def root(matrix, p, ridge_epsilon=1e-6, relative_matrix_epsilon=True, padding_start=None, **_):
    def host(m, p, k):
      m, k = np.asarray(m, np.float64), int(k)
      w, v = np.linalg.eigh(m[:k, :k])
      w = np.maximum(w, 0)
      ridge = ridge_epsilon * (max(w.max(), 1e-6) if relative_matrix_epsilon else 1.0)
      out = np.eye(m.shape[0])
      out[:k, :k] = (v * (w + ridge) ** (-1.0 / float(p))) @ v.T
      return out.astype(np.float32)

    k = matrix.shape[0] if padding_start is None else padding_start
    h = jax.pure_callback(host, jax.ShapeDtypeStruct(matrix.shape, jnp.float32), matrix, p, k,
                          vmap_method="sequential")
    return h, ds.TrainingMetrics(inverse_pth_root_errors=jnp.zeros([], jnp.float32))

  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(jax, "tree_map", jax.tree.map, raising=False)
    mp.setattr(jax, "tree_flatten", jax.tree.flatten, raising=False)
    mp.setattr(jax, "tree_unflatten", jax.tree.unflatten, raising=False)
    mp.setattr(ds, "matrix_inverse_pth_root", root)
    yield ds


def params_tree():
  """Shapes whose blocks (block_size 4) are the same in both implementations."""
  r = np.random.default_rng(0)
  shapes = {"s": (), "v4": (4,), "v8": (8,), "m": (4, 8), "t": (2, 2, 8), "tall": (12, 3)}
  return {k: jnp.asarray(r.normal(size=s), jnp.float32) for k, s in shapes.items()}


# eps is relative: 1e-3 keeps float32 roots of the rank-deficient first statistics well conditioned.
FAST = dict(graft_type="rmsprop", b2=0.99, eps=1e-3, precondition_frequency=2, precondition_1d=True)
SLOW = [
    dict(graft_type="adagrad", b2=1.0, eps=1e-3, precondition_frequency=1, nesterov=True,
         merge_dims=False, exponent_override=2),
    dict(graft_type="sgd", b2=0.9, b1=0.0, precondition_frequency=3, eps=1e-3, precondition_1d=True),
]


@pytest.mark.parametrize("kw", [FAST] + [pytest.param(kw, marks=pytest.mark.slow) for kw in SLOW])
def test_matches_distributed_shampoo_step_by_step(distributed_shampoo, kw):
  ds = distributed_shampoo
  full = {k: v.default for k, v in inspect.signature(shampoo_lib.shampoo).parameters.items()}
  full.update(kw)
  lr = 0.1
  ours = shampoo_lib.shampoo(lr, block_size=4, **kw)
  ref = ds.distributed_shampoo(
      lr, 4, beta1=full["b1"], beta2=full["b2"], diagonal_epsilon=full["graft_eps"],
      matrix_epsilon=full["eps"], start_preconditioning_step=0,
      preconditioning_compute_steps=full["precondition_frequency"],
      graft_type=getattr(ds.GraftingType, full["graft_type"].upper()), nesterov=full["nesterov"],
      exponent_override=full["exponent_override"] or 0,
      skip_preconditioning_rank_lt=1 if full["precondition_1d"] else 2,
      best_effort_shape_interpretation=full["merge_dims"], merge_small_dims_block_size=4,
      generate_training_metrics=False)
  params = params_tree()
  s_ours, s_ref = ours.init(params), zero_statistics(ds, ref.init(params))
  up_ours, up_ref = jax.jit(ours.update), jax.jit(ref.update)
  for i, g in enumerate(gradient_sequence(params, 8, seed=1)):
    u_ours, s_ours = up_ours(g, s_ours, params)
    u_ref, s_ref = up_ref(g, s_ref, params)
    for k in params:
      np.testing.assert_allclose(u_ours[k], u_ref[k], rtol=1e-4, atol=2e-5, err_msg=f"step {i} {k}")


def zero_statistics(ds, state):
  """distributed Shampoo starts its statistics at `matrix_epsilon * I` (for its Newton iteration);
  ours start at 0, the damping is only the relative ridge."""
  fix = lambda ps: ps._replace(statistics=[jnp.zeros_like(x) for x in ps.statistics])
  return state._replace(
      stats=jax.tree.map(fix, state.stats, is_leaf=lambda x: isinstance(x, ds.ParameterStats)))


def one_step_reference(g, block_size, b2, eps):
  """Plain Shampoo's first direction in float64 on the real (unpadded) blocks of `g`."""
  g = np.asarray(g, np.float64)
  w2 = 1.0 if b2 == 1.0 else 1.0 - b2
  splits = []
  for d in g.shape:
    n = 1 if d <= block_size else -(-d // block_size)
    b = -(-d // n)
    splits.append([slice(i * b, min((i + 1) * b, d)) for i in range(n)])
  out = np.zeros_like(g)
  for idx in np.ndindex(*[len(s) for s in splits]):
    sl = tuple(s[i] for s, i in zip(splits, idx))
    blk = g[sl]
    res = blk
    for axis in range(blk.ndim):
      others = [i for i in range(blk.ndim) if i != axis]
      root = np_inverse_root(w2 * np.tensordot(blk, blk, axes=[others, others]), 2 * blk.ndim, eps)
      res = np.moveaxis(np.tensordot(res, root, axes=([axis], [0])), -1, axis)
    out[sl] = res
  return out


def test_preconditioners_are_float64_inverse_roots():
  """After steps where roots are due, each stored preconditioner is the NumPy float64 inverse root
  of the stored statistic; and plain Shampoo's first direction, on shapes that need zero padding,
  equals the block computation on the unpadded blocks."""
  r = np.random.default_rng(2)
  params = {"m": jnp.zeros((5, 7)), "v": jnp.zeros(6), "t": jnp.zeros((2, 3, 5))}
  tx = shampoo_lib.scale_by_shampoo(b2=0.9, eps=1e-4, graft_type=None, block_size=4,
                                    precondition_frequency=2, precondition_1d=True)
  state = tx.init(params)
  update = jax.jit(tx.update)
  for step in range(3):
    g = {k: jnp.asarray(r.normal(size=p.shape) * np.geomspace(0.1, 10, p.shape[-1]), jnp.float32)
         for k, p in params.items()}
    u, state = update(g, state)
    if step == 0:
      for k in params:
        np.testing.assert_allclose(u[k], one_step_reference(g[k], 4, 0.9, 1e-4), rtol=2e-4, atol=1e-5)
  assert int(state.count) == 3  # roots recomputed at the third step (count 2)
  for k, p in params.items():
    ndim = 1 if p.ndim == 1 else p.ndim
    for stats, roots in zip(state.stats[k], state.preconds[k]):
      for s, q in zip(stats, roots):
        np.testing.assert_allclose(q, np_inverse_root(s, 2 * ndim, 1e-4), rtol=2e-4, atol=2e-5)


def test_graft_adam_is_adam_without_momentum():
  """`graft_type="adam"`: leaves without a preconditioner move exactly as Adam with b1=0; the
  others have Adam's norm per leaf."""
  params = {"s": jnp.ones(()), "v": jnp.ones(5), "m": jnp.ones((4, 6))}
  tx = jax.jit(shampoo_lib.scale_by_shampoo(b2=0.9, graft_eps=1e-6, block_size=4).update)
  adam = jax.jit(jopt.scale_by_adam(b1=0.0, b2=0.9, eps=1e-6).update)
  s_tx = shampoo_lib.scale_by_shampoo(b2=0.9, graft_eps=1e-6, block_size=4).init(params)
  s_adam = jopt.scale_by_adam(b1=0.0, b2=0.9, eps=1e-6).init(params)
  for g in gradient_sequence(params, 4, seed=3):
    u, s_tx = tx(g, s_tx)
    a, s_adam = adam(g, s_adam)
    assert_trees_close({k: u[k] for k in ("s", "v")}, {k: a[k] for k in ("s", "v")}, 1e-6, 1e-7)
    np.testing.assert_allclose(jnp.linalg.norm(u["m"]), jnp.linalg.norm(a["m"]), rtol=1e-5)


@pytest.mark.slow
def test_jit_and_vmap():
  params = {"m": jnp.ones((3, 5))}
  tx = shampoo_lib.shampoo(1e-2, block_size=4, precondition_frequency=2, weight_decay=1e-3)
  assert_vmap_matches_loop(tx, params, gradient_sequence(params, 3))


def test_mesh_zero1_equals_single_device():
  tx = shampoo_lib.shampoo(1e-2, block_size=4, precondition_frequency=2, precondition_1d=True)
  # A root amplifies rounding (here of the gradient all-reduce) by up to eps^(-1/p) = 100 on the
  # rank-deficient statistics of the 1-D leaves.
  zero = assert_mesh_zero1_matches_single(tx, rtol=1e-3, atol=5e-4)
  stats = zero.opt_state[0].stats
  assert tuple(stats["w"][1].sharding.spec) == (None, "data")  # (2 blocks, 4, 4) for the 8 columns
  assert tuple(stats["b"][0].sharding.spec) == (None, "data")


def test_bad_arguments():
  with pytest.raises(ValueError, match="(scale_by_)?shampoo: `graft_type`"):
    shampoo_lib.scale_by_shampoo(graft_type="lamb")
  with pytest.raises(ValueError, match="(scale_by_)?shampoo: `eps`"):
    shampoo_lib.shampoo(0.1, eps=0.0)
  with pytest.raises(ValueError, match="(scale_by_)?shampoo: `block_size`"):
    shampoo_lib.shampoo(0.1, block_size=0)
  with pytest.raises(ValueError, match="(scale_by_)?shampoo: `b2`"):
    shampoo_lib.shampoo(0.1, b2=1.5)
  tx = shampoo_lib.scale_by_shampoo()
  state = tx.init({"a": jnp.zeros((2, 2))})
  with pytest.raises(ValueError, match="(scale_by_)?shampoo: the updates tree does not match"):
    tx.update({"b": jnp.zeros((2, 2))}, state)


def test_signature_and_defaults():
  params = inspect.signature(shampoo_lib.shampoo).parameters
  assert list(params)[:10] == [
      "learning_rate", "b1", "b2", "eps", "graft_type", "graft_eps", "block_size",
      "precondition_frequency", "exponent_override", "precondition_1d"]
  block = inspect.signature(shampoo_lib.scale_by_shampoo).parameters
  for name, p in block.items():
    assert params[name].default == p.default, name
  assert block["b2"].default == 0.999 and block["graft_type"].default == "adam"
  assert block["exponent_override"].default is None


def test_complex_params_are_rejected():
  tx = shampoo_lib.scale_by_shampoo()
  z = {"a": jnp.ones((2, 2), jnp.complex64)}
  with pytest.raises(ValueError, match="(scale_by_)?shampoo: complex parameters are not supported"):
    tx.update(z, tx.init(z))
