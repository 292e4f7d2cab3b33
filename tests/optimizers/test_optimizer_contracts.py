"""Adan, SM3, Polyak, Fromage, optimistic methods, normalize_by_update_norm, signum vs optax step by step."""

import inspect
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jopt._src.optimizers import adan as jadan
from jopt._src.optimizers import fromage as jfromage
from jopt._src.transforms import normalize as jnormalize
from jopt._src.optimizers import optimistic as joptimistic
from jopt._src.optimizers import polyak as jpolyak
from jopt._src.optimizers import signum as jsignum
from jopt._src.optimizers import sm3 as jsm3
from parity import assert_trajectories_match, random_tree

SCHED = lambda count: 0.02 / (1.0 + 0.1 * count)
WD_MASK = lambda p: jax.tree.map(lambda x: x.ndim > 1, p)


def _no_scalar_tree(seed=1):
  # optax's SM3 raises IndexError on scalar leaves.
  params = random_tree(jax.random.PRNGKey(seed))
  del params["scalar"]
  return params


def _optimistic_adam(module):
  def build(**kwargs):
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", DeprecationWarning)
      return module.optimistic_adam(**kwargs)
  return build


# (name, jopt factory, optax factory, kwargs, parity options). Each row runs jit and eager.
CASES = [
    ("adan", jadan.adan, optax.adan, dict(learning_rate=1e-2), {}),
    ("adan", jadan.adan, optax.adan,
     dict(learning_rate=SCHED, b1=0.9, b2=0.8, b3=0.95, eps=1e-6, eps_root=0.0, weight_decay=0.1,
          mask=WD_MASK), {}),
    ("scale_by_adan", jadan.scale_by_adan, optax.scale_by_adan,
     dict(b1=0.5, b2=0.0, b3=0.9, eps=1e-4, eps_root=1e-6), dict(apply_scale=-0.01)),
    ("sm3", jsm3.sm3, optax.sm3, dict(learning_rate=0.1), dict(params=_no_scalar_tree())),
    ("sm3", jsm3.sm3, optax.sm3, dict(learning_rate=0.03, momentum=0.0), dict(params=_no_scalar_tree(2))),
    ("scale_by_sm3", jsm3.scale_by_sm3, optax.scale_by_sm3, dict(b1=0.5, b2=0.9, eps=1e-4),
     dict(params=_no_scalar_tree(), apply_scale=-0.01)),
    ("fromage", jfromage.fromage, optax.fromage, dict(learning_rate=0.05), {}),
    ("fromage", jfromage.fromage, optax.fromage, dict(learning_rate=SCHED, min_norm=0.5), {}),
    ("optimistic_gradient_descent", joptimistic.optimistic_gradient_descent,
     optax.optimistic_gradient_descent, dict(learning_rate=0.05), {}),
    ("optimistic_gradient_descent", joptimistic.optimistic_gradient_descent,
     optax.optimistic_gradient_descent, dict(learning_rate=SCHED, alpha=0.3, beta=1.7), {}),
    ("scale_by_optimistic_gradient", joptimistic.scale_by_optimistic_gradient,
     optax.scale_by_optimistic_gradient, dict(alpha=2.0, beta=0.5), dict(apply_scale=-0.01)),
    ("optimistic_adam", _optimistic_adam(joptimistic), _optimistic_adam(optax),
     dict(learning_rate=0.01), {}),
    ("optimistic_adam", _optimistic_adam(joptimistic), _optimistic_adam(optax),
     dict(learning_rate=0.02, optimism=0.05, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-8, nesterov=False), {}),
    ("optimistic_adam_v2", joptimistic.optimistic_adam_v2, optax.optimistic_adam_v2,
     dict(learning_rate=0.01), {}),
    ("optimistic_adam_v2", joptimistic.optimistic_adam_v2, optax.optimistic_adam_v2,
     dict(learning_rate=SCHED, alpha=0.5, beta=2.0, b1=0.7, b2=0.95, eps=1e-5, nesterov=False), {}),
    ("normalize_by_update_norm", jnormalize.normalize_by_update_norm,
     optax.normalize_by_update_norm, dict(), dict(apply_scale=-0.05)),
    ("normalize_by_update_norm", jnormalize.normalize_by_update_norm,
     optax.normalize_by_update_norm, dict(scale_factor=-0.3, eps=0.0), {}),
    ("signum", jsignum.signum, optax.signum, dict(learning_rate=0.01), {}),
    ("signum", jsignum.signum, optax.signum, dict(learning_rate=SCHED, beta=0.5), {}),
    ("polyak_sgd", jpolyak.polyak_sgd, optax.polyak_sgd, dict(),
     dict(extra={"value": jnp.float32(3.0)}, apply_scale=0.1)),
    ("polyak_sgd", jpolyak.polyak_sgd, optax.polyak_sgd,
     dict(max_learning_rate=0.2, scaling=SCHED, f_min=-1.0, eps=1e-3, variant="sps+"),
     dict(extra={"value": jnp.float32(-2.0)})),
    ("polyak_sgd", jpolyak.polyak_sgd, optax.polyak_sgd, dict(variant="sps+", f_min=0.5),
     dict(extra={"value": jnp.float32(4.0)})),
    ("scale_by_polyak", jpolyak.scale_by_polyak, optax.scale_by_polyak,
     dict(f_min=-0.5, max_learning_rate=10.0, eps=1e-4), dict(extra={"value": jnp.float32(1.5)},
                                                               apply_scale=-0.01)),
]


