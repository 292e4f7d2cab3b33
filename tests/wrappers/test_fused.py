"""The fused multi-tensor path: same numbers as the per-leaf path, clear errors, orbax, pmap and mesh."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
from jopt._src import base
from jopt._src.wrappers import fused as fused_lib

STEPS = 20


def _tree():
  """Mixed-dtype params: f32 and bf16 leaves, a scalar, a large leaf and small ones."""
  k = jax.random.split(jax.random.PRNGKey(0), 6)
  return {
      "dense": {"w": jax.random.normal(k[0], (8, 5)), "b": jax.random.normal(k[1], (5,))},
      "emb": jax.random.normal(k[2], (40, 3)).astype(jnp.bfloat16),
      "ln": jax.random.normal(k[3], (7,)).astype(jnp.bfloat16),
      "scalar": jnp.float32(0.5),
      "big": jax.random.normal(k[4], (300,)),  # above max_fused_leaf_size=256 below
  }


def _grads(params, steps):
  out, key = [], jax.random.PRNGKey(1)
  for _ in range(steps):
    key, sub = jax.random.split(key)
    leaves, treedef = jax.tree.flatten(params)
    ks = jax.random.split(sub, len(leaves))
    out.append(treedef.unflatten(
        [jax.random.normal(kk, l.shape).astype(l.dtype) for kk, l in zip(ks, leaves)]
    ))
  return out


def _decay_mask(p):
  return jax.tree.map(lambda x: x.ndim > 1, p)


def _optimizers():
  """(name, factory) for every optimizer the fused path supports; missing names are skipped."""
  sched = lambda c: 1e-2 / (1.0 + 0.1 * c)
  cases = [
      ("sgd", lambda: jopt.sgd(0.1)),
      ("sgd_momentum", lambda: jopt.sgd(0.1, momentum=0.9)),
      ("sgd_nesterov", lambda: jopt.sgd(0.1, momentum=0.9, nesterov=True)),
      ("adam", lambda: jopt.adam(1e-2)),
      ("adam_bf16_moments", lambda: jopt.adam(1e-2, mu_dtype=jnp.bfloat16, nu_dtype=jnp.bfloat16)),
      ("adamw", lambda: jopt.adamw(1e-2, weight_decay=0.1)),
      ("adamw_mask_schedule", lambda: jopt.adamw(sched, weight_decay=0.1, mask=_decay_mask)),
      ("rmsprop", lambda: jopt.rmsprop(1e-2)),
      ("rmsprop_centered_momentum", lambda: jopt.rmsprop(1e-2, centered=True, momentum=0.9)),
      ("lion", lambda: jopt.lion(1e-3)),
      ("clip_adamw", lambda: jopt.chain(jopt.clip_by_global_norm(1.0), jopt.adamw(1e-2))),
      ("chain6", lambda: jopt.chain(
          jopt.clip_by_global_norm(1.0), jopt.scale_by_adam(), jopt.add_decayed_weights(1e-2),
          jopt.add_decayed_weights(1e-1, mask=_decay_mask), jopt.scale_by_schedule(sched),
          jopt.scale(-1.0))),
      # Declared elementwise / composite transforms the name-based parser rejected.
      ("sgd_elastic_net", lambda: jopt.chain(
          jopt.sgd(0.1), jopt.elastic_net_proximal(l1=0.05, l2=0.1, learning_rate=0.1))),
      ("inject_adam", lambda: jopt.inject_hyperparams(jopt.adam)(learning_rate=1e-2)),
      ("clip_adamw_mask", lambda: jopt.chain(
          jopt.clip_by_global_norm(1.0), jopt.adamw(1e-2, weight_decay=0.1, mask=_decay_mask))),
      ("inject_adamw_mask", lambda: jopt.inject_hyperparams(jopt.adamw)(
          learning_rate=sched, weight_decay=0.1, mask=_decay_mask)),
      ("multi_transform_nested_mask", lambda: jopt.multi_transform(
          {"adamw": jopt.adamw(1e-2, weight_decay=0.1, mask=_decay_mask),
           "l1": jopt.chain(jopt.sgd(0.1), jopt.l1_proximal(l1=0.05, learning_rate=0.1))},
          lambda p: jax.tree.map(lambda x: "l1" if x.dtype == jnp.bfloat16 else "adamw", p))),
      ("named_chain_apply_if_finite", lambda: jopt.named_chain(
          ("clip", jopt.clip_by_global_norm(1.0)),
          ("opt", jopt.apply_if_finite(jopt.adamw(1e-2, mask=_decay_mask), 2)))),
  ]
  out = []
  for name, make in cases:
    try:
      make()
    except AttributeError:  # an optimizer not in jopt yet
      continue
    marks = [] if name in FAST_OPTIMIZERS else [pytest.mark.slow]
    out.append(pytest.param(make, id=name, marks=marks))
  return out


# The fast lane's short version: one of each kind of state (momentum, masked moments and a schedule, a
# six-block chain, a proximal step, inject_hyperparams, nested multi_transform); the rest: slow lane.
FAST_OPTIMIZERS = {"sgd_momentum", "adamw_mask_schedule", "chain6", "sgd_elastic_net", "inject_adamw_mask",
                   "multi_transform_nested_mask"}


def _run(tx, params, grads_seq, step_wrap=jax.jit):
  state = tx.init(params)

  @step_wrap
  def step(p, s, g):
    u, s = tx.update(g, s, p)
    return jopt.apply_updates(p, u), s, u

  ups = []
  for g in grads_seq:
    params, state, u = step(params, state, g)
    ups.append(u)
  return params, state, ups


def _assert_close(a, b, rtol=1e-6, atol=0.0):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    assert x.dtype == y.dtype and x.shape == y.shape
    np.testing.assert_allclose(
        np.asarray(x, np.float32), np.asarray(y, np.float32), rtol=rtol, atol=atol)


@pytest.mark.parametrize("make", _optimizers())
def test_fused_equals_per_leaf_over_20_steps(make):
  params = _tree()
  grads = _grads(params, STEPS)
  p_ref, _, u_ref = _run(make(), params, grads)
  p_fused, state, u_fused = _run(jopt.fused(make(), max_fused_leaf_size=256), params, grads)
  # bf16 leaves: the same ops in the same order give the same bf16 roundings.
  _assert_close(p_fused, p_ref, atol=1e-7)
  _assert_close(u_fused[-1], u_ref[-1], atol=1e-7)
  # The state holds one buffer per group, not per leaf.
  sizes = [l.size for l in jax.tree.leaves(state) if l.ndim == 1]
  assert len(sizes) <= 2 * 3 * 2 + 2  # dtypes x masks x (small, big) + counts


def test_state_is_grouped_flat_buffers():
  params = _tree()
  state = jopt.fused(jopt.adam(1e-3), max_fused_leaf_size=256).init(params)
  mu = state.inner_state[0].mu
  assert set(mu) == {"bfloat16", "float32", "float32_leaf000000"}
  assert mu["bfloat16"].shape == (7 + 120,) and mu["bfloat16"].dtype == jnp.bfloat16
  assert mu["float32"].shape == (5 + 40 + 1,)
  assert mu["float32_leaf000000"].shape == (300,)
  # eval_shape works (no data-dependent Python in init).
  jax.eval_shape(jopt.fused(jopt.adam(1e-3)).init, params)


def test_groups_are_capped_at_leaves_per_group():
  """10 small leaves in groups of at most 3 (4 buffers), large and lone leaves keep their shape; same numbers."""
  params = {f"w{i}": jax.random.normal(jax.random.PRNGKey(i), (4, 3)) for i in range(10)}
  params["big"] = jnp.ones((20, 30))
  tx = jopt.fused(jopt.adamw(1e-2, weight_decay=0.1), max_fused_leaf_size=256, leaves_per_group=3)
  mu = tx.init(params).inner_state[0].mu
  shapes = sorted(v.shape for v in mu.values())
  assert shapes == [(4, 3), (20, 30), (36,), (36,), (36,)]  # 3 + 3 + 3 + a lone leaf, and "big"
  grads = _grads(params, 5)
  p_ref, _, u_ref = _run(jopt.adamw(1e-2, weight_decay=0.1), params, grads)
  p_fused, _, u_fused = _run(tx, params, grads)
  _assert_close(p_fused, p_ref, atol=1e-7)
  _assert_close(u_fused[-1], u_ref[-1], atol=1e-7)


def test_bf16_moments_halve_state_bytes():
  params = {f"w{i}": jnp.zeros((64,)) for i in range(10)}
  nbytes = lambda s: sum(l.nbytes for l in jax.tree.leaves(s))
  f32 = jopt.fused(jopt.adam(1e-3)).init(params)
  bf16 = jopt.fused(jopt.adam(1e-3, mu_dtype=jnp.bfloat16, nu_dtype=jnp.bfloat16)).init(params)
  assert nbytes(bf16) <= 0.5 * nbytes(f32) + 8  # + the int32 count


@pytest.mark.parametrize("factory,name", [
    ("clip_by_block_rms", "clip_by_block_rms"),
    ("centralize", "centralize"),
    ("adafactor", "scale_by_factored_rms"),
    ("lamb", "scale_by"),
    ("lars", "scale_by"),
    ("novograd", "scale_by_novograd"),
])
def test_per_leaf_transforms_are_rejected_at_build_time(factory, name):
  make = getattr(jopt, factory, None)
  if make is None:
    pytest.skip(f"jopt.{factory} not in jopt yet")
  tx = make(1.0) if factory in ("clip_by_block_rms",) else make() if factory == "centralize" else make(1e-3)
  with pytest.raises(ValueError, match=f"fused: cannot fuse `{name}"):
    jopt.fused(tx)


def test_unknown_and_optax_transforms_are_rejected():
  # An optax transform declares nothing: named (from its update function) as unknown.
  with pytest.raises(ValueError, match=r"fused: cannot fuse `<function chain\.<locals>\."
                     r"update_fn>` from `optax[\w.]*`: it is unknown to jopt"):
    jopt.fused(optax.adam(1e-3))
  custom = jopt.GradientTransformation(jopt.init_empty_state, lambda u, s, p=None: (u, s))
  with pytest.raises(ValueError, match=r"cannot fuse `<function .*<lambda>>` from `test_fused` "
                     r"\(in chain\[1\]\): it is unknown to jopt"):
    jopt.fused(jopt.chain(jopt.adam(1e-3), custom))


def test_bad_arguments_and_state():
  with pytest.raises(ValueError, match="fused: `max_fused_leaf_size`"):
    jopt.fused(jopt.adam(1e-3), max_fused_leaf_size=0)
  with pytest.raises(ValueError, match="fused: `leaves_per_group`"):
    jopt.fused(jopt.adam(1e-3), leaves_per_group=0)
  tx = jopt.fused(jopt.adam(1e-3))
  params = _tree()
  with pytest.raises(ValueError, match="FusedState"):
    tx.update(params, jopt.adam(1e-3).init(params))
  state = tx.init(params)
  with pytest.raises(ValueError, match="scale_by_adam"):  # a different tree -> different groups
    tx.update({"a": jnp.zeros(3, jnp.int8)}, state)


def test_orbax_round_trip(tmp_path):
  ocp = pytest.importorskip("orbax.checkpoint")
  params = _tree()
  grads = _grads(params, 3)
  tx = jopt.fused(jopt.adamw(1e-2, mask=_decay_mask), max_fused_leaf_size=256)
  _, state, _ = _run(tx, params, grads)
  with ocp.StandardCheckpointer() as ckpt:
    ckpt.save(tmp_path / "state", state)
  with ocp.StandardCheckpointer() as ckpt:
    restored = ckpt.restore(tmp_path / "state", jax.tree.map(np.zeros_like, state))
  assert jax.tree.structure(restored) == jax.tree.structure(state)
  _assert_close(restored, state, rtol=0)
  # Training continues from the restored state exactly as from the original.
  g = grads[0]
  u1, _ = jax.jit(tx.update)(g, state, params)
  u2, _ = jax.jit(tx.update)(g, restored, params)
  _assert_close(u1, u2, rtol=0)


def test_pmap():
  n = 2
  params = _tree()
  grads = _grads(params, 3)
  rep = lambda t: jax.tree.map(lambda x: jnp.stack([x] * n), t)
  tx_f, tx_r = jopt.fused(jopt.adamw(1e-2), max_fused_leaf_size=256), jopt.adamw(1e-2)

  def run(tx):
    state = jax.pmap(tx.init)(rep(params))
    step = jax.pmap(lambda p, s, g: (lambda u, s: (jopt.apply_updates(p, u), s))(
        *tx.update(jax.lax.pmean(g, "d"), s, p)), axis_name="d")
    p = rep(params)
    for g in grads:
      p, state = step(p, state, rep(g))
    return jax.tree.map(lambda x: x[0], p)

  _assert_close(run(tx_f), run(tx_r), atol=1e-7)


def test_jit_over_a_mesh():
  devices = np.array(jax.devices()[:4])
  assert devices.size == 4
  mesh = jax.sharding.Mesh(devices, ("d",))
  shard = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("d"))
  repl = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  params = {"w": jnp.arange(32.0).reshape(8, 4) / 32, "b": jnp.ones(4), "v": jnp.ones(12) / 3}
  put = lambda t: {k: jax.device_put(v, shard if v.shape[0] % 4 == 0 else repl) for k, v in t.items()}
  grads = [put(g) for g in _grads(params, 4)]
  tx = jopt.fused(jopt.chain(jopt.clip_by_global_norm(1.0), jopt.adamw(1e-2))
                  if hasattr(jopt, "clip_by_global_norm") else jopt.adamw(1e-2))
  ref_tx = jopt.chain(jopt.clip_by_global_norm(1.0), jopt.adamw(1e-2)) \
      if hasattr(jopt, "clip_by_global_norm") else jopt.adamw(1e-2)
  p_ref, _, _ = _run(ref_tx, params, [jax.device_get(g) for g in grads])
  with jax.sharding.use_mesh(mesh) if hasattr(jax.sharding, "use_mesh") else mesh:
    p_mesh, state, _ = _run(tx, put(params), grads)
  assert p_mesh["w"].sharding.is_equivalent_to(shard, 2)
  _assert_close(p_mesh, p_ref, atol=1e-7)


# --- what `fused` reads: the kinds transforms declare where they are built ---


def test_inject_hyperparams_learning_rate_written_into_the_state_takes_effect():
  """Writing `learning_rate` into the state mid-run acts on the fused path as on the per-leaf."""
  params = _tree()
  grads = _grads(params, STEPS)
  make = lambda: jopt.inject_hyperparams(jopt.adam)(learning_rate=1e-2)

  def run(tx, hyperparams_of):
    state = tx.init(params)

    @jax.jit
    def step(p, s, g):
      u, s = tx.update(g, s, p)
      return jopt.apply_updates(p, u), s

    p = params
    for i, g in enumerate(grads):
      if i == STEPS // 2:
        hyperparams_of(state)["learning_rate"] = jnp.asarray(1e-3)
      p, state = step(p, state, g)
    return p, state

  p_ref, _ = run(make(), lambda s: s.hyperparams)
  fused = lambda: jopt.fused(make(), max_fused_leaf_size=256)
  p_fused, state = run(fused(), lambda s: s.inner_state.hyperparams)
  _assert_close(p_fused, p_ref, atol=1e-7)
  assert float(jopt.hyperparams(state)["learning_rate"]) == pytest.approx(1e-3)
  p_unchanged, _ = run(fused(), lambda s: {})
  assert not np.allclose(np.asarray(p_unchanged["dense"]["w"]), np.asarray(p_fused["dense"]["w"]))


def test_error_names_each_unfusable_transform_and_why():
  with pytest.raises(ValueError) as err:
    jopt.fused(jopt.adafactor(1e-3))
  msg = str(err.value)
  assert msg.count("cannot fuse") == 3, msg  # not the elementwise parts (learning rate, scale)
  for name, where, why in [
      ("scale_by_factored_rms", "chain[0]", "row and column second moments of each matrix"),
      ("clip_by_block_rms", "chain[1]", "the RMS of each leaf"),
      ("scale_by_param_block_rms", "chain[3]", "the RMS of each parameter leaf"),
  ]:
    assert f"fused: cannot fuse `{name}` (in {where}): it works leaf by leaf ({why})" in msg, msg
  with pytest.raises(ValueError, match=r"^fused: cannot fuse `scale_by_trust_ratio` "
                     r"\(in inject_hyperparams\(lamb\) > chain\[2\]\): it works leaf") as err:
    jopt.fused(jopt.inject_hyperparams(jopt.lamb)(learning_rate=1e-3))
  assert str(err.value).count("cannot fuse") == 1
  with pytest.raises(ValueError, match=r"cannot fuse `add_noise` \(in chain\[0\]\)"):
    jopt.fused(jopt.noisy_sgd(1e-3, key=0))
  with pytest.raises(ValueError, match=r"cannot fuse `group_lasso_proximal` \(in chain\[1\]\)"):
    jopt.fused(jopt.chain(jopt.sgd(0.1), jopt.group_lasso_proximal(0.1, 0.1)))
  with pytest.raises(ValueError, match=r"cannot fuse `MultiSteps`: its `should_skip_update_fn`"):
    skip = lambda updates, step, params: (False, ())
    jopt.fused(jopt.MultiSteps(jopt.adam(1e-3), 2, should_skip_update_fn=skip))


@pytest.mark.parametrize("name,fusable", [
    ("sgd", True), ("adam", True), ("adamw", True), ("nadam", True), ("nadamw", True),
    ("adamax", True), ("adamaxw", True), ("amsgrad", True), ("radam", True), ("adabelief", True),
    ("yogi", True), ("adagrad", True), ("rmsprop", True), ("adadelta", True), ("lion", True),
    ("sign_sgd", True), ("lamb", False), ("lars", False), ("novograd", False),
    ("adafactor", False),
])
def test_aliases_are_fusable_exactly_when_all_their_parts_are(name, fusable):
  make = getattr(jopt, name)
  for tx in (make(1e-3), jopt.inject_hyperparams(make)(1e-3)):
    if fusable:
      jopt.fused(tx).init({"w": jnp.zeros((2, 3))})
    else:
      with pytest.raises(ValueError, match="works leaf by leaf"):
        jopt.fused(tx)


def test_renaming_cannot_break_fused():
  """`fused` reads declarations, never a function's code, closure or name."""
  source = open(fused_lib.__file__).read()
  for word in ("__code__", "__closure__", "__qualname__", "co_freevars", "cell_contents"):
    assert word not in source
  make = lambda: jopt.named_chain(
      ("clip", jopt.clip_by_global_norm(1.0)),
      ("opt", jopt.chain(jopt.scale_by_adam(), jopt.add_decayed_weights(0.1, mask=_decay_mask),
                         jopt.scale_by_learning_rate(1e-2))))
  tx = make()

  def rename(t):  # what renaming the locals of every factory would do
    t.update.__name__ = t.update.__qualname__ = "renamed"
    for child in base.fusion_info(t).info.get("children", ()):
      rename(child)

  rename(tx)
  params = _tree()
  grads = _grads(params, 5)
  p_ref, _, _ = _run(make(), params, grads)
  p_fused, state, _ = _run(jopt.fused(tx, max_fused_leaf_size=256), params, grads)
  _assert_close(p_fused, p_ref, atol=1e-7)
  mu = state.inner_state["opt"][0].mu
  assert {"float32_m1", "float32_m0", "bfloat16_m1", "bfloat16_m0"} <= set(mu)  # split by mask
  # A transform that declares nothing, deep in jopt's combinators: named as unknown, with its place.
  with pytest.raises(ValueError, match=r"^fused: cannot fuse `<function scale_by_rms\.<locals>\."
                     r"update_fn>` from `optax[\w.]*` \(in named_chain\['opt'\] > chain\[1\]\): "
                     r"it is unknown to jopt"):
    jopt.fused(jopt.named_chain(("clip", jopt.clip_by_global_norm(1.0)),
                                ("opt", jopt.chain(jopt.scale_by_adam(), optax.scale_by_rms()))))


