"""`make_train_step(..., flat=True)`: equal to the tree step and optax (every transform family, jit, pmap, mesh + ZeRO-1, flax), checkpoints both ways."""

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


def run(trainer, params, bs, state=None, metrics_out=None, **init_kw):
  state = trainer.init(params, **init_kw) if state is None else state
  losses = []
  for b in bs:
    state, metrics = trainer.step(state, b)
    losses.append(metrics["loss"])
    if metrics_out is not None:
      metrics_out.append(jax.device_get(metrics))
  return state, np.asarray(jax.device_get(losses))


def assert_close(a, b, rtol=1e-6, atol=1e-7, same_classes=True):
  """Same structure (or, against optax's state classes, the same key paths), leaves allclose."""
  if same_classes:
    assert jax.tree.structure(a) == jax.tree.structure(b)
  else:
    paths = lambda t: [jax.tree_util.keystr(k) for k, _ in jax.tree_util.tree_leaves_with_path(t)]
    assert paths(a) == paths(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    if jnp.issubdtype(jnp.result_type(x), jax.dtypes.prng_key):
      x, y = jax.random.key_data(x), jax.random.key_data(y)
    assert jnp.result_type(x) == jnp.result_type(y) and jnp.shape(x) == jnp.shape(y)
    np.testing.assert_allclose(np.asarray(x, np.float32), np.asarray(y, np.float32),
                               rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_flat_step_equals_tree_step(name):
  """20 steps, f32 + bf16 leaves: params, losses, metrics and the optimizer state (as a tree) agree."""
  params, bs = mlp_params(low=jnp.float32 if name in ON_VIEWS else jnp.bfloat16), batches()
  tree_t = make_train_step(mlp_loss, OPTIMIZERS[name]())
  flat_t = make_train_step(mlp_loss, OPTIMIZERS[name](), flat=True)
  tree_m, flat_m = [], []
  tree_s, tree_losses = run(tree_t, params, bs, metrics_out=tree_m)
  flat_s, flat_losses = run(flat_t, params, bs, metrics_out=flat_m)
  np.testing.assert_allclose(flat_losses, tree_losses, rtol=1e-6)
  assert_close(flat_t.params(flat_s), tree_s.params)
  assert_close(flat_t.tree_state_from_flat(flat_s).opt_state, tree_s.opt_state)
  assert int(flat_s.step) == STEPS
  # Every metric of every step: gradient and update norms (the padding adds zeros), hyperparams.
  assert_close(flat_m, tree_m)
  if name == "multi_transform":  # inject_hyperparams' values, read from the flat state
    assert flat_m[-1]["hyperparams"] and flat_m[-1]["hyperparams"].keys() == tree_m[-1]["hyperparams"].keys()
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


# --- every transform family: the flat optimizer (`trainer.flat_tx` on `FlatParams`) against the tree ---


def _schedule(count):
  return 1e-2 / (1.0 + 0.1 * count)


# name -> (factory of a library (jopt or optax; `lib.contrib` for contrib names), what it needs):
# "value": `update(..., value=loss)`; "views": it takes per-leaf statistics and runs on the views;
# "no_optax": no optax reference (jopt only, or optax differs on purpose: README "Differs from optax").
FAMILIES = {
    "sgd_nesterov": (lambda l: l.sgd(0.1, momentum=0.9, nesterov=True), ()),
    "adam_bf16_mu": (lambda l: l.adam(1e-2, mu_dtype=jnp.bfloat16), ()),
    "adamw_mask_schedule": (lambda l: l.adamw(_schedule, weight_decay=0.1, mask=decay_mask), ()),
    "adamax": (lambda l: l.adamax(1e-2), ()),
    "amsgrad": (lambda l: l.amsgrad(1e-2), ()),
    "radam": (lambda l: l.radam(1e-2), ("no_optax",)),
    "adabelief": (lambda l: l.adabelief(1e-2), ()),
    "yogi": (lambda l: l.yogi(1e-2), ()),
    "adagrad": (lambda l: l.adagrad(1e-2), ()),
    "rmsprop_centered_momentum": (lambda l: l.rmsprop(1e-2, centered=True, momentum=0.9), ()),
    "adadelta": (lambda l: l.adadelta(1e-1), ()),
    "lion": (lambda l: l.lion(1e-3), ()),
    "sign_sgd": (lambda l: l.sign_sgd(1e-3), ()),
    "signum": (lambda l: l.signum(1e-3), ()),
    "adan": (lambda l: l.adan(1e-2), ()),
    "optimistic_gradient_descent": (lambda l: l.optimistic_gradient_descent(1e-2), ()),
    "optimistic_adam": (lambda l: l.optimistic_adam(1e-2), ()),
    "rprop": (lambda l: l.rprop(1e-2), ("no_optax",)),
    "polyak_sgd": (lambda l: l.polyak_sgd(max_learning_rate=0.1), ("value",)),
    "ema": (lambda l: l.chain(l.ema(0.9), l.scale(-0.1)), ()),
    "clip": (lambda l: l.chain(l.clip(0.5), l.scale(-0.1)), ()),
    "zero_nans_keep_nonnegative": (
        lambda l: l.chain(l.zero_nans(), l.scale(-0.01), l.keep_params_nonnegative()), ()),
    "identity_set_to_zero": (lambda l: l.chain(l.identity(), l.set_to_zero()), ()),
    "apply_every": (lambda l: l.chain(l.sgd(0.1), l.apply_every(3)), ()),
    "clip_by_global_norm": (lambda l: l.chain(l.clip_by_global_norm(0.5), l.sgd(0.1)), ()),
    "normalize_by_update_norm": (
        lambda l: l.chain(l.normalize_by_update_norm(0.1), l.scale(-1.0)), ()),
    "stddev_rss": (lambda l: l.chain(l.scale_by_stddev(), l.scale_by_rss(), l.scale(-1e-2)), ()),
    "l1_decay_elastic_net": (lambda l: l.chain(
        l.sgd(0.1), l.add_l1_decay(1e-2), l.elastic_net_proximal(0.01, 0.1, 0.1)), ("no_optax",)),
    "reduce_on_plateau": (
        lambda l: l.chain(l.sgd(0.1), l.contrib.reduce_on_plateau(patience=2)), ("value",)),
    "inject_hyperparams": (lambda l: l.inject_hyperparams(l.adamw)(
        learning_rate=_schedule, weight_decay=0.1), ()),
    "multi_steps": (lambda l: l.MultiSteps(l.adam(1e-2), 3), ()),
    "apply_if_finite": (lambda l: l.apply_if_finite(l.adam(1e-2), 2), ()),
    "acprop": (lambda l: l.contrib.acprop(1e-2), ()),
    "ademamix": (lambda l: l.contrib.ademamix(1e-2), ()),
    "simplified_ademamix": (lambda l: l.contrib.simplified_ademamix(1e-2), ()),
    "adopt": (lambda l: l.contrib.adopt(1e-2), ()),
    "cocob": (lambda l: l.contrib.cocob(), ()),
    "madgrad": (lambda l: l.contrib.madgrad(1e-2), ()),
    "dadapt_adamw": (lambda l: l.contrib.dadapt_adamw(), ()),
    "dog": (lambda l: l.contrib.dog(), ()),
    "dowg": (lambda l: l.contrib.dowg(), ()),
    # Its scalar state is kept in the lowest param dtype (bf16 here, as optax's): a float-order
    # difference in the vdot over the leaves rounds to a different bf16 value. Compared on f32.
    "momo": (lambda l: l.contrib.momo(), ("value", "f32")),
    "momo_adam": (lambda l: l.contrib.momo_adam(), ("value",)),
    "prodigy": (lambda l: l.contrib.prodigy(), ()),
    # Per-leaf statistics (or no declaration): on the views.
    "noisy_sgd": (lambda l: l.noisy_sgd(0.1, seed=3), ("views",)),
    "lamb": (lambda l: l.lamb(1e-2, weight_decay=0.01), ("views",)),
    "lars": (lambda l: l.lars(1e-2), ("views",)),
    "fromage": (lambda l: l.fromage(1e-2), ("views",)),
    "novograd": (lambda l: l.novograd(1e-2), ("views",)),
    "adafactor": (lambda l: l.adafactor(1e-2, min_dim_size_to_factor=4), ("views",)),
    # optax's sm3 fails on a scalar leaf (IndexError).
    "sm3": (lambda l: l.sm3(1e-2), ("views", "no_optax")),
    "centralize": (lambda l: l.chain(l.centralize(), l.scale(-0.1)), ("views",)),
    "clip_by_block_rms": (lambda l: l.chain(l.clip_by_block_rms(0.5), l.scale(-0.1)), ("views",)),
    "adaptive_grad_clip": (lambda l: l.chain(l.adaptive_grad_clip(0.1), l.scale(-0.1)), ("views",)),
    "muon": (lambda l: l.contrib.muon(1e-2), ("views",)),
    "schedule_free_adamw": (lambda l: l.contrib.schedule_free_adamw(1e-2), ("views",)),
}
FAST_FAMILIES = ("adafactor",)  # the rest: slow lane (a few s of compiles each)


def family_params(low):
  """Leaves of f32 and `low`: matrices, vectors, a scalar, one 80-element leaf (a buffer of its own)."""
  r = np.random.default_rng(0)
  f = lambda *s: jnp.asarray(r.normal(size=s), jnp.float32)
  return {"a": {"w": f(4, 5), "b": f(5)}, "low": {"w": f(3, 4).astype(low), "b": f(4).astype(low)},
          "s": f(), "big": f(2, 40)}


def run_tx(tx, params, grads, values, needs):
  """20 jitted update + apply steps; returns the params and the state."""
  state = tx.init(params)

  @jax.jit
  def step(p, s, g, v):
    u, s = tx.update(g, s, p, **({"value": v} if "value" in needs else {}))
    return jopt.apply_updates(p, u), s

  for g, v in zip(grads, values):
    params, state = step(params, state, g, v)
  return params, state


def flat_run(make, params, grads, values, needs):
  trainer = make_train_step(mlp_loss, make(jopt), flat=True)
  layout = trainer.layout(params)
  p, s = run_tx(trainer.flat_tx, trainer.flat_params(params),
                [flat_lib.FlatParams(layout.flatten(g), layout) for g in grads], values, needs)
  # The optimizer state as the tree step holds it, through the checkpoint conversion.
  tree_state = trainer.tree_state_from_flat(trainer.init(params)._replace(params=p, opt_state=s))
  return trainer, tree_state.params, tree_state.opt_state


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=() if n in FAST_FAMILIES else (pytest.mark.slow,)) for n in FAMILIES])
def test_every_family_flat_equals_tree_and_optax(name, monkeypatch):
  """20 steps of each family on flat buffers: equal to jopt on the tree, and to optax (float32)."""
  monkeypatch.setattr(flat_lib, "FLAT_MAX_LEAF_SIZE", 64)
  make, needs = FAMILIES[name]
  values = [jnp.float32(1.0 + 0.1 * i) for i in range(STEPS)]
  gen = np.random.default_rng(1)

  def grads(p):
    return [jax.tree.map(lambda x: jnp.asarray(gen.normal(size=x.shape), x.dtype), p)
            for _ in range(STEPS)]

  # f32 + bf16 leaves; a part run on views is compared on f32 leaves (see ON_VIEWS).
  params = family_params(jnp.float32 if {"views", "f32"} & set(needs) else jnp.bfloat16)
  gs = grads(params)
  trainer, flat_p, flat_s = flat_run(make, params, gs, values, needs)
  tree_p, tree_s = run_tx(make(jopt), params, gs, values, needs)
  assert_close(flat_p, tree_p)
  assert_close(flat_s, tree_s)
  assert bool(trainer.on_views) == ("views" in needs)
  if "no_optax" in needs:
    return
  params = family_params(jnp.float32)  # optax and jopt round bf16 sums of squares differently
  gs = grads(params)
  _, flat_p, _ = flat_run(make, params, gs, values, needs)
  optax_p, _ = run_tx(make(optax), params, gs, values, needs)
  assert_close(flat_p, optax_p, rtol=1e-5, atol=1e-6)


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


