"""Top-level numeric utilities (global_norm, safe_norm, safe_root_mean_squares, safe_increment, power_iteration,
matrix_inverse_pth_root, nnls, multi_normal) vs optax 0.2.8 and closed forms."""

import inspect
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jopt._src.linalg.counters import safe_increment
from jopt._src.linalg.counters import safe_int32_increment
from jopt._src.linalg.eigen import matrix_inverse_pth_root
from jopt._src.linalg.eigen import power_iteration
from jopt._src.linalg.multi_normal import multi_normal
from jopt._src.linalg.nnls import nnls
from jopt._src.linalg.norms import global_norm
from jopt._src.linalg.norms import safe_norm
from jopt._src.linalg.norms import safe_root_mean_squares

OURS = {f.__name__: f for f in (global_norm, safe_norm, safe_root_mean_squares, safe_increment,
                                safe_int32_increment, power_iteration, matrix_inverse_pth_root, nnls, multi_normal)}


@pytest.mark.parametrize("name", sorted(OURS))
def test_signature_matches_optax(name):
  params = lambda fn: [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]
  assert params(OURS[name]) == params(getattr(optax, name))


def _optax_global_norm(tree):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    return optax.global_norm(tree)


def test_global_norm():
  tree = {"w": jnp.arange(6.0).reshape(2, 3) - 2, "b": [jnp.array([1 + 2j, -3j], jnp.complex64)]}
  np.testing.assert_allclose(global_norm(tree), _optax_global_norm(tree), rtol=1e-7)
  np.testing.assert_allclose(global_norm(tree), np.sqrt(1 + 4 + 0 + 1 + 4 + 9 + 5 + 9), rtol=1e-7)
  # bf16/f16 leaves are summed in float32 (optax: in the leaf dtype).
  x = jnp.asarray(0.01 + 1e-3 * np.random.default_rng(0).random(5000), jnp.bfloat16)
  low = {"a": x, "b": x[:300].astype(jnp.float16)}
  exact = np.sqrt(sum(np.sum(np.asarray(l, np.float64) ** 2) for l in jax.tree.leaves(low)))
  assert global_norm(low).dtype == jnp.float32
  # Squares are rounded to the leaf dtype before the float32 sum: ~1e-5, unbiased.
  assert abs(float(global_norm(low)) / exact - 1) < 1e-4
  assert abs(float(global_norm(low)) - exact) < abs(float(_optax_global_norm(low)) - exact)
  assert jnp.isnan(global_norm({"a": x, "n": jnp.array([1.0, jnp.nan], jnp.bfloat16)}))
  assert jnp.isposinf(jax.jit(global_norm)({"a": jnp.ones(3), "n": jnp.array([jnp.inf, 1.0])}))


def test_safe_norm_and_rms_values_and_gradients():
  x = jnp.array([[3.0, -4.0, 0.0], [0.0, 0.0, 0.0]])
  # The second row of x is zero: its norm is clamped (gradient 0, not NaN).
  cases = [(dict(ord=1), 6.0), (dict(axis=1, keepdims=True), 1e-3)]

  def values_and_grads(fn):
    # One compilation per implementation: every case's value and gradient.
    return jax.jit(lambda v: [(fn(v, m, **kw), jax.grad(lambda u: jnp.sum(fn(u, m, **kw)))(v))
                              for kw, m in cases])(x)

  for (kwargs, _), ours, theirs in zip(cases, values_and_grads(safe_norm), values_and_grads(optax.safe_norm)):
    assert ours[0].shape == theirs[0].shape, kwargs
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6, err_msg=str(kwargs))
    assert jnp.all(jnp.isfinite(ours[1]))
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-6, atol=1e-7, err_msg=str(kwargs))
  # Closed form: max(||x||, m), gradient x/||x|| above the floor and 0 below it.
  np.testing.assert_allclose(safe_norm(x, 1.0), 5.0)
  np.testing.assert_allclose(jax.grad(lambda v: safe_norm(v, 1.0))(x), x / 5.0)
  np.testing.assert_array_equal(jax.grad(lambda v: safe_norm(v, 1.0))(jnp.zeros(3)), 0.0)
  for v, m in ((jnp.array([3.0, -4.0]), 0.1), (jnp.zeros(4), 0.5), (jnp.array([1j, 1.0]), 0.0)):
    np.testing.assert_allclose(safe_root_mean_squares(v, m), optax.safe_root_mean_squares(v, m), rtol=1e-7)
    np.testing.assert_allclose(safe_root_mean_squares(v, m), max(np.sqrt(np.mean(np.abs(np.asarray(v)) ** 2)), m), rtol=1e-6)
  real = jnp.array([3.0, -4.0])
  np.testing.assert_allclose(jax.grad(safe_root_mean_squares)(real, 0.1), jax.grad(optax.safe_root_mean_squares)(real, 0.1))
  np.testing.assert_array_equal(jax.grad(safe_root_mean_squares)(jnp.zeros(3), 0.5), 0.0)


