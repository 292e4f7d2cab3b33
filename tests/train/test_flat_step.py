"""`make_train_step(..., flat=True)`: equal to the tree step (jit, pmap, mesh + ZeRO-1, flax), checkpoints both ways."""

import inspect

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from jax.sharding import PartitionSpec as P

import jopt
from jopt._src.train import flat as flat_lib
from jopt._src.train import trainer as trainer_lib

STEPS = 20
make_train_step = trainer_lib.make_train_step


def mlp_params(seed=0, low=jnp.bfloat16):
  """A small MLP with float32 and `low` (bfloat16) layers, a scalar and an odd-sized bias."""
  r = np.random.default_rng(seed)
  f = lambda *s: jnp.asarray(r.normal(size=s) / np.sqrt(s[0]), jnp.float32)
  return {
      "l0": {"w": f(3, 8), "b": jnp.zeros(8)},
      "l1": {"w": f(8, 8).astype(low), "b": jnp.full((8,), 0.1, low)},
      "out": {"w": f(8, 1), "b": jnp.zeros(1)},
      "temp": jnp.float32(1.0),
  }


def mlp_loss(p, batch):
  h = jnp.tanh(batch["x"] @ p["l0"]["w"] + p["l0"]["b"])
  h = jnp.tanh(h @ p["l1"]["w"].astype(jnp.float32) + p["l1"]["b"].astype(jnp.float32))
  out = (h @ p["out"]["w"] + p["out"]["b"])[:, 0] * p["temp"]
  return jnp.mean((out - batch["y"]) ** 2)


def batches(n=STEPS, size=8, seed=1):
  r = np.random.default_rng(seed)
  return [{"x": r.normal(size=(size, 3)).astype(np.float32),
           "y": r.normal(size=(size,)).astype(np.float32)} for _ in range(n)]


def decay_mask(p):
  return jax.tree.map(lambda x: x.ndim > 1, p)


def by_dtype(p):
  return jax.tree.map(lambda x: "low" if x.dtype == jnp.bfloat16 else "high", p)


# Parts run on views change XLA's fusion boundaries, and with them where bf16 intermediates are
# rounded (XLA keeps excess precision inside a fusion): one bf16 ulp can flip. Those cases are
# compared on float32 params.
ON_VIEWS = ("lamb", "optax_rmsprop")

OPTIMIZERS = {
    "adamw_mask": lambda: jopt.adamw(1e-2, weight_decay=0.1, mask=decay_mask),
    "chain6": lambda: jopt.chain(
        jopt.clip_by_global_norm(1.0), jopt.scale_by_adam(), jopt.add_decayed_weights(1e-2),
        jopt.masked(jopt.add_decayed_weights(1e-1), decay_mask),
        jopt.scale_by_schedule(lambda c: 1e-2 / (1.0 + 0.1 * c)), jopt.scale(-1.0)),
    "multi_transform": lambda: jopt.multi_transform(
        {"high": jopt.inject_hyperparams(jopt.adam)(learning_rate=1e-2),
         "low": jopt.chain(jopt.sgd(0.05, momentum=0.9), jopt.l1_proximal(1e-3, 0.05))}, by_dtype),
    # Per-leaf statistics: the trust ratio runs on the views, the rest on the buffers.
    "lamb": lambda: jopt.lamb(1e-2, weight_decay=0.01),
    # A transform that declares nothing (optax's): runs on the views, whole.
    "optax_rmsprop": lambda: optax.rmsprop(1e-2, momentum=0.5),
}


def run(trainer, params, bs, state=None, **init_kw):
  state = trainer.init(params, **init_kw) if state is None else state
  losses = []
  for b in bs:
    state, metrics = trainer.step(state, b)
    losses.append(metrics["loss"])
  return state, np.asarray(jax.device_get(losses))