@pytest.mark.slow  # ~6 s of compiles on a cold cache; linen runs in the fast lane below
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


class DropBN(nn.Module):
  """Dense, BatchNorm (model state), dropout (the step's key), a bf16-parameter head."""

  @nn.compact
  def __call__(self, x, rng):
    x = nn.Dense(8, use_bias=False)(x)
    x = nn.BatchNorm(use_running_average=False, momentum=0.8)(x)
    x = nn.Dropout(0.25, deterministic=False)(nn.relu(x), rng=rng)
    return nn.Dense(1, param_dtype=jnp.bfloat16, dtype=jnp.float32)(x)[:, 0]


def test_flax_linen_batchnorm_dropout():
  """model_state, rng and has_aux pass through the flat step: params, batch stats and aux metrics agree."""
  model = DropBN()
  bs = batches(STEPS)
  variables = model.init(jax.random.key(0), bs[0]["x"], jax.random.key(1))

  def loss_fn(p, batch, rng, model_state):
    out, new = model.apply(
        {"params": p, "batch_stats": model_state}, batch["x"], rng, mutable=["batch_stats"])
    return jnp.mean((out - batch["y"]) ** 2), {"model_state": new["batch_stats"], "out_mean": out.mean()}

  kw = dict(rng=7, model_state=variables["batch_stats"])
  tx = lambda: jopt.adamw(1e-2, weight_decay=0.1, mask=jopt.weight_decay_mask())
  tree_m, flat_m = [], []
  tree_s, tree_l = run(make_train_step(loss_fn, tx(), has_aux=True), variables["params"], bs,
                       metrics_out=tree_m, **kw)
  flat_t = make_train_step(loss_fn, tx(), has_aux=True, flat=True)
  flat_s, flat_l = run(flat_t, variables["params"], bs, metrics_out=flat_m, **kw)
  np.testing.assert_allclose(flat_l, tree_l, rtol=1e-6)
  assert_close(flat_t.params(flat_s), tree_s.params)
  assert_close(flat_s.model_state, tree_s.model_state)
  assert_close([m["out_mean"] for m in flat_m], [m["out_mean"] for m in tree_m])