@pytest.mark.parametrize("make,name,kind", [
    (lambda: jopt.scale_by_adam(), "scale_by_adam", "elementwise"),
    (lambda: jopt.trace(0.9), "trace", "elementwise"),
    (lambda: jopt.add_decayed_weights(0.1), "add_decayed_weights", "elementwise"),
    (lambda: jopt.l1_proximal(0.1, 0.1), "l1_proximal", "elementwise"),
    (lambda: jopt.elastic_net_proximal(0.1, 0.1, 0.1), "elastic_net_proximal", "elementwise"),
    (lambda: jopt.clip_by_global_norm(1.0), "clip_by_global_norm", "global"),
    (lambda: jopt.group_lasso_proximal(0.1, 0.1), "group_lasso_proximal", "per_leaf"),
    (lambda: jopt.clip_by_block_rms(1.0), "clip_by_block_rms", "per_leaf"),
    (lambda: jopt.scale_by_trust_ratio(), "scale_by_trust_ratio", "per_leaf"),
    (lambda: jopt.centralize(), "centralize", "per_leaf"),
    (lambda: jopt.stateless(lambda u, p: u), "stateless", "unknown"),
    (lambda: jopt.chain(), "chain", "composite"),
    (lambda: jopt.masked(jopt.trace(0.9), _decay_mask), "masked", "composite"),
    (lambda: jopt.inject_hyperparams(jopt.sgd)(0.1), "inject_hyperparams(sgd)", "composite"),
    (lambda: jopt.MultiSteps(jopt.sgd(0.1), 2), "MultiSteps", "composite"),
    (lambda: jopt.MultiSteps(jopt.sgd(0.1), 2).gradient_transformation(), "MultiSteps",
     "composite"),
])
def test_declared_kinds(make, name, kind):
  info = base.fusion_info(make())
  assert (info.name, info.kind) == (name, kind)


