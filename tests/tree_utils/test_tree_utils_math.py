"""jopt.tree_utils / jopt.tree arithmetic, reductions, moments, casting and random trees vs optax 0.2.8 and closed forms."""

import inspect
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt.tree as jtree
import jopt.tree_utils as jtu

# optax keeps these as deprecated module attributes (partials); compared by value below.
DEPRECATED = {"tree_l1_norm": 1, "tree_l2_norm": 2, "tree_linf_norm": "inf"}


def _params(fn):
  return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_namespaces_match_optax():
  optax_tu = {n for n in dir(optax.tree_utils) if not n.startswith("_")} - {"functools", "typing"}
  assert set(jtu.__all__) == optax_tu
  assert set(jtree.__all__) == {n for n in dir(optax.tree) if not n.startswith("_")}
  for short in jtree.__all__:
    assert getattr(jtree, short) is getattr(jtu, "tree_" + short), short


@pytest.mark.parametrize("name", sorted(jtu.__all__))
def test_signature_matches_optax(name):
  if name == "NamedTupleKey":
    assert [f.name for f in jtu.NamedTupleKey.__dataclass_fields__.values()] == ["tuple_name", "name"]
    return
  assert _params(getattr(jtu, name)) == _params(getattr(optax.tree_utils, name))


def small_tree(key, dtype=jnp.float32):
  """Two leaves, a matrix and a scalar, nested in a dict and a list (few shapes: few eager compiles)."""
  w, s = (jax.random.normal(k, shape) for k, shape in zip(jax.random.split(key, 2), ((2, 3), ())))
  if jnp.issubdtype(dtype, jnp.complexfloating):
    w, s = w + 0.5j * w[::-1], s - 2j * s
  return {"w": w.astype(dtype), "rest": [s.astype(dtype)]}


def _trees(seed=0):
  key = jax.random.PRNGKey(seed)
  return {
      "f32": small_tree(key),
      "bf16": small_tree(key, jnp.bfloat16),
      "c64": small_tree(key, jnp.complex64),
      "int": {"a": jnp.arange(-3, 3), "b": [jnp.array(7)]},
  }


def _check_same(ours, theirs, what, rtol=0.0, atol=0.0):
  assert jax.tree.structure(ours) == jax.tree.structure(theirs), what
  for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
    a, b = jnp.asarray(a), jnp.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (what, a.dtype, b.dtype)
    np.testing.assert_allclose(np.asarray(a, np.complex128 if jnp.iscomplexobj(a) else np.float64),
                               np.asarray(b, np.complex128 if jnp.iscomplexobj(b) else np.float64),
                               rtol=rtol, atol=atol, err_msg=what)


ALL = ("f32", "bf16", "c64", "int")
FLOAT = ("f32", "bf16", "c64")
# (name, function of (module, x, y), tree kinds it is checked on)
ELEMENTWISE = [
    ("tree_add", lambda m, x, y: (m.tree_add(x, y), m.tree_add(x, y, x)), ALL),
    ("tree_sub", lambda m, x, y: m.tree_sub(x, y), FLOAT),
    ("tree_mul", lambda m, x, y: m.tree_mul(x, y), ALL),
    ("tree_div", lambda m, x, y: m.tree_div(x, m.tree_add(m.tree_ones_like(y), m.tree_mul(y, y))), FLOAT),
    ("tree_scale", lambda m, x, y: m.tree_scale(jnp.float32(0.3), x), ALL),
    ("tree_add_scale", lambda m, x, y: m.tree_add_scale(x, 0.7, y), FLOAT),
    ("tree_conj_real", lambda m, x, y: (m.tree_conj(x), m.tree_real(x)), ("f32", "c64")),
    ("tree_where", lambda m, x, y: (m.tree_where(True, x, y), m.tree_where(jnp.array(False), x, y)), ("f32", "int")),
    ("tree_batch_shape", lambda m, x, y: m.tree_batch_shape(x, (2, 1)), ("f32",)),
    ("tree_vdot", lambda m, x, y: m.tree_vdot(x, y), ALL),
    ("tree_sum", lambda m, x, y: (m.tree_sum(x), m.tree_sum(x, associative_reduction=True)), ALL),
    ("tree_size", lambda m, x, y: m.tree_size(x), ("f32", "int")),
    ("tree_zeros_ones_full_like", lambda m, x, y: (
        m.tree_zeros_like(x), m.tree_zeros_like(x, jnp.int8), m.tree_ones_like(x), m.tree_ones_like(x, jnp.float16),
        m.tree_full_like(x, 2.5), m.tree_full_like(x, 3, jnp.bfloat16)), ("f32", "bf16", "int")),
    ("tree_allclose", lambda m, x, y: (m.tree_allclose(x, x), m.tree_allclose(x, y),
                                       m.tree_allclose(x, m.tree_add_scale(x, 1e-7, y), rtol=0, atol=1e-3)), ("f32",)),
]