class NnxNet(nnx.Module):
  def __init__(self, rngs):
    self.l0 = nnx.Linear(3, 8, rngs=rngs)
    self.l1 = nnx.Linear(8, 1, param_dtype=jnp.bfloat16, dtype=jnp.float32, rngs=rngs)

  def __call__(self, x):
    return self.l1(jnp.tanh(self.l0(x)))[:, 0]


def test_flax_nnx_model():
  """An nnx model split into graphdef and `nnx.State` params (f32 and bf16 leaves); 20 steps."""
  graphdef, params = nnx.split(NnxNet(nnx.Rngs(0)), nnx.Param)
  loss = lambda p, b: jnp.mean((nnx.merge(graphdef, p)(b["x"]) - b["y"]) ** 2)
  bs = batches()
  tree_s, tree_l = run(make_train_step(loss, jopt.sgd(0.1, momentum=0.9)), params, bs)
  flat_t = make_train_step(loss, jopt.sgd(0.1, momentum=0.9), flat=True)
  flat_s, flat_l = run(flat_t, params, bs)
  np.testing.assert_allclose(flat_l, tree_l, rtol=1e-6)
  out = flat_t.params(flat_s)
  assert isinstance(out, nnx.State)
  assert_close(out, tree_s.params)
  assert {b.dtype.name for b in flat_s.params.buffers.values()} == {"float32", "bfloat16"}


