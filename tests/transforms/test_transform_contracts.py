"""Clipping, noise, constraints, sign, layer-wise, factored transforms, multi_transform and their optimizers vs optax, step by step."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
from parity import assert_trajectories_match, random_tree

SCHED = lambda count: 0.02 * jnp.cos(0.1 * count)  # a schedule both libraries call the same way


def _decay_matrices(p):
  return jax.tree.map(lambda x: x.ndim > 1, p)


def _factored_params(seed=7):
  """The harness tree plus leaves with two large axes, so Adafactor factors them."""
  params = random_tree(jax.random.PRNGKey(seed))
  k1, k2 = jax.random.split(jax.random.PRNGKey(seed + 1))
  params["big"] = jax.random.normal(k1, (64, 160))
  params["conv"] = jax.random.normal(k2, (3, 40, 8))  # two axes >= 8, not the first two
  return params


# (name, kwargs, extra harness kwargs). Every draw runs under jit.
OPTIMIZER_CASES = [
    ("noisy_sgd", dict(learning_rate=0.1, key=0), {}),
    ("noisy_sgd", dict(learning_rate=SCHED, eta=0.1, gamma=0.3, key=jax.random.key(3)), {}),
    ("sign_sgd", dict(learning_rate=0.1), {}),
    ("sign_sgd", dict(learning_rate=SCHED), {}),
    ("lion", dict(learning_rate=1e-3), {}),
    ("lion", dict(learning_rate=SCHED, b1=0.5, b2=0.9, weight_decay=0.1, mask=_decay_matrices), {}),
    ("lion", dict(learning_rate=3e-3, b1=0.0, b2=0.0, weight_decay=lambda c: 0.01 * c), {}),
    ("lamb", dict(learning_rate=1e-2), {}),
    ("lamb", dict(learning_rate=SCHED, b1=0.5, b2=0.99, eps=1e-4, eps_root=1e-8, weight_decay=0.1,
                  mask=_decay_matrices), {}),
    ("lars", dict(learning_rate=0.1), {}),
    ("lars", dict(learning_rate=SCHED, weight_decay=0.01, trust_coefficient=0.02, eps=1e-3, momentum=0.5,
                  nesterov=True), {}),
    ("lars", dict(learning_rate=0.05, weight_decay=0.1, weight_decay_mask=_decay_matrices,
                  trust_ratio_mask=lambda p: {**{k: True for k in p}, "scalar": False}), {}),
    ("novograd", dict(learning_rate=1e-2), {}),
    ("novograd", dict(learning_rate=SCHED, b1=0.5, b2=0.5, eps=1e-4, eps_root=1e-6, weight_decay=0.01), {}),
    ("adafactor", dict(learning_rate=1e-2), {}),
    ("adafactor", dict(learning_rate=SCHED, momentum=0.9, weight_decay_rate=1e-3, clipping_threshold=None,
                       multiply_by_parameter_scale=False, decay_rate=0.5), {}),
    ("adafactor", dict(learning_rate=1e-2, min_dim_size_to_factor=8, weight_decay_rate=1e-2,
                       weight_decay_mask=_decay_matrices), dict(params=_factored_params())),
    ("adafactor", dict(learning_rate=SCHED, min_dim_size_to_factor=32, momentum=0.5, clipping_threshold=2.0,
                       factored=True), dict(params=_factored_params(11))),
    ("adafactor", dict(factored=False, eps=1e-10), {}),
]


def _ids(cases):
  return [f"{c[0]}-{i}" for i, c in enumerate(cases)]


@pytest.mark.parametrize("name,kwargs,extra", OPTIMIZER_CASES, ids=_ids(OPTIMIZER_CASES))
def test_optimizer_trajectory(name, kwargs, extra):
  assert_trajectories_match(getattr(jopt, name)(**kwargs), getattr(optax, name)(**kwargs), **extra)


# Building blocks return O(1) updates: params take a 1e-2 step of them, as under an optimizer.
BLOCK_CASES = [
    ("clip", dict(max_delta=0.5), {}),
    ("clip_by_global_norm", dict(max_norm=1.0), {}),
    ("clip_by_global_norm", dict(max_norm=100.0), {}),  # never clips
    ("clip_by_block_rms", dict(threshold=0.5), {}),
    ("add_noise", dict(eta=0.1, gamma=0.55, key=0), {}),
    ("zero_nans", dict(), {}),
    ("keep_params_nonnegative", dict(), dict(apply_scale=1.0)),
    ("scale_by_sign", dict(), {}),
    ("scale_by_lion", dict(), {}),
    ("scale_by_lion", dict(b1=0.5, b2=0.5, mode="smooth", smooth_beta=2.0), {}),
    ("scale_by_lion", dict(mode="refined", mu_dtype=jnp.bfloat16), dict(rtol=1e-4, atol=1e-5)),
    ("scale_by_trust_ratio", dict(), {}),
    ("scale_by_trust_ratio", dict(min_norm=3.0, trust_coefficient=0.5, eps=1e-3), {}),
    ("scale_by_novograd", dict(), {}),
    ("scale_by_novograd", dict(b1=0.0, b2=0.9, eps=1e-3, weight_decay=0.1, mu_dtype=jnp.float32), {}),
    ("scale_by_factored_rms", dict(), {}),
    ("scale_by_factored_rms", dict(min_dim_size_to_factor=3, decay_rate=0.5, epsilon=1e-6), {}),
    ("scale_by_factored_rms", dict(min_dim_size_to_factor=16), dict(params=_factored_params())),
    ("centralize", dict(), {}),
    ("scale_by_param_block_rms", dict(), {}),
    ("scale_by_param_block_norm", dict(min_scale=2.0), {}),
]


@pytest.mark.parametrize("name,kwargs,extra", BLOCK_CASES, ids=_ids(BLOCK_CASES))
def test_building_block_trajectory(name, kwargs, extra):
  extra = {"apply_scale": 1e-2, **extra}
  assert_trajectories_match(getattr(jopt, name)(**kwargs), getattr(optax, name)(**kwargs), **extra)


# One draw per name, eagerly and under pmap over 2 devices.
MODE_CASES = [
    ("noisy_sgd", dict(learning_rate=0.1, key=1), 1.0),
    ("sign_sgd", dict(learning_rate=0.1), 1.0),
    ("lion", dict(learning_rate=1e-2, weight_decay=0.1), 1.0),
    ("lamb", dict(learning_rate=1e-2, weight_decay=0.1), 1.0),
    ("lars", dict(learning_rate=0.1, weight_decay=0.01), 1.0),
    ("novograd", dict(learning_rate=1e-2), 1.0),
    ("adafactor", dict(learning_rate=1e-2, momentum=0.9, min_dim_size_to_factor=4), 1.0),
    ("clip_by_global_norm", dict(max_norm=1.0), 1e-2),
    ("clip_by_block_rms", dict(threshold=0.5), 1e-2),
    ("centralize", dict(), 1e-2),
    ("zero_nans", dict(), 1e-2),
]


@pytest.mark.parametrize("mode", ["eager", "pmap"])
@pytest.mark.parametrize("name,kwargs,apply_scale", MODE_CASES, ids=[c[0] for c in MODE_CASES])
def test_eager_and_pmap(name, kwargs, apply_scale, mode):
  assert_trajectories_match(
      getattr(jopt, name)(**kwargs), getattr(optax, name)(**kwargs), mode=mode, steps=5,
      apply_scale=apply_scale,
  )


# --- multi_transform -----------------------------------------------------------


def _multi(lib, labels):
  return lib.multi_transform(
      {"adam": lib.adam(1e-2), "sgd": lib.sgd(0.1, momentum=0.9), "lion": lib.lion(1e-3)}, labels
  )


@pytest.mark.parametrize("labels", [
    {"dense": {"w": "adam", "b": "sgd"}, "scalar": "sgd", "stack": "lion"},  # a prefix of the params
    lambda p: jax.tree.map(lambda x: "adam" if x.ndim > 1 else ("sgd" if x.ndim else "lion"), p),
], ids=["tree", "callable"])
def test_multi_transform(labels):
  assert_trajectories_match(_multi(jopt, labels), _multi(optax, labels))


def test_multi_transform_state_and_unknown_label():
  params = random_tree(jax.random.PRNGKey(0))
  labels = {"dense": "adam", "scalar": "sgd", "stack": "sgd"}
  state = _multi(jopt, labels).init(params)
  assert isinstance(state, jopt.MultiTransformState) and set(state.inner_states) == {"adam", "sgd", "lion"}
  with pytest.raises(ValueError, match="param_labels.*'rmsprop'"):
    _multi(jopt, {**labels, "scalar": "rmsprop"}).init(params)


# --- numerics where jopt differs from optax --------------------------------------


def _run(tx, params, steps=5, state=None):
  state = tx.init(params) if state is None else state
  step = jax.jit(lambda p, s, g: tx.update(g, s, p))
  out = []
  for k in range(steps):
    grads = jax.tree.map(lambda x: jnp.sin(x * (k + 1.0) + 0.3).astype(x.dtype), params)
    updates, state = step(params, state, grads)
    params = jax.tree.map(lambda p, u: (p + u).astype(p.dtype), params, updates)
    out.append(updates)
  return params, state, out


def _finite(tree):
  return all(bool(jnp.all(jnp.isfinite(l))) for l in jax.tree.leaves(tree))


@pytest.mark.parametrize("decay_offset", [1, 5])
def test_adafactor_decay_offset_is_finite_from_a_fresh_state(decay_offset):
  params = {"w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), "big": jnp.ones((8, 6))}
  kwargs = dict(learning_rate=1e-2, decay_offset=decay_offset, min_dim_size_to_factor=4)
  p_ref, _, _ = _run(optax.adafactor(**kwargs), params)
  assert not _finite(p_ref)  # optax: 0 ** -0.8 in the decay rate, then NaN forever
  p, state, _ = _run(jopt.adafactor(**kwargs), params, steps=decay_offset + 3)
  assert _finite(p) and _finite(state)
  # From a count at or past the offset, jopt and optax agree.
  ours, theirs = jopt.adafactor(**kwargs), optax.adafactor(**kwargs)
  s1 = ours.init(params)
  s1 = (s1[0]._replace(count=jnp.int32(decay_offset)),) + tuple(s1[1:])
  s2 = theirs.init(params)
  s2 = (s2[0]._replace(count=jnp.int32(decay_offset)),) + tuple(s2[1:])
  p1, _, _ = _run(ours, params, state=s1)
  p2, _, _ = _run(theirs, params, state=s2)
  for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(p2)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_adafactor_bf16_momentum_keeps_dtype():
  params = {"w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4).astype(jnp.bfloat16), "b": jnp.ones(3, jnp.bfloat16)}
  kwargs = dict(learning_rate=1e-2, momentum=0.9, min_dim_size_to_factor=2)
  p1, state, updates = _run(jopt.adafactor(**kwargs), params)
  p2, _, ref_updates = _run(optax.adafactor(**kwargs), params)
  assert all(u.dtype == jnp.bfloat16 for u in jax.tree.leaves(updates[-1]))
  assert any(u.dtype == jnp.float32 for u in jax.tree.leaves(ref_updates[-1]))  # optax promotes
  for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(p2)):
    np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b, np.float32), rtol=2e-2, atol=2e-2)


def test_zero_nans_matches_optax_on_nans():
  grads = {"a": jnp.array([1.0, jnp.nan, 3.0]), "b": jnp.ones((2, 2)), "c": jnp.array(jnp.inf)}
  for lib in (jopt, optax):
    tx = lib.zero_nans()
    u, s = tx.update(grads, tx.init(grads))
    np.testing.assert_array_equal(u["a"], [1.0, 0.0, 3.0])
    assert bool(s.found_nan["a"]) and not bool(s.found_nan["b"]) and not bool(s.found_nan["c"])
    assert u["c"] == jnp.inf


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


def test_add_noise_key_forms_and_warning():
  g = {"a": jnp.zeros(4), "b": jnp.zeros((2, 3))}
  with pytest.warns(UserWarning, match="key"):
    default = jopt.add_noise(0.1, 0.5)
  u0, _ = default.update(g, default.init(g))
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ref = optax.add_noise(0.1, 0.5)
  u_ref, _ = ref.update(g, ref.init(g))
  for key in (0, jax.random.key(0), jax.random.PRNGKey(0)):
    tx = jopt.add_noise(0.1, 0.5, key)
    u, _ = tx.update(g, tx.init(g))
    for a, b, c in zip(jax.tree.leaves(u), jax.tree.leaves(u0), jax.tree.leaves(u_ref)):
      np.testing.assert_array_equal(a, b)
      np.testing.assert_array_equal(a, c)


def test_novograd_has_no_cond():
  """optax's novograd switches on the first step with `lax.cond` (fresh branches each eager call, so it
  recompiles every step); jopt's switch is a scalar `where`."""
  params = {"w": jnp.ones((3, 2))}

  def prims(lib):
    tx = lib.novograd(1e-2)
    jaxpr = jax.make_jaxpr(lambda p, s: tx.update(p, s, p))(params, tx.init(params))
    return {e.primitive.name for e in jaxpr.jaxpr.eqns}

  assert "cond" in prims(optax)
  assert "cond" not in prims(jopt)