def _params():
  """Every row eagerly; under jit the first row of each name (the other draws: slow lane)."""
  seen, out = set(), []
  for i, case in enumerate(CASES):
    out.append(pytest.param(*case, "eager", id=f"{case[0]}-{i}-eager"))
    marks = [pytest.mark.slow] if case[0] in seen else []
    seen.add(case[0])
    out.append(pytest.param(*case, "jit", id=f"{case[0]}-{i}-jit", marks=marks))
  return out


@pytest.mark.parametrize("name,ours,theirs,kwargs,options,mode", _params())
def test_matches_optax_step_by_step(name, ours, theirs, kwargs, options, mode):
  del name
  assert_trajectories_match(ours(**kwargs), theirs(**kwargs), steps=8 if mode == "jit" else 4,
                            mode=mode, **options)


def test_polyak_tiny_gradient_gives_zero_step():
  """Both sides: a gradient below machine epsilon gives a step of 0, not value / 0."""
  for tx in (jpolyak.scale_by_polyak(), optax.scale_by_polyak()):
    u, _ = tx.update({"w": jnp.full(3, 1e-20)}, tx.init(None), value=jnp.float32(5.0))
    np.testing.assert_array_equal(u["w"], 0.0)


def test_polyak_step_closed_form():
  # f(x) = |x|^2 at x=(1, 2): gap 5, |g|^2 = 20, step = min(5/20, 1) = 0.25 -> x - 0.25 g = x / 2.
  x = jnp.array([1.0, 2.0])
  tx = jpolyak.polyak_sgd()
  value, grad = jax.value_and_grad(lambda x: jnp.sum(x ** 2))(x)
  u, _ = tx.update(grad, tx.init(x), x, value=value)
  np.testing.assert_allclose(x + u, x / 2, rtol=1e-6)


def test_sm3_scalar_leaf_is_adagrad():
  """A scalar leaf (optax raises IndexError): one accumulator, so SM3 is Adagrad there."""
  tx = jsm3.scale_by_sm3(b1=0.0, b2=1.0, eps=0.0)
  params = {"s": jnp.float32(1.0), "m": jnp.ones((2, 3))}
  state = tx.init(params)
  total = 0.0
  for g in [0.5, -2.0, 1.0]:
    total += g * g
    u, state = tx.update({"s": jnp.float32(g), "m": jnp.full((2, 3), g)}, state)
    np.testing.assert_allclose(u["s"], g / np.sqrt(total), rtol=1e-6)
    assert u["s"].shape == ()


def test_sm3_covers_closed_form():
  """Matrix leaf: the accumulator is min(row max, column max) of past g^2 plus the new g^2."""
  tx = jsm3.scale_by_sm3(b1=0.0, b2=1.0, eps=0.0)
  g1 = jnp.array([[1.0, 2.0], [3.0, 0.5]])
  g2 = jnp.array([[0.5, 1.0], [1.0, 2.0]])
  state = tx.init(g1)
  _, state = tx.update(g1, state)
  u, state = tx.update(g2, state)
  acc1 = np.asarray(g1) ** 2
  prior = np.minimum(acc1.max(axis=1)[:, None], acc1.max(axis=0)[None, :])
  np.testing.assert_allclose(u, g2 / np.sqrt(prior + np.asarray(g2) ** 2), rtol=1e-6)


def test_sm3_momentum_none_is_no_momentum():
  params = _no_scalar_tree()
  assert_trajectories_match(jsm3.sm3(0.1, momentum=None), optax.sm3(0.1, momentum=0.0), steps=3,
                            mode="eager", params=params)


def test_fromage_closed_form_keeps_norm_for_orthogonal_gradient():
  """w' = (w - lr ||w|| / ||g|| g) / sqrt(1 + lr^2); for g orthogonal to w, ||w'|| = ||w||."""
  lr = 0.1
  w = jnp.array([3.0, 4.0])
  g = 2.0 * jnp.array([-4.0, 3.0])
  tx = jfromage.fromage(lr, min_norm=0.0)
  u, _ = tx.update(g, tx.init(w), w)
  expected = (w - lr * 5.0 / 10.0 * g) / np.sqrt(1 + lr**2)
  np.testing.assert_allclose(w + u, expected, rtol=1e-6)
  np.testing.assert_allclose(jnp.linalg.norm(w + u), 5.0, rtol=1e-6)