def test_pmap_flat_equals_pmap_tree():
  """pmap on 4 devices; a flat state saved as a tree and resumed (unreplicated) continues the run."""
  assert jax.local_device_count() == 4
  params, bs = mlp_params(), batches(10)
  tx = lambda: jopt.adamw(1e-2, weight_decay=0.1, mask=decay_mask)
  tree_t = make_train_step(mlp_loss, tx(), parallel="pmap")
  flat_t = make_train_step(mlp_loss, tx(), parallel="pmap", flat=True)
  tree_s, tree_l = run(tree_t, params, bs)
  half, l1 = run(flat_t, params, bs[:5])
  # `unreplicate` is the tree state (device 0's copy); `step` converts it back and replicates it.
  tree_half = jax.device_get(flat_t.unreplicate(half))
  assert jax.tree.structure(tree_half) == jax.tree.structure(tree_t.unreplicate(tree_t.init(params)))
  flat_s, l2 = run(flat_t, None, bs[5:], state=tree_half)
  assert jnp.shape(flat_s.step) == (4,) and isinstance(flat_s.params, flat_lib.FlatParams)
  np.testing.assert_allclose(np.concatenate([l1, l2]), tree_l, rtol=1e-6)
  assert_close(flat_t.params(flat_s), tree_t.unreplicate(tree_s).params)
  assert_close(flat_t.tree_state_from_flat(flat_s).opt_state, tree_t.unreplicate(tree_s).opt_state)