# --- bad input ------------------------------------------------------------------


@pytest.mark.parametrize("name,kwargs,arg", [
    ("clip", dict(max_delta=-1.0), "max_delta"),
    ("clip_by_global_norm", dict(max_norm=-1.0), "max_norm"),
    ("clip_by_block_rms", dict(threshold=-0.5), "threshold"),
    ("add_noise", dict(eta=-0.1, gamma=0.5, key=0), "eta"),
    ("scale_by_lion", dict(b1=1.5), "b1"),
    ("scale_by_lion", dict(b2=1.0), "b2"),
    ("scale_by_lion", dict(mode="soft"), "mode"),
    ("scale_by_trust_ratio", dict(min_norm=-1.0), "min_norm"),
    ("scale_by_trust_ratio", dict(trust_coefficient=-1.0), "trust_coefficient"),
    ("scale_by_novograd", dict(b2=1.0), "b2"),
    ("scale_by_novograd", dict(eps=-1e-8), "eps"),
    ("scale_by_factored_rms", dict(min_dim_size_to_factor=0), "min_dim_size_to_factor"),
    ("scale_by_factored_rms", dict(min_dim_size_to_factor=2.5), "min_dim_size_to_factor"),
    ("scale_by_factored_rms", dict(epsilon=-1.0), "epsilon"),
    ("scale_by_factored_rms", dict(step_offset=-1), "step_offset"),
    ("scale_by_param_block_rms", dict(min_scale=-1.0), "min_scale"),
    ("noisy_sgd", dict(learning_rate=-0.1, key=0), "learning_rate"),
    ("noisy_sgd", dict(learning_rate=0.1, eta=-1.0, key=0), "eta"),
    ("lion", dict(learning_rate=1e-3, weight_decay=-1.0), "weight_decay"),
    ("lamb", dict(learning_rate=1e-3, b1=1.0), "b1"),
    ("lars", dict(learning_rate=0.1, momentum=1.0), "decay"),
    ("lars", dict(learning_rate=0.1, trust_coefficient=-1.0), "trust_coefficient"),
    ("novograd", dict(learning_rate=-1.0), "learning_rate"),
    ("adafactor", dict(min_dim_size_to_factor=0), "min_dim_size_to_factor"),
    ("adafactor", dict(momentum=1.5), "momentum"),
    ("adafactor", dict(clipping_threshold=-1.0), "clipping_threshold"),
    ("adafactor", dict(learning_rate=-1.0), "learning_rate"),
])
def test_bad_input_names_the_argument(name, kwargs, arg):
  with pytest.raises(ValueError, match=arg):
    getattr(jopt, name)(**kwargs)