def test_safe_increment():
  for count in (jnp.asarray(0, jnp.int32), jnp.asarray(2**31 - 1, jnp.int32), jnp.asarray(-5, jnp.int32),
                jnp.asarray(127, jnp.int8), jnp.asarray(255, jnp.uint8), jnp.asarray(1.5, jnp.float32),
                jnp.asarray(3, jnp.bfloat16), 7):
    for fn, ref in ((safe_increment, optax.safe_increment), (safe_int32_increment, optax.safe_int32_increment)):
      ours, theirs = fn(count), ref(count)
      assert jnp.asarray(ours).dtype == jnp.asarray(theirs).dtype
      np.testing.assert_array_equal(ours, theirs)
  assert int(safe_increment(jnp.asarray(2**31 - 1, jnp.int32))) == 2**31 - 1
  assert int(jax.jit(safe_increment)(jnp.asarray(41, jnp.int32))) == 42
  # Under jit at the maximum of unsigned counters (whose maxima exceed int32: jopt used to overflow
  # converting the Python maximum) and of floats, as optax.
  for dtype in (jnp.uint16, jnp.uint32, jnp.int16, jnp.float16, jnp.float32):
    info = jnp.iinfo(dtype) if jnp.issubdtype(dtype, jnp.integer) else jnp.finfo(dtype)
    for value in (3, info.max):
      count = jnp.asarray(value, dtype)
      ours, theirs = jax.jit(safe_increment)(count), jax.jit(optax.safe_increment)(count)
      assert ours.dtype == theirs.dtype == dtype
      np.testing.assert_array_equal(ours, theirs)
  for bad in (jnp.asarray(True), jnp.asarray(1j)):
    with pytest.raises(ValueError):
      optax.safe_increment(bad)
    with pytest.raises(ValueError, match="safe_increment"):
      safe_increment(bad)


def _spd(n, seed, cond=10.0):
  rng = np.random.default_rng(seed)
  q, _ = np.linalg.qr(rng.normal(size=(n, n)))
  eig = np.geomspace(1.0, cond, n)
  return jnp.asarray((q * eig) @ q.T, jnp.float32), eig


def test_power_iteration():
  a, eig = _spd(6, 0)
  for kwargs in (dict(num_iters=3, key=jax.random.PRNGKey(4)), dict(v0=jnp.ones(6), error_tolerance=1e-4)):
    ours = jax.jit(lambda m: power_iteration(m, **kwargs))(a)
    theirs = jax.jit(lambda m: optax.power_iteration(m, **kwargs))(a)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-5, atol=1e-6)
  value, vector = jax.jit(lambda m: power_iteration(m, num_iters=500, error_tolerance=1e-7))(a)
  np.testing.assert_allclose(value, eig.max(), rtol=1e-5)
  np.testing.assert_allclose(np.abs(a @ vector), np.abs(value * vector), atol=1e-3)
  # A matrix-free operator on a tree.
  mvp = lambda t: {"x": a[:3, :3] @ t["x"] + a[:3, 3:] @ t["y"], "y": a[3:, :3] @ t["x"] + a[3:, 3:] @ t["y"]}
  v0 = {"x": jnp.ones(3), "y": jnp.arange(3.0)}
  ours = jax.jit(lambda v: power_iteration(mvp, v0=v))(v0)
  np.testing.assert_allclose(ours[0], eig.max(), rtol=1e-4)
  np.testing.assert_allclose(np.abs(np.concatenate([ours[1]["x"], ours[1]["y"]])), np.abs(np.asarray(vector)), atol=1e-2)
  with pytest.raises(ValueError, match="v0"):
    power_iteration(mvp)