@pytest.mark.parametrize("name,fn,kinds", ELEMENTWISE, ids=[e[0] for e in ELEMENTWISE])
def test_elementwise_and_reductions_match_optax(name, fn, kinds):
  xs, ys = _trees(0), _trees(1)
  for kind in kinds:
    x, y = xs[kind], ys[kind]
    ours, theirs = fn(jtu, x, y), fn(optax.tree_utils, x, y)
    # tree_vdot runs at HIGHEST precision in both; bf16 reductions may round differently.
    tol = 1e-2 if kind == "bf16" and name in ("tree_vdot", "tree_sum") else 1e-6
    _check_same(ours, theirs, f"{name} {kind}", rtol=tol, atol=tol)
    if kind == "f32" and name != "tree_size":  # tree_size is a Python int: not jittable
      _check_same(jax.jit(lambda x, y: fn(jtu, x, y))(x, y), theirs, f"{name} jit", rtol=tol, atol=tol)


def test_max_min_clip_match_optax():
  x = small_tree(jax.random.PRNGKey(3))
  x_empty = {"a": jnp.zeros((0,)), "b": jnp.array([2.0, -1.0])}
  for tree in (x, x_empty, {}, {"i": jnp.arange(5)}):
    for name in ("tree_max", "tree_min"):
      _check_same(getattr(jtu, name)(tree), getattr(optax.tree_utils, name)(tree), name)
  for lo, hi in ((None, 0.5), (-0.2, None), (-0.1, 0.1), (None, None)):
    _check_same(jtu.tree_clip(x, lo, hi), optax.tree_utils.tree_clip(x, lo, hi), "clip")


@pytest.mark.parametrize("ord_", [None, 1, 2, jnp.inf, "inf", "infinity"])
@pytest.mark.parametrize("squared", [False, True])
def test_norm_matches_optax(ord_, squared):
  for kind, tree in _trees(2).items():
    ours = jtu.tree_norm(tree, ord=ord_, squared=squared)
    theirs = optax.tree_utils.tree_norm(tree, ord=ord_, squared=squared)
    # bf16: jopt sums squares in float32, optax in bf16: same dtype, values within bf16 rounding.
    tol = 2e-2 if kind == "bf16" else 1e-6
    _check_same(ours, theirs, f"norm {kind}", rtol=tol, atol=tol)
    if kind == "c64" and ord_ is None:
      _check_same(jax.jit(lambda t: jtu.tree_norm(t, ord=ord_, squared=squared))(tree), theirs,
                  f"norm {kind} jit", rtol=tol, atol=tol)
  for tree in ({}, [jnp.arange(3)]):
    _check_same(jtu.tree_norm(tree, ord_, squared), optax.tree_utils.tree_norm(tree, ord_, squared), "norm")
  with pytest.raises(ValueError, match="ord"):
    jtu.tree_norm(tree, ord=3)


def test_l2_norm_accumulates_low_precision_in_float32():
  x = jnp.asarray(0.01 + 1e-3 * np.random.default_rng(0).random(4096), jnp.bfloat16)
  tree = {"a": x, "b": [x[:100], x[:7]]}
  exact = np.sqrt(sum(np.sum(np.asarray(l, np.float64) ** 2) for l in jax.tree.leaves(tree)))
  ours = jtu.tree_norm(tree)
  theirs = optax.tree_utils.tree_norm(tree)
  assert ours.dtype == theirs.dtype == jnp.bfloat16
  assert abs(float(ours) - exact) <= abs(float(theirs) - exact)
  assert abs(float(ours) - exact) <= 2 ** -8 * exact  # one bf16 rounding of the result
  assert jnp.isnan(jtu.tree_norm({"a": x, "n": jnp.array([jnp.nan], jnp.bfloat16)}))


@pytest.mark.parametrize("name,ord_", sorted(DEPRECATED.items()))
def test_deprecated_norm_names(name, ord_):
  tree = small_tree(jax.random.PRNGKey(4), jnp.complex64)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    theirs = getattr(optax.tree_utils, name)
    theirs_sq = theirs(tree, squared=True)
    theirs = theirs(tree)
  _check_same(getattr(jtu, name)(tree), theirs, name, rtol=1e-6)
  _check_same(getattr(jtu, name)(tree, squared=True), theirs_sq, name, rtol=1e-6)
  assert jtu.tree_scalar_mul is jtu.tree_scale and jtu.tree_add_scalar_mul is jtu.tree_add_scale