def test_a_kind_declared_on_a_masked_transform_goes_to_what_it_masks():
  tx = jopt.add_decayed_weights(0.1, mask=_decay_mask)  # with_mask > masked > (wrapper) > leaf
  info = base.fusion_info(tx)
  assert (info.kind, info.info["forwards"]) == ("composite", True)
  while info.kind == "composite":
    inner = info.info["children"][0]
    info = base.fusion_info(inner)
  assert (info.name, info.kind) == ("add_decayed_weights", "elementwise")
  with pytest.raises(ValueError, match="declare_fusion: `kind` must be one of"):
    base.declare_fusion(jopt.identity(), "pointwise", "identity")
  assert base.fusion_info(jopt.GradientTransformation(jopt.init_empty_state, len)) is None


def test_a_factory_that_does_not_pass_its_mask_through_is_rejected():
  def my_adamw(learning_rate, mask):
    return jopt.adamw(learning_rate, mask=lambda p: mask(p))  # a new mask object

  tx = jopt.inject_hyperparams(my_adamw, static_args="mask")(1e-3, mask=_decay_mask)
  with pytest.raises(ValueError, match=r"cannot fuse `masked` \(in inject_hyperparams\(my_adamw\) "
                     r"> chain\[1\]\): its mask is not handed on"):
    jopt.fused(tx)