def test_optimistic_adam_warns_and_rejects_schedules():
  with pytest.warns(DeprecationWarning, match="optimistic_adam_v2"):
    joptimistic.optimistic_adam(0.01)
  with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="optimistic_adam_v2"):
    joptimistic.optimistic_adam(SCHED)


@pytest.mark.parametrize("call,match", [
    (lambda: jpolyak.scale_by_polyak(variant="sps-"), "variant"),
    (lambda: jpolyak.polyak_sgd(max_learning_rate=-1.0), "max_learning_rate"),
    (lambda: jadan.adan(1e-3, b3=1.0), "b3"),
    (lambda: jadan.scale_by_adan(eps=float("nan")), "eps"),
    (lambda: jsm3.sm3(SCHED), "learning_rate"),
    (lambda: jsm3.scale_by_sm3(b2=1.5), "b2"),
    (lambda: jfromage.fromage(-0.1), "learning_rate"),
    (lambda: joptimistic.scale_by_optimistic_gradient(alpha=SCHED), "alpha"),
    (lambda: jnormalize.normalize_by_update_norm(scale_factor=0.0), "scale_factor"),
    (lambda: jsignum.signum(0.1, beta=1.0), "beta"),
])
def test_bad_arguments_raise_naming_the_argument(call, match):
  with pytest.raises((ValueError, TypeError), match=match):
    call()


def test_sm3_rejects_complex():
  with pytest.raises(ValueError, match="complex"):
    jsm3.scale_by_sm3().init({"w": jnp.ones((2, 2), jnp.complex64)})


NAMES = [
    "adan", "scale_by_adan", "sm3", "scale_by_sm3", "polyak_sgd", "scale_by_polyak", "fromage",
    "optimistic_gradient_descent", "optimistic_adam", "optimistic_adam_v2",
    "scale_by_optimistic_gradient", "normalize_by_update_norm", "signum",
]
MODULES = [jadan, jsm3, jpolyak, jfromage, joptimistic, jnormalize, jsignum]


def _ours(name):
  for module in MODULES:
    if hasattr(module, name):
      return getattr(module, name)
  raise AttributeError(name)


@pytest.mark.parametrize("name", NAMES)
def test_signature_matches_optax(name):
  ours = inspect.signature(_ours(name)).parameters
  theirs = inspect.signature(getattr(optax, name)).parameters
  assert list(ours) == list(theirs)
  for key in theirs:
    assert ours[key].kind == theirs[key].kind, key
    assert ours[key].default == theirs[key].default, key


@pytest.mark.parametrize("ours,theirs", [
    (jadan.ScaleByAdanState, optax.ScaleByAdanState),
    (jsm3.ScaleBySM3State, optax.ScaleBySM3State),
    (joptimistic.ScaleByOptimisticGradientState, optax._src.transform.ScaleByOptimisticGradientState),
])
def test_state_fields_match_optax(ours, theirs):
  assert ours.__name__ == theirs.__name__
  assert ours._fields == theirs._fields


@pytest.mark.parametrize("name,ours,theirs,kwargs", [
    ("adan", jadan.adan, optax.adan, dict(learning_rate=1e-2, weight_decay=0.1)),
    ("optimistic_gradient_descent", joptimistic.optimistic_gradient_descent,
     optax.optimistic_gradient_descent, dict(learning_rate=0.05, beta=0.5)),
    ("normalize_by_update_norm", jnormalize.normalize_by_update_norm, optax.normalize_by_update_norm,
     dict(scale_factor=-0.1)),
])
def test_complex_params_match_optax(name, ours, theirs, kwargs):
  del name
  assert_trajectories_match(ours(**kwargs), theirs(**kwargs), steps=3, mode="eager", dtype=jnp.complex64)


BF16_CASES = [
    (jadan.adan, dict(learning_rate=1e-2, weight_decay=0.1), {}),
    (jsm3.sm3, dict(learning_rate=0.1), {}),
    (jfromage.fromage, dict(learning_rate=SCHED), {}),
    (joptimistic.optimistic_adam_v2, dict(learning_rate=1e-2), {}),
    (jnormalize.normalize_by_update_norm, dict(), {}),
    (jsignum.signum, dict(learning_rate=1e-2), {}),
    (jpolyak.polyak_sgd, dict(), {"value": jnp.float32(1.0)}),
]


@pytest.mark.parametrize("factory,kwargs,extra", BF16_CASES, ids=[c[0].__name__ for c in BF16_CASES])
def test_bfloat16_updates_keep_param_dtype(factory, kwargs, extra):
  params = {"w": jnp.ones((3, 2), jnp.bfloat16), "b": jnp.ones(2, jnp.bfloat16)}
  tx = factory(**kwargs)
  state = tx.init(params)
  for _ in range(2):
    updates, state = tx.update(jax.tree.map(lambda p: 0.5 * p, params), state, params, **extra)
    assert all(u.dtype == jnp.bfloat16 for u in jax.tree.leaves(updates))
    assert all(bool(jnp.all(jnp.isfinite(u))) for u in jax.tree.leaves(updates))