@pytest.mark.parametrize("order", [1, 2, 3])
def test_moments_match_optax(order):
  key = jax.random.PRNGKey(order)
  for dtype in (jnp.float32, jnp.bfloat16, jnp.complex64):
    g, m = small_tree(key, dtype), small_tree(jax.random.PRNGKey(9), dtype)
    m_real = jtu.tree_real(m) if dtype == jnp.complex64 else m
    for decay in (0.0, 0.999):
      _check_same(jtu.tree_update_moment(g, m, decay, order),
                  optax.tree_utils.tree_update_moment(g, m, decay, order), "moment")
      _check_same(jtu.tree_update_moment_per_elem_norm(g, m_real, decay, order),
                  optax.tree_utils.tree_update_moment_per_elem_norm(g, m_real, decay, order), "per elem")
      _check_same(jtu.tree_update_infinity_moment(g, m_real, decay, 1e-8),
                  optax.tree_utils.tree_update_infinity_moment(g, m_real, decay, 1e-8), "inf moment")
  with_none = {"a": None, "b": jnp.ones(2)}
  out = jtu.tree_update_infinity_moment(with_none, {"a": None, "b": jnp.zeros(2)}, 0.9, 0.0)
  assert out["a"] is None and np.allclose(out["b"], 1.0)


def test_bias_correction_close_to_optax_and_to_exact():
  # Both float32 forms of 1 - b^t (optax's power, or -expm1(t log b)) are within
  # 1e-4 of the exact value; a wrong formula is not.
  m = small_tree(jax.random.PRNGKey(5))
  for decay in (0.0, 0.5, 0.9, 0.999, 0.9999):
    for count in (1, 2, 10, 1000, 100000):
      ours = jtu.tree_bias_correction(m, decay, jnp.asarray(count, jnp.int32))
      theirs = optax.tree_utils.tree_bias_correction(m, decay, jnp.asarray(count, jnp.int32))
      _check_same(ours, theirs, "bias correction", rtol=1e-4)
      exact = 1 - np.float64(np.float32(decay)) ** count  # decay as stored in float32
      for a, leaf in zip(jax.tree.leaves(ours), jax.tree.leaves(m)):
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(leaf, np.float64) / exact, rtol=1e-4)
  m16 = small_tree(jax.random.PRNGKey(5), jnp.bfloat16)
  _check_same(jtu.tree_bias_correction(m16, 0.999, jnp.asarray(3)),
              optax.tree_utils.tree_bias_correction(m16, 0.999, jnp.asarray(3)), "bf16", rtol=1e-2)


def test_cast_and_dtype_match_optax():
  tree = {"a": jnp.ones(2, jnp.float32), "b": [jnp.ones(3, jnp.bfloat16)], "c": jnp.arange(2)}
  for dtype in (None, jnp.float16, jnp.int32):
    _check_same(jtu.tree_cast(tree, dtype), optax.tree_utils.tree_cast(tree, dtype), "cast")
  other = {"a": jnp.zeros(2, jnp.bfloat16), "b": [1.0], "c": jnp.zeros(2, jnp.float32)}
  _check_same(jtu.tree_cast_like(tree, other), optax.tree_utils.tree_cast_like(tree, other), "cast_like")
  for handler in ("promote", "highest", "lowest"):
    assert jtu.tree_dtype(tree, handler) == optax.tree_utils.tree_dtype(tree, handler)
  assert jtu.tree_dtype({}) == optax.tree_utils.tree_dtype({})
  assert jtu.tree_dtype(tree["b"]) == optax.tree_utils.tree_dtype(tree["b"]) == jnp.bfloat16
  incomparable = {"i": jnp.zeros(1, jnp.int8), "u": jnp.zeros(1, jnp.uint8)}
  for handler, bad in ((None, tree), ("highest", incomparable), ("lowest", incomparable), ("nope", tree)):
    with pytest.raises(ValueError):
      optax.tree_utils.tree_dtype(bad, handler)
    with pytest.raises(ValueError):
      jtu.tree_dtype(bad, handler)
  assert jtu.tree_dtype(incomparable, "promote") == optax.tree_utils.tree_dtype(incomparable, "promote")


def test_random_trees_are_optax_draws():
  target = {"a": jnp.zeros((2, 3)), "b": [jnp.zeros(4, jnp.bfloat16), jnp.zeros((), jnp.float16)]}
  key = jax.random.key(7)
  # A sampler taking `out_sharding` (jax's) and one that does not.
  for sampler, dtype in ((jax.random.normal, None),
                         (lambda k, s, d: jax.random.uniform(k, s, d) < 0.3, jnp.float32)):
    ours = jtu.tree_random_like(key, target, sampler, dtype)
    theirs = optax.tree_utils.tree_random_like(key, target, sampler, dtype)
    _check_same(ours, theirs, "random_like")
  _check_same(jax.jit(lambda k: jtu.tree_random_like(k, target))(key),
              optax.tree_utils.tree_random_like(key, target), "jit")
  keys = jtu.tree_split_key_like(jax.random.PRNGKey(1), target)
  ref = optax.tree_utils.tree_split_key_like(jax.random.PRNGKey(1), target)
  _check_same(keys, ref, "split keys")
  typed = {"k": jax.random.key(3), "x": jnp.ones(2)}
  _check_same(jtu.tree_unwrap_random_key_data(typed), optax.tree_utils.tree_unwrap_random_key_data(typed), "unwrap")
  assert jtu.tree_unwrap_random_key_data(typed)["k"].dtype == jnp.uint32