STATELESS = [
    ("clip", (1.0,)), ("clip_by_global_norm", (1.0,)), ("clip_by_block_rms", (1.0,)),
    ("centralize", ()), ("scale_by_sign", ()), ("add_noise", (0.1, 0.5, 0)), ("zero_nans", ()),
    ("keep_params_nonnegative", ()), ("scale_by_trust_ratio", ()), ("scale_by_param_block_rms", ()),
    ("scale_by_lion", ()), ("scale_by_novograd", ()), ("scale_by_factored_rms", ()),
]


@pytest.mark.parametrize("name,args", STATELESS, ids=[s[0] for s in STATELESS])
def test_mismatched_tree_raises(name, args):
  params = {"w": jnp.ones((3, 4)), "b": jnp.ones(3)}
  wrong = {"w": params["w"], "b": params["b"], "extra": params["b"]}
  tx = getattr(jopt, name)(*args)
  state = tx.init(params)
  with pytest.raises(ValueError, match="tree"):
    tx.update(wrong, state, params)


@pytest.mark.parametrize("name", ["keep_params_nonnegative", "scale_by_trust_ratio", "scale_by_factored_rms",
                                  "scale_by_param_block_rms"])
def test_missing_params_names_the_transform(name):
  params = {"w": jnp.ones((3, 4))}
  tx = getattr(jopt, name)()
  state = tx.init(params)
  for call in (lambda: tx.update(params, state), lambda: tx.update(params, state, None)):
    with pytest.raises(ValueError, match=f"{name}.*params"):
      call()


@pytest.mark.parametrize("name,kwargs", [
    ("clip_by_global_norm", dict(max_norm=1.0)), ("add_noise", dict(eta=0.1, gamma=0.5, key=0)),
    ("zero_nans", {}), ("scale_by_lion", {}), ("scale_by_novograd", {}),
    ("scale_by_factored_rms", dict(min_dim_size_to_factor=4)),
])
def test_abstract_init(name, kwargs):
  tx = getattr(jopt, name)(**kwargs)
  params = {"w": jnp.ones((8, 6)), "b": jnp.ones(3), "s": jnp.float32(1.0)}
  abstract, concrete = jax.eval_shape(tx.init, params), tx.init(params)
  assert jax.tree.structure(abstract) == jax.tree.structure(concrete)
  for a, c in zip(jax.tree.leaves(abstract), jax.tree.leaves(concrete)):
    assert a.shape == jnp.shape(c) and a.dtype == jnp.asarray(c).dtype
