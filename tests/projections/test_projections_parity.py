"""jopt.projections vs optax 0.2.8 (values, dtypes, Jacobians) and vs the defining property of a Euclidean projection."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt.projections as jp

NAMES = sorted(jp.__all__)


def _params(fn):
  return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_namespace_and_signatures_match_optax():
  assert set(NAMES) == {n for n in dir(optax.projections) if not n.startswith("_")}
  for name in NAMES:
    assert _params(getattr(jp, name)) == _params(getattr(optax.projections, name)), name


def _tree(seed, scale=1.0, dtype=jnp.float32):
  k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
  return {"w": (scale * jax.random.normal(k1, (2, 3))).astype(dtype),
          "b": (scale * jax.random.normal(k2, (4,))).astype(dtype)}


def _flat(tree):
  return np.concatenate([np.asarray(l, np.float64).ravel() for l in jax.tree.leaves(tree)])


# name -> (kwargs, membership test on the flat projection or None)
SETS = {
    "projection_non_negative": ({}, lambda p, kw: np.all(p >= 0)),
    "projection_box": ({"lower": None, "upper": None}, None),
    "projection_hypercube": ({"scale": None}, None),
    "projection_simplex": ({"scale": 1.5}, lambda p, kw: np.all(p >= 0) and abs(p.sum() - kw["scale"]) < 1e-5),
    "projection_l1_sphere": ({"scale": 2.0}, lambda p, kw: abs(np.abs(p).sum() - kw["scale"]) < 1e-5),
    "projection_l1_ball": ({"scale": 2.0}, lambda p, kw: np.abs(p).sum() <= kw["scale"] + 1e-5),
    "projection_l2_sphere": ({"scale": 0.7}, lambda p, kw: abs(np.linalg.norm(p) - kw["scale"]) < 1e-5),
    "projection_l2_ball": ({"scale": 0.7}, lambda p, kw: np.linalg.norm(p) <= kw["scale"] + 1e-5),
    "projection_linf_ball": ({"scale": 0.3}, lambda p, kw: np.abs(p).max() <= kw["scale"] + 1e-7),
}


def _kwargs(name, x, seed):
  kwargs = dict(SETS[name][0])
  if name == "projection_box":
    lower = jax.tree.map(lambda l: -0.5 * jnp.ones_like(l), x)
    kwargs = {"lower": lower, "upper": jax.tree.map(lambda l: l + 1.0, lower)}
  if name == "projection_hypercube":
    kwargs = {"scale": jax.tree.map(lambda l: jnp.full_like(l, 0.4), x)}
  return kwargs


def _optax_projection(name, x, kwargs):
  if name == "projection_hypercube":  # optax's fails on trees of several leaves: apply it per leaf
    return jax.tree.map(optax.projections.projection_hypercube, x, kwargs["scale"])
  return getattr(optax.projections, name)(x, **kwargs)


@pytest.mark.parametrize("name", sorted(SETS))
def test_set_projections_match_optax_and_are_projections(name):
  kwargs = _kwargs(name, _tree(0), 0)
  project = jax.jit(lambda t: getattr(jp, name)(t, **kwargs))
  reference = jax.jit(lambda t: _optax_projection(name, t, kwargs))
  for seed, scale in ((0, 1.0), (1, 0.05), (2, 3.0)):
    x = _tree(seed, scale)
    ours = getattr(jp, name)(x, **kwargs) if seed == 0 else project(x)  # eager once
    theirs = reference(x)
    assert jax.tree.structure(ours) == jax.tree.structure(theirs)
    for a, b, c in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), jax.tree.leaves(project(x))):
      assert a.dtype == b.dtype == c.dtype and a.shape == b.shape
      np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6, err_msg=name)
      np.testing.assert_allclose(c, b, rtol=1e-6, atol=1e-6, err_msg=name + " jit")
    p, xf = _flat(ours), _flat(x)
    member = SETS[name][1]
    if member is not None:
      assert member(p, kwargs), (name, seed)
    others = [_flat(project(_tree(100 + k, 2.0))) for k in range(6)]
    if name not in ("projection_l1_sphere", "projection_l2_sphere"):
      # Projection onto a convex set C: <x - p, y - p> <= 0 for every y in C
      # (here: projections of other points).
      for y in others:
        assert np.dot(xf - p, y - p) <= 1e-5 * (1 + np.linalg.norm(xf - p) * np.linalg.norm(y - p)), name
    else:  # spheres are not convex: no sampled sphere point is closer
      for y in others:
        assert np.linalg.norm(xf - p) <= np.linalg.norm(xf - y) + 1e-6


def test_affine_projections_match_optax_and_closed_forms():
  x, a = _tree(3), _tree(4)
  for b in (-1.0, 0.0, 2.5):
    for name, args in (("projection_vector", (x, a)), ("projection_hyperplane", (x, a, b)),
                       ("projection_halfspace", (x, a, b))):
      ours, theirs = getattr(jp, name)(*args), getattr(optax.projections, name)(*args)
      for u, v in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
        assert u.dtype == v.dtype
        np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-6)
    xf, af = _flat(x), _flat(a)
    plane = _flat(jp.projection_hyperplane(x, a, b))
    np.testing.assert_allclose(plane @ af, b, atol=1e-4)
    np.testing.assert_allclose(plane, xf + (b - xf @ af) / (af @ af) * af, rtol=1e-5, atol=1e-5)
    half = _flat(jp.projection_halfspace(x, a, b))
    np.testing.assert_allclose(half, xf if xf @ af <= b else plane, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(_flat(jp.projection_vector(x, a)), (xf @ af) / (af @ af) * af, rtol=1e-5, atol=1e-6)


def test_scalar_bounds_apply_to_every_leaf():
  # optax raises a pytree structure error here; jopt broadcasts a scalar bound.
  x = _tree(5, 2.0)
  box = jp.projection_box(x, -0.5, 1.0)
  cube = jp.projection_hypercube(x, 0.3)
  for leaf, b, c in zip(jax.tree.leaves(x), jax.tree.leaves(box), jax.tree.leaves(cube)):
    np.testing.assert_array_equal(b, np.clip(leaf, -0.5, 1.0))
    np.testing.assert_array_equal(c, np.clip(leaf, 0.0, 0.3))
  with pytest.raises(ValueError):
    optax.projections.projection_box(x, -0.5, 1.0)
  # A single array keeps optax's behaviour.
  np.testing.assert_array_equal(jp.projection_hypercube(x["b"]), optax.projections.projection_hypercube(x["b"]))


def test_simplex_jacobian_matches_optax_and_finite_differences():
  x = _tree(6, 0.3)
  jac = jax.jit(jax.jacfwd(jp.projection_simplex))(x)
  ref = jax.jit(jax.jacfwd(optax.projections.projection_simplex))(x)
  for a, b in zip(jax.tree.leaves(jac), jax.tree.leaves(ref)):
    np.testing.assert_allclose(a, b, atol=1e-6)
  flat = _flat(x)
  assert 1 < (_flat(jp.projection_simplex(x)) > 0).sum() < flat.size  # a non-trivial support
  v = jax.random.normal(jax.random.PRNGKey(7), (flat.size,))
  _, unravel = jax.flatten_util.ravel_pytree(x)
  _, jvp = jax.jit(lambda t, dt: jax.jvp(jp.projection_simplex, (t,), (dt,)))(x, unravel(v))
  eps = 1e-3
  project = jax.jit(jp.projection_simplex)
  fd = (_flat(project(unravel(flat + eps * v))) - _flat(project(unravel(flat - eps * v)))) / (2 * eps)
  np.testing.assert_allclose(_flat(jvp), fd, atol=1e-3)
  grad = jax.jit(jax.grad(lambda t: jp.projection_l1_ball(t, 0.5)["w"][0, 0]))(x)
  grad_ref = jax.jit(jax.grad(lambda t: optax.projections.projection_l1_ball(t, 0.5)["w"][0, 0]))(x)
  np.testing.assert_allclose(_flat(grad), _flat(grad_ref), atol=1e-6)


def test_simplex_low_precision_is_computed_in_float32():
  x = jnp.asarray(np.random.default_rng(0).normal(size=600) * 0.01, jnp.bfloat16)
  ours = jax.jit(jp.projection_simplex)(x)
  ref = jax.jit(jp.projection_simplex)(x.astype(jnp.float32))
  assert ours.dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(ours, np.float32), np.asarray(ref), atol=2e-5, rtol=1e-2)
  assert abs(float(jnp.sum(ours.astype(jnp.float32))) - 1.0) < 1e-2