def test_mesh_zero1_flat_equals_tree(monkeypatch):
  """ZeRO-1 on a 4-device mesh: each optimizer buffer is padded to a multiple of 4 and split in quarters.

  `multi_transform` labels and a mask split the buffers; `l1/w` (64 elements) is above the
  (lowered) size limit, so it gets a buffer of its own. A state saved as a tree resumes on the mesh.
  """
  monkeypatch.setattr(flat_lib, "FLAT_MAX_LEAF_SIZE", 40)
  assert jax.device_count() == 4
  params, bs = mlp_params(), batches(STEPS)
  mesh = jax.make_mesh((4,), ("batch",), axis_types=(jax.sharding.AxisType.Auto,))
  tx = lambda: jopt.chain(
      jopt.clip_by_global_norm(1.0),
      jopt.multi_transform({"high": jopt.adamw(1e-2, weight_decay=0.1, mask=decay_mask),
                            "low": jopt.sgd(0.05, momentum=0.9)}, by_dtype))
  kw = dict(parallel="mesh", mesh=mesh, axis_name="batch", shard_opt_state=True)
  tree_t = make_train_step(mlp_loss, tx(), **kw)
  flat_t = make_train_step(mlp_loss, tx(), flat=True, **kw)
  tree_s, tree_l = run(tree_t, params, bs)
  half, l1 = run(flat_t, params, bs[:10])
  resumed = flat_t.flat_state_from_tree(jax.device_get(flat_t.tree_state_from_flat(half)))
  flat_s, l2 = run(flat_t, None, bs[10:], state=resumed)
  np.testing.assert_allclose(np.concatenate([l1, l2]), tree_l, rtol=1e-6)
  assert_close(flat_t.params(flat_s), tree_s.params)
  assert_close(flat_t.tree_state_from_flat(flat_s).opt_state, tree_s.opt_state)
  assert flat_t.pad_to == 4
  bufs = flat_s.params.buffers
  # Per dtype and label/mask code: l1/b ("low"); l1/w alone (above the limit); the float32 biases and
  # temp (8 + 1 + 1, padded to 12, not decayed) and the float32 matrices (24 + 8, decayed).
  assert {k: v.shape for k, v in bufs.items()} == {
      "bfloat16_ml1x": (8,), "bfloat16_ml1x_leaf000003": (64,), "float32_ml00": (12,),
      "float32_ml01": (32,)}
  for buf in bufs.values():
    assert buf.shape[0] % 4 == 0 and buf.sharding.is_fully_replicated
  adam = flat_s.opt_state[1].inner_states["high"].inner_state[0]
  n_sharded = 0
  for name, buf in adam.mu.items():
    if isinstance(buf, jopt.MaskedNode):
      continue
    assert buf.shape[0] % 4 == 0 and buf.sharding.spec == P("batch")
    assert buf.addressable_shards[0].data.shape == (buf.shape[0] // 4,)
    n_sharded += 1
  assert n_sharded == 2  # the two float32 groups; the bf16 ones belong to "low"


def test_checkpoint_round_trips_tree_to_flat_and_back(tmp_path):
  """A flat run resumes a tree run and a tree run resumes a flat one, both through orbax: same 20 steps.

  As a training loop written for the tree step does it: evaluate and save
  ``trainer.unreplicate(state)``, restore it shaped like that, pass it to ``trainer.step``.
  """
  ocp = pytest.importorskip("orbax.checkpoint")
  params, bs = mlp_params(), batches()
  tx = lambda: jopt.chain(jopt.clip_by_global_norm(1.0),
                          jopt.adamw(1e-2, weight_decay=0.1, mask=decay_mask))
  tree_t = make_train_step(mlp_loss, tx())
  flat_t = make_train_step(mlp_loss, tx(), flat=True)
  ref_s, ref_l = run(tree_t, params, bs)

  def save_and_restore(trainer, state, name):
    item = {"state": trainer.unreplicate(state)}
    with ocp.StandardCheckpointer() as ckpt:
      ckpt.save(tmp_path / name, item)
    with ocp.StandardCheckpointer() as ckpt:
      return ckpt.restore(tmp_path / name, jax.tree.map(np.zeros_like, item))["state"]

  # tree -> orbax -> flat (the explicit conversion)
  half, l1 = run(tree_t, params, bs[:10])
  restored = save_and_restore(tree_t, half, "tree_run")
  resumed, l2 = run(flat_t, None, bs[10:], state=flat_t.flat_state_from_tree(restored))
  np.testing.assert_allclose(np.concatenate([l1, l2]), ref_l, rtol=1e-6)
  assert_close(flat_t.params(resumed), ref_s.params)
  assert_close(flat_t.tree_state_from_flat(resumed).opt_state, ref_s.opt_state)
  # flat -> orbax (as a tree) -> tree
  half, l1 = run(flat_t, params, bs[:10])
  assert_close(flat_t.unreplicate(half).params, flat_t.params(half))
  restored = save_and_restore(flat_t, half, "flat_run")
  assert jax.tree.structure(restored) == jax.tree.structure(tree_t.init(params))
  resumed, l2 = run(tree_t, None, bs[10:], state=restored)
  np.testing.assert_allclose(np.concatenate([l1, l2]), ref_l, rtol=1e-6)
  assert_close(resumed.params, ref_s.params)
  assert_close(resumed.opt_state, ref_s.opt_state)
  # flat -> orbax -> flat: `step` takes the restored tree state as it is
  resumed, l2 = run(flat_t, None, bs[10:], state=restored)
  np.testing.assert_allclose(np.concatenate([l1, l2]), ref_l, rtol=1e-6)
  assert_close(flat_t.unreplicate(resumed), ref_s)


def test_flat_step_equals_optax_step():
  """The flat jopt step against the tree step run by optax's own chain (float32 params): 20 steps."""
  params, bs = mlp_params(low=jnp.float32), batches()
  ref_s, ref_l = run(make_train_step(mlp_loss, optax.chain(
      optax.clip_by_global_norm(1.0), optax.adamw(1e-2, weight_decay=0.1, mask=decay_mask))), params, bs)
  flat_t = make_train_step(mlp_loss, jopt.chain(
      jopt.clip_by_global_norm(1.0), jopt.adamw(1e-2, weight_decay=0.1, mask=decay_mask)), flat=True)
  flat_s, flat_l = run(flat_t, params, bs)
  np.testing.assert_allclose(flat_l, ref_l, rtol=1e-6)
  assert_close(flat_t.params(flat_s), ref_s.params)
  assert_close(flat_t.tree_state_from_flat(flat_s).opt_state, ref_s.opt_state, same_classes=False)


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


def test_scalar_per_leaf_state_is_one_per_buffer():
  """`zero_nans`' flag per leaf: a buffer's flag is the OR of its leaves'; back to the tree, each leaf its buffer's."""
  params = mlp_params()
  tx = lambda: jopt.chain(jopt.zero_nans(), jopt.sgd(0.1))
  flat_t = make_train_step(mlp_loss, tx(), flat=True)
  tree_state = make_train_step(mlp_loss, tx()).init(params)
  flags = tree_state.opt_state[0].found_nan
  flags["l1"]["b"] = jnp.array(True)  # a bf16 leaf; l1/w shares its buffer
  flat_state = flat_t.flat_state_from_tree(tree_state)
  layout = flat_state.params.layout
  by_group = flat_state.opt_state[0].found_nan
  assert {k: bool(v) for k, v in by_group.items()} == {
      k: k.startswith("bfloat16") for k in layout.groups}
  back = flat_t.tree_state_from_flat(flat_state).opt_state[0].found_nan
  assert jax.tree.map(bool, back) == jax.tree.map(
      lambda x: x.dtype == jnp.bfloat16, params)


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