def assert_close(a, b, rtol=1e-6, atol=1e-7):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    assert jnp.result_type(x) == jnp.result_type(y) and jnp.shape(x) == jnp.shape(y)
    np.testing.assert_allclose(np.asarray(x, np.float32), np.asarray(y, np.float32),
                               rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_flat_step_equals_tree_step(name):
  """20 steps, f32 + bf16 leaves: params, losses, metrics and the optimizer state (as a tree) agree."""
  params, bs = mlp_params(low=jnp.float32 if name in ON_VIEWS else jnp.bfloat16), batches()
  tree_t = make_train_step(mlp_loss, OPTIMIZERS[name]())
  flat_t = make_train_step(mlp_loss, OPTIMIZERS[name](), flat=True)
  tree_s, tree_losses = run(tree_t, params, bs)
  flat_s, flat_losses = run(flat_t, params, bs)
  np.testing.assert_allclose(flat_losses, tree_losses, rtol=1e-6)
  assert_close(flat_t.params(flat_s), tree_s.params)
  assert_close(flat_t.tree_state_from_flat(flat_s).opt_state, tree_s.opt_state)
  assert int(flat_s.step) == STEPS
  # The params really are flat: a buffer per dtype and mask group, not per leaf.
  assert isinstance(flat_s.params, flat_lib.FlatParams)
  assert all(b.ndim == 1 for b in flat_s.params.buffers.values())
  assert len(flat_s.params.buffers) < len(jax.tree.leaves(params))
  if name == "lamb":
    assert len(flat_t.on_views) == 1 and "scale_by_trust_ratio" in flat_t.on_views[0]
  elif name == "optax_rmsprop":
    assert len(flat_t.on_views) == 1 and "unknown to jopt" in flat_t.on_views[0]
  else:
    assert flat_t.on_views == ()
  if name == "multi_transform":  # the labels split the buffers: state only for each label's part
    hp = flat_s.opt_state.inner_states["high"].inner_state
    assert set(hp.inner_state[0].mu) == set(flat_s.params.buffers)
    assert sum(not isinstance(v, jopt.MaskedNode) for v in hp.inner_state[0].mu.values()) == 1


def test_gradient_of_the_views_is_one_concatenation():
  """`jax.grad` w.r.t. the buffers: the leaf gradients back to back, no per-leaf zero padding."""
  params = mlp_params()
  trainer = make_train_step(mlp_loss, jopt.adam(1e-3), flat=True)
  layout = trainer.layout(params)
  buffers = layout.flatten(params)
  b = batches(1)[0]
  flat_grad = jax.grad(lambda bufs: mlp_loss(layout.views(bufs), b))(buffers)
  assert_close(flat_grad, layout.flatten(jax.grad(mlp_loss)(params, b)), rtol=0, atol=0)
  jaxpr = str(jax.make_jaxpr(jax.grad(lambda bufs: mlp_loss(layout.views(bufs), b)))(buffers))
  assert " pad[" not in jaxpr and "concatenate" in jaxpr


class LinenNet(nn.Module):
  """Conv, LayerNorm, a bf16-parameter Dense, a Dense head."""

  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Conv(4, (3, 3))(x))
    x = nn.LayerNorm()(x.reshape(x.shape[0], -1))
    x = nn.tanh(nn.Dense(8, param_dtype=jnp.bfloat16, dtype=jnp.float32)(x))
    return nn.Dense(1)(x)[:, 0]


def image_batches(n, size=8):
  r = np.random.default_rng(2)
  return [{"x": r.normal(size=(size, 5, 5, 1)).astype(np.float32),
           "y": r.normal(size=(size,)).astype(np.float32)} for _ in range(n)]


def test_flax_linen_model():
  model = LinenNet()
  bs = image_batches(STEPS)
  params = model.init(jax.random.key(0), bs[0]["x"])["params"]
  loss = lambda p, b: jnp.mean((model.apply({"params": p}, b["x"]) - b["y"]) ** 2)
  tx = lambda: jopt.adamw(1e-2, weight_decay=0.1, mask=jopt.weight_decay_mask())
  tree_s, tree_l = run(make_train_step(loss, tx()), params, bs)
  flat_t = make_train_step(loss, tx(), flat=True)
  flat_s, flat_l = run(flat_t, params, bs)
  np.testing.assert_allclose(flat_l, tree_l, rtol=1e-6)
  assert_close(flat_t.params(flat_s), tree_s.params)


def test_flax_nnx_model():
  graphdef, params = nnx.split(nnx.Linear(3, 2, rngs=nnx.Rngs(0)), nnx.Param)
  loss = lambda p, b: jnp.mean((nnx.merge(graphdef, p)(b["x"]).sum(-1) - b["y"]) ** 2)
  bs = batches(5)
  tree_s, _ = run(make_train_step(loss, jopt.sgd(0.1, momentum=0.9)), params, bs)
  flat_t = make_train_step(loss, jopt.sgd(0.1, momentum=0.9), flat=True)
  flat_s, _ = run(flat_t, params, bs)
  out = flat_t.params(flat_s)
  assert isinstance(out, nnx.State)
  assert_close(out, tree_s.params)


def test_pmap_flat_equals_pmap_tree():
  assert jax.local_device_count() == 4
  params, bs = mlp_params(), batches(10)
  tx = lambda: jopt.adamw(1e-2, weight_decay=0.1, mask=decay_mask)
  tree_t = make_train_step(mlp_loss, tx(), parallel="pmap")
  flat_t = make_train_step(mlp_loss, tx(), parallel="pmap", flat=True)
  tree_s, tree_l = run(tree_t, params, bs)
  flat_s, flat_l = run(flat_t, params, bs)
  np.testing.assert_allclose(flat_l, tree_l, rtol=1e-6)
  assert_close(flat_t.params(flat_s), tree_t.unreplicate(tree_s).params)
  assert_close(flat_t.tree_state_from_flat(flat_s).opt_state, tree_t.unreplicate(tree_s).opt_state)