def test_matrix_inverse_pth_root():
  a, eig = _spd(5, 1, cond=4.0)
  exact = lambda p: np.asarray(jnp.linalg.eigh(a.astype(jnp.float32))[1]) @ np.diag(
      np.asarray(jnp.linalg.eigh(a)[0]) ** (-1.0 / p)) @ np.asarray(jnp.linalg.eigh(a)[1]).T
  ours, err = jax.jit(matrix_inverse_pth_root, static_argnums=1)(a, 4)
  theirs, err_ref = jax.jit(optax.matrix_inverse_pth_root, static_argnums=1)(a, 4)
  assert ours.dtype == theirs.dtype
  np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(err, err_ref, atol=1e-5)
  np.testing.assert_allclose(ours, exact(4), rtol=1e-3, atol=1e-3)
  # p = 3: jopt takes the true cube (optax squares instead and returns a wrong root).
  ours, _ = jax.jit(matrix_inverse_pth_root, static_argnums=1)(a, 3)
  np.testing.assert_allclose(ours, exact(3), rtol=1e-3, atol=1e-3)
  np.testing.assert_allclose(matrix_inverse_pth_root(jnp.array([[4.0]]), 2)[0], 0.5, rtol=1e-5)
  with pytest.raises(ValueError, match="positive integer"):
    matrix_inverse_pth_root(a, 1.5)


def test_nnls():
  rng = np.random.default_rng(2)
  a = jnp.asarray(rng.normal(size=(8, 5)), jnp.float32)
  for b, kwargs in ((jnp.asarray(rng.normal(size=8), jnp.float32), dict()),
                    (jnp.asarray(rng.normal(size=(8, 2)), jnp.float32), dict(L=100.0, unroll=2))):
    ours = jax.jit(nnls, static_argnames=("iters", "unroll"))(a, b, iters=50, **kwargs)
    theirs = jax.jit(optax.nnls, static_argnames=("iters", "unroll"))(a, b, iters=50, **kwargs)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
  try:
    from scipy.optimize import nnls as scipy_nnls  # pylint: disable=g-import-not-at-top
  except ImportError:
    return
  b = jnp.asarray(rng.normal(size=8), jnp.float32)
  x = nnls(a, b, 3000)
  ref, _ = scipy_nnls(np.asarray(a, np.float64), np.asarray(b, np.float64))
  np.testing.assert_allclose(x, ref, atol=1e-3)
  with pytest.raises(ValueError, match="nnls"):
    nnls(a, jnp.ones(3), 10)


def test_multi_normal():
  loc, log_scale = jnp.array([0.5, -1.0, 2.0]), jnp.array([0.1, -0.3, 0.0])
  ours, theirs = multi_normal(loc, log_scale), optax.multi_normal(loc, log_scale)
  key = jax.random.PRNGKey(0)
  np.testing.assert_array_equal(ours.sample((4,), key), theirs.sample((4,), key))
  x = ours.sample((2, 5), key)
  assert x.shape == (2, 5, 3)
  np.testing.assert_allclose(ours.log_prob(x), theirs.log_prob(x), rtol=1e-6)
  sigma = np.exp(np.asarray(log_scale))
  closed = np.sum(-0.5 * ((np.asarray(x) - np.asarray(loc)) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi), -1)
  np.testing.assert_allclose(ours.log_prob(x), closed, rtol=1e-5)
  np.testing.assert_array_equal(ours.log_scale, log_scale)
  assert [np.asarray(p).tolist() for p in ours.params] == [np.asarray(p).tolist() for p in theirs.params]


TOP_LEVEL_TREE_ALIASES = {
    "tree_map_params": "tree_map_params",
    "bias_correction": "tree_bias_correction",
    "update_infinity_moment": "tree_update_infinity_moment",
    "update_moment": "tree_update_moment",
    "update_moment_per_elem_norm": "tree_update_moment_per_elem_norm",
}


def test_top_level_names_once_wired():
  # These are top-level in optax; once jopt/__init__.py re-exports them they must be these objects.
  import jopt  # pylint: disable=g-import-not-at-top
  import jopt.tree_utils  # pylint: disable=g-import-not-at-top
  expected = dict(OURS)
  expected.update({k: getattr(jopt.tree_utils, v) for k, v in TOP_LEVEL_TREE_ALIASES.items()})
  for name, obj in expected.items():
    assert hasattr(optax, name), name
    if hasattr(jopt, name):
      assert getattr(jopt, name) is obj, name
  for sub in ("assignment", "perturbations", "projections", "second_order", "tree", "tree_utils"):
    if hasattr(jopt, sub):
      assert getattr(jopt, sub).__name__ == f"jopt.{sub}"