def test_mesh_zero1_flat_equals_tree():
  """ZeRO-1 on 4 devices: each optimizer buffer is padded to a multiple of 4 and split in quarters."""
  assert jax.device_count() == 4
  params, bs = mlp_params(), batches(STEPS)
  tx = lambda: jopt.chain(jopt.clip_by_global_norm(1.0),
                          jopt.adamw(1e-2, weight_decay=0.1, mask=decay_mask))
  kw = dict(parallel="mesh", shard_opt_state=True)
  tree_t = make_train_step(mlp_loss, tx(), **kw)
  flat_t = make_train_step(mlp_loss, tx(), flat=True, **kw)
  tree_s, tree_l = run(tree_t, params, bs)
  flat_s, flat_l = run(flat_t, params, bs)
  np.testing.assert_allclose(flat_l, tree_l, rtol=1e-6)
  assert_close(flat_t.params(flat_s), tree_s.params)
  assert_close(flat_t.tree_state_from_flat(flat_s).opt_state, tree_s.opt_state)
  assert flat_t.pad_to == 4
  adam = flat_s.opt_state[1][0]
  for name, buf in adam.mu.items():
    assert buf.shape[0] % 4 == 0 and buf.sharding.spec == P("data")
    assert buf.addressable_shards[0].data.shape == (buf.shape[0] // 4,)
  for buf in flat_s.params.buffers.values():
    assert buf.sharding.is_fully_replicated
  # The 8 + 1 + 1 float32 elements of the unmasked group are padded to 12.
  assert flat_s.params.buffers["float32_m0"].shape == (12,)


def test_checkpoint_round_trips_tree_to_flat_and_back(tmp_path):
  """A flat run resumes a tree run and a tree run resumes a flat one (through orbax): same 20 steps."""
  ocp = pytest.importorskip("orbax.checkpoint")
  params, bs = mlp_params(), batches()
  tx = lambda: jopt.chain(jopt.clip_by_global_norm(1.0),
                          jopt.adamw(1e-2, weight_decay=0.1, mask=decay_mask))
  tree_t = make_train_step(mlp_loss, tx())
  flat_t = make_train_step(mlp_loss, tx(), flat=True)
  ref_s, ref_l = run(tree_t, params, bs)
  # tree -> flat
  half, l1 = run(tree_t, params, bs[:10])
  resumed, l2 = run(flat_t, None, bs[10:], state=flat_t.flat_state_from_tree(half))
  np.testing.assert_allclose(np.concatenate([l1, l2]), ref_l, rtol=1e-6)
  assert_close(flat_t.params(resumed), ref_s.params)
  assert_close(flat_t.tree_state_from_flat(resumed).opt_state, ref_s.opt_state)
  # flat -> tree, saved and restored as a tree with orbax
  half, l1 = run(flat_t, params, bs[:10])
  tree_half = flat_t.tree_state_from_flat(half)
  with ocp.StandardCheckpointer() as ckpt:
    ckpt.save(tmp_path / "state", tree_half)
  with ocp.StandardCheckpointer() as ckpt:
    restored = ckpt.restore(tmp_path / "state", jax.tree.map(np.zeros_like, tree_half))
  resumed, l2 = run(tree_t, None, bs[10:], state=restored)
  np.testing.assert_allclose(np.concatenate([l1, l2]), ref_l, rtol=1e-6)
  assert_close(resumed.params, ref_s.params)
  assert_close(resumed.opt_state, ref_s.opt_state)


def test_nan_policy_skip():
  """A non-finite step is skipped on the buffers as on the tree."""
  params, bs = mlp_params(), batches(4)
  bs[1] = {"x": bs[1]["x"], "y": np.full_like(bs[1]["y"], np.nan)}
  tree_s, _ = run(make_train_step(mlp_loss, jopt.adam(1e-2), nan_policy="skip"), params, bs)
  flat_t = make_train_step(mlp_loss, jopt.adam(1e-2), nan_policy="skip", flat=True)
  flat_s, _ = run(flat_t, params, bs)
  assert int(flat_s.nonfinite_steps) == 1
  assert_close(flat_t.params(flat_s), tree_s.params)
  assert_close(flat_t.tree_state_from_flat(flat_s).opt_state, tree_s.opt_state)


def test_bad_states_raise():
  params = mlp_params()
  flat_t = make_train_step(mlp_loss, jopt.adam(1e-2), flat=True)
  other = make_train_step(mlp_loss, jopt.sgd(0.1, momentum=0.9)).init(params)
  with pytest.raises(ValueError, match="flat_state_from_tree: the optimizer state"):
    flat_t.flat_state_from_tree(other)
  with pytest.raises(ValueError, match="tree_state_from_flat: `state.params` is not FlatParams"):
    flat_t.tree_state_from_flat(other)
  with pytest.raises(ValueError, match="flat_state_from_tree: the state is flat already"):
    flat_t.flat_state_from_tree(flat_t.init(params))
  with pytest.raises(TypeError, match="flat"):
    make_train_step(mlp_loss, jopt.adam(1e-2), flat="yes")


def test_signature():
  sig = inspect.signature(make_train_step)
  assert sig.parameters["flat"].default is False
  assert sig.parameters["flat"].kind is inspect.Parameter.KEYWORD_ONLY
