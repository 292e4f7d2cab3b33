"""Adaptive-moment building blocks and optimizers (Adagrad, RMSprop, Adadelta, Adam's relatives) against optax."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
from jopt._src.numerics import radam_rho
from parity import assert_trajectories_match, assert_trees_close, gradient_sequence, random_tree, trajectory

SCHED = lambda count: 0.02 * jnp.cos(0.1 * count)  # a schedule both libraries call the same way
BLOCK_STEP = 1e-2  # building blocks return O(1) updates; params take a small step of them


def _mask(params):
  return {**{k: True for k in params}, "scalar": False}


# (name, kwargs) draws: defaults and a non-default of every flag.
BLOCKS = [
    ("scale_by_rss", dict()),
    ("scale_by_rss", dict(initial_accumulator_value=0.0, eps=1e-4)),
    ("scale_by_rms", dict()),
    ("scale_by_rms", dict(decay=0.5, eps=1e-4, initial_scale=1.0, eps_in_sqrt=False, bias_correction=True)),
    ("scale_by_stddev", dict()),
    ("scale_by_stddev", dict(decay=0.5, eps=1e-3, initial_scale=1.0, eps_in_sqrt=False, bias_correction=True)),
    ("scale_by_adadelta", dict()),
    ("scale_by_adadelta", dict(rho=0.5, eps=1e-3)),
    ("scale_by_adamax", dict()),
    ("scale_by_adamax", dict(b1=0.5, b2=0.9, eps=1e-3)),
    ("scale_by_amsgrad", dict()),
    ("scale_by_amsgrad", dict(b1=0.5, b2=0.9, eps=1e-6, eps_root=1e-8, mu_dtype=jnp.bfloat16,
                              bias_correction_mu=False, bias_correction_nu=False)),
    # With b2 >= 0.99 optax's float32 rho is off by more than the tolerance once rectified (0.7% for
    # b2=0.999): those draws are compared with optax in float64 below.
    ("scale_by_radam", dict(b2=0.9)),
    ("scale_by_radam", dict(b1=0.5, b2=0.9, eps=1e-6, eps_root=1e-8, threshold=6.0, nesterov=True)),
    ("scale_by_belief", dict()),
    ("scale_by_belief", dict(b1=0.5, b2=0.9, eps=1e-8, eps_root=1e-10, nesterov=True)),
    ("scale_by_yogi", dict()),
    ("scale_by_yogi", dict(b1=0.5, b2=0.9, eps=1e-2, eps_root=1e-8, initial_accumulator_value=0.1)),
]

OPTIMIZERS = [
    ("adagrad", dict(learning_rate=0.1)),
    ("adagrad", dict(learning_rate=SCHED, initial_accumulator_value=0.0, eps=1e-5)),
    ("rmsprop", dict(learning_rate=0.01)),
    ("rmsprop", dict(learning_rate=SCHED, centered=True, momentum=0.9)),
    ("rmsprop", dict(learning_rate=0.01, decay=0.5, eps=1e-4, initial_scale=1.0, eps_in_sqrt=False,
                     momentum=0.5, nesterov=True, bias_correction=True)),
    ("adadelta", dict()),
    ("adadelta", dict(learning_rate=SCHED, rho=0.5, eps=1e-4, weight_decay=lambda c: 0.01 * c,
                      weight_decay_mask=_mask)),
    ("nadam", dict(learning_rate=1e-2)),
    ("nadam", dict(learning_rate=SCHED, b1=0.5, b2=0.99, eps=1e-6, eps_root=1e-8, mu_dtype=jnp.bfloat16)),
    ("nadamw", dict(learning_rate=1e-2, weight_decay=0.1)),
    ("nadamw", dict(learning_rate=SCHED, weight_decay=0.1, mask=_mask, eps_root=1e-8)),
    ("adamax", dict(learning_rate=1e-2)),
    ("adamax", dict(learning_rate=SCHED, b1=0.5, b2=0.9, eps=1e-4)),
    ("adamaxw", dict(learning_rate=1e-2, weight_decay=0.1)),
    ("adamaxw", dict(learning_rate=SCHED, weight_decay=0.1, mask=_mask)),
    ("amsgrad", dict(learning_rate=1e-2)),
    ("amsgrad", dict(learning_rate=SCHED, b1=0.5, b2=0.9, eps_root=1e-8, mu_dtype=jnp.bfloat16,
                     bias_correction_mu=False, bias_correction_nu=False)),
    ("radam", dict(learning_rate=1e-2, b2=0.9, threshold=6.0)),
    ("radam", dict(learning_rate=SCHED, b2=0.9, threshold=6.0, nesterov=True, eps_root=1e-8)),
    ("radam", dict(learning_rate=1e-2, threshold=25.0)),  # b2=0.999, not rectified within 20 steps
    ("adabelief", dict(learning_rate=1e-2)),
    ("adabelief", dict(learning_rate=SCHED, b1=0.5, b2=0.9, eps=1e-8, eps_root=1e-10, nesterov=True)),
    ("yogi", dict(learning_rate=1e-2)),
    ("yogi", dict(learning_rate=SCHED, b1=0.5, b2=0.9, eps=1e-2)),
]

OPTIMIZER_NAMES = sorted({n for n, _ in OPTIMIZERS})
FIRST_DRAW = {n: next(kw for m, kw in OPTIMIZERS if m == n) for n in OPTIMIZER_NAMES}


def _ids(cases):
  return [f"{n}-{i}" for i, (n, _) in enumerate(cases)]


@pytest.mark.parametrize("name,kwargs", BLOCKS, ids=_ids(BLOCKS))
def test_building_block_trajectory(name, kwargs):
  assert_trajectories_match(
      getattr(jopt, name)(**kwargs), getattr(optax, name)(**kwargs), apply_scale=BLOCK_STEP
  )


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS, ids=_ids(OPTIMIZERS))
def test_optimizer_trajectory(name, kwargs):
  assert_trajectories_match(getattr(jopt, name)(**kwargs), getattr(optax, name)(**kwargs))


@pytest.mark.parametrize("mode", ["eager", "pmap"])
@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_optimizer_trajectory_eager_and_pmap(name, mode):
  # A two-leaf tree keeps the pmap compile and the eager dispatch cheap; jit runs the full tree above.
  kwargs = FIRST_DRAW[name]
  params = {"w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), "b": jnp.array([0.3, -0.7])}
  assert_trajectories_match(
      getattr(jopt, name)(**kwargs), getattr(optax, name)(**kwargs), mode=mode, steps=5, params=params
  )


def test_every_name_is_tested_and_exported():
  tested = {n for n, _ in BLOCKS + OPTIMIZERS}
  expected = {
      "scale_by_rss", "scale_by_rms", "scale_by_stddev", "scale_by_adadelta", "scale_by_adamax",
      "scale_by_amsgrad", "scale_by_radam", "scale_by_belief", "scale_by_yogi", "nadam", "nadamw",
      "adamax", "adamaxw", "amsgrad", "radam", "adabelief", "yogi", "adagrad", "rmsprop", "adadelta",
  }
  assert tested == expected
  assert expected <= set(jopt.__all__)


@pytest.mark.parametrize("name", ["nadam", "nadamw"])
def test_nadam_signature_matches_optax_partial(name):
  """optax's nadam/nadamw are functools.partial(adam[w], nesterov=True), skipped by the generic signature test."""
  theirs = [(p.name, p.kind, p.default) for p in inspect.signature(getattr(optax, name)).parameters.values()]
  ours = [(p.name, p.kind, p.default) for p in inspect.signature(getattr(jopt, name)).parameters.values()]
  assert ours[: len(theirs)] == theirs
  assert [n for n, _, _ in ours[len(theirs):]] == ["nu_dtype"]


@pytest.mark.parametrize("name,hyper,flags", [
    ("radam", dict(b2=0.9, threshold=5.0), {}),
    ("rmsprop", dict(decay=0.8, initial_scale=0.5), dict(centered=True, bias_correction=True)),
])
def test_traced_hyperparameters(name, hyper, flags):
  """Hyperparameters passed as traced arrays (build-time checks and float64 paths skipped) match optax."""
  params = {"w": jnp.linspace(-1.0, 1.0, 6).reshape(2, 3), "b": jnp.array([0.5, -0.2])}
  grads = jax.tree.map(lambda x: 0.3 * x + 0.1, params)

  def run(lib, **kwargs):
    tx = getattr(lib, name)(**kwargs, **flags)
    state = tx.init(params)
    for _ in range(8):
      updates, state = tx.update(grads, state, params)
    return updates

  ours = jax.jit(lambda lr, h: run(jopt, learning_rate=lr, **h))(
      jnp.float32(0.01), {k: jnp.float32(v) for k, v in hyper.items()})
  assert_trees_close(ours, run(optax, learning_rate=0.01, **hyper), 1e-5, 1e-7, name)


# --- complex parameters (optax supports them for adagrad and rmsprop) ------------------------

COMPLEX_CASES = [
    ("adagrad", dict(learning_rate=0.1)),
    ("adagrad", dict(learning_rate=0.1, initial_accumulator_value=0.0, eps=1e-5)),
    ("rmsprop", dict(learning_rate=0.01)),
    ("rmsprop", dict(learning_rate=0.01, centered=True, momentum=0.9)),
    ("rmsprop", dict(learning_rate=0.01, eps_in_sqrt=False, bias_correction=True, initial_scale=1.0,
                     momentum=0.5, nesterov=True)),
    ("rmsprop", dict(learning_rate=0.01, centered=True, bias_correction=True, initial_scale=1.0)),
]


@pytest.mark.parametrize("name,kwargs", COMPLEX_CASES, ids=_ids(COMPLEX_CASES))
def test_complex64_matches_optax(name, kwargs):
  ours, _ = assert_trajectories_match(
      getattr(jopt, name)(**kwargs), getattr(optax, name)(**kwargs), dtype=jnp.complex64, steps=10
  )
  assert all(jnp.iscomplexobj(u) for u in jax.tree.leaves(ours[-1][1]))


# --- where jopt is more accurate than optax: compared with optax run in float64 --------------


def assert_matches_optax_float64(jopt_tx, make_optax_tx, *, steps=20, apply_scale=1.0, rtol=1e-5, atol=1e-6):
  """jopt in float32 against optax in float64 (jax's x64 mode), step by step."""
  params = random_tree(jax.random.PRNGKey(100))
  grads = gradient_sequence(params, steps, 0)
  ours = trajectory(jopt_tx, params, grads, "jit", True, None, apply_scale)
  with jax.enable_x64(True):
    to64 = lambda t: jax.tree.map(lambda x: jnp.asarray(np.asarray(x), jnp.float64), t)
    ref = trajectory(make_optax_tx(), to64(params), [to64(g) for g in grads], "jit", True, None, apply_scale)
    assert jax.tree.leaves(ref[-1][0])[0].dtype == jnp.float64
    ref = jax.tree.map(np.asarray, ref)
  for t, ((p1, u1), (p2, u2)) in enumerate(zip(ours, ref)):
    assert all(u.dtype == jnp.float32 for u in jax.tree.leaves(u1))
    assert_trees_close(u1, u2, rtol, atol, f"updates at step {t}")
    assert_trees_close(p1, p2, rtol, atol, f"params at step {t}")


# Centered RMSprop's nu - mu^2 cancels when a coordinate's gradients happen to agree: float32 (jopt's and
# optax's alike) then keeps ~1e-4 relative accuracy, hence rtol 1e-3 there. The point is step 1, which is
# exact in jopt and rounding noise (or NaN) in optax's float32.
@pytest.mark.parametrize("name,kwargs,step,rtol", [
    ("scale_by_radam", dict(), BLOCK_STEP, 1e-5),
    ("radam", dict(learning_rate=1e-2), 1.0, 1e-5),
    ("radam", dict(learning_rate=SCHED, b1=0.5, b2=0.99, eps_root=1e-8, threshold=6.0, nesterov=True), 1.0, 1e-5),
    ("scale_by_stddev", dict(bias_correction=True), BLOCK_STEP, 1e-3),
    ("rmsprop", dict(learning_rate=1e-2, centered=True, bias_correction=True, momentum=0.5), 1.0, 1e-3),
])
def test_float32_matches_optax_float64(name, kwargs, step, rtol):
  """radam (b2 >= 0.99) and bias-corrected centered RMSprop, where optax's float32 arithmetic is off."""
  assert_matches_optax_float64(
      getattr(jopt, name)(**kwargs), lambda: getattr(optax, name)(**kwargs), apply_scale=step, rtol=rtol
  )


def test_radam_optax_float32_is_off_where_jopt_is_not():
  """The default radam differs from optax float32 by more than the parity tolerance (optax's rho)."""
  params = jnp.array([0.5, -1.0, 2.0])
  grads = gradient_sequence(params, 6, 0)
  ours = trajectory(jopt.radam(1e-2), params, grads)
  ref = trajectory(optax.radam(1e-2), params, grads)
  np.testing.assert_allclose(ours[4][1], ref[4][1], rtol=1e-5)  # step 5: not rectified, equal
  rel = np.max(np.abs(ours[5][1] - ref[5][1]) / np.abs(ref[5][1]))
  assert rel > 1e-3  # step 6, the first rectified step


@pytest.mark.parametrize("b2", [0.0, 0.5, 0.9, 0.99, 0.999, 0.9999])
def test_radam_rho_is_exact(b2):
  """rho_t against the closed form in float64, for t from 1 to 10^7."""
  ts = np.unique(np.round(np.logspace(0, 7, 200)).astype(np.int64))
  got = np.asarray(jax.jit(jax.vmap(lambda c: radam_rho(b2, c)))(jnp.asarray(ts, jnp.int32)))
  t = ts.astype(np.float64)
  if b2 == 0.0:
    exact = np.ones_like(t)
  else:
    lam = -np.log(b2)
    exact = 2 / (1 - b2) - 1 - 2 * t * np.exp(-t * lam) / -np.expm1(-t * lam)
  np.testing.assert_allclose(got, exact, rtol=5e-7)


@pytest.mark.parametrize("eps_in_sqrt,initial_scale", [(True, 0.0), (False, 0.0), (True, 2.0), (False, 2.0)])
def test_centered_bias_corrected_first_step_is_exact(eps_in_sqrt, initial_scale):
  """Step 1 of scale_by_stddev(bias_correction=True): variance decay*s0/(1-decay), never rounding noise."""
  decay, eps = 0.9, 1e-2
  tx = jopt.scale_by_stddev(decay=decay, eps=eps, initial_scale=initial_scale, eps_in_sqrt=eps_in_sqrt,
                            bias_correction=True)
  g = jnp.array([1.0, -3.0, 0.1, 1e3, 7.7])
  updates, _ = jax.jit(tx.update)(g, tx.init(g))
  var = decay * initial_scale / (1 - decay)
  expected = g / np.sqrt(var + eps) if eps_in_sqrt else g / (np.sqrt(var) + eps)
  np.testing.assert_allclose(updates, expected, rtol=1e-6)


# --- moment dtypes (jopt's nu_dtype, with mu_dtype) ------------------------------------------

NU_DTYPE = ["nadam", "nadamw", "amsgrad", "adabelief", "radam"]


def _moments(state):
  first = state[0]._asdict()
  return {k: v for k, v in first.items() if k != "count"}


def _float_bytes(state):
  return sum(x.nbytes for x in jax.tree.leaves(state) if jnp.issubdtype(x.dtype, jnp.floating))


@pytest.mark.parametrize("name", NU_DTYPE)
def test_bf16_moments(name):
  params = random_tree(jax.random.PRNGKey(100))
  grads = gradient_sequence(params, 12, 0)
  ref_tx = getattr(jopt, name)(1e-2)
  low_tx = getattr(jopt, name)(1e-2, mu_dtype=jnp.bfloat16, nu_dtype=jnp.bfloat16)
  nu_tx = getattr(jopt, name)(1e-2, nu_dtype=jnp.bfloat16)

  for leaf in jax.tree.leaves(_moments(low_tx.init(params))):
    assert leaf.dtype == jnp.bfloat16
  nu_only = _moments(nu_tx.init(params))
  for key, tree_ in nu_only.items():
    want = jnp.float32 if key == "mu" else jnp.bfloat16
    assert all(x.dtype == want for x in jax.tree.leaves(tree_)), key
  assert _float_bytes(low_tx.init(params)) * 2 == _float_bytes(ref_tx.init(params))
  # The default keeps optax's state dtypes.
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(_moments(ref_tx.init(params))))

  ref = trajectory(ref_tx, params, grads)
  low = trajectory(low_tx, params, grads)
  _, state = jax.eval_shape(lambda p, s, g: low_tx.update(g, s, p), params, low_tx.init(params), grads[0])
  assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(_moments(state)))
  for (p_low, u_low), (p_ref, _) in zip(low, ref):
    assert all(u.dtype == jnp.float32 for u in jax.tree.leaves(u_low))
    assert_trees_close(p_low, p_ref, rtol=1e-2, atol=5e-3, what=f"{name} bf16 moments")


def test_scale_by_blocks_take_nu_dtype():
  params = random_tree(jax.random.PRNGKey(1))
  for tx in [jopt.scale_by_amsgrad(nu_dtype=jnp.bfloat16), jopt.scale_by_belief(nu_dtype=jnp.bfloat16),
             jopt.scale_by_radam(nu_dtype=jnp.bfloat16)]:
    state = tx.init(params)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(state.nu))
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(state.mu))
    updates, state = jax.eval_shape(tx.update, params, state)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(state.nu))
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(updates))


# --- bad input -----------------------------------------------------------------------------

BAD = [
    ("scale_by_rss", "initial_accumulator_value", -0.1), ("scale_by_rss", "eps", -1e-7),
    ("scale_by_rms", "decay", 1.0), ("scale_by_rms", "eps", -1.0), ("scale_by_rms", "initial_scale", -1.0),
    ("scale_by_stddev", "decay", -0.1), ("scale_by_stddev", "initial_scale", -1.0),
    ("scale_by_adadelta", "rho", 1.0), ("scale_by_adadelta", "eps", -1e-6),
    ("scale_by_adamax", "b1", 1.0), ("scale_by_adamax", "b2", 1.5), ("scale_by_adamax", "eps", -1.0),
    ("scale_by_amsgrad", "b2", 1.0), ("scale_by_amsgrad", "eps_root", -1.0),
    ("scale_by_radam", "b1", -0.5), ("scale_by_radam", "threshold", 3.0),
    ("scale_by_belief", "b2", 1.0), ("scale_by_belief", "eps", -1e-16),
    ("scale_by_yogi", "b1", 1.0), ("scale_by_yogi", "initial_accumulator_value", -1e-6),
    ("adagrad", "eps", -1.0), ("adagrad", "initial_accumulator_value", -1.0),
    ("rmsprop", "decay", 1.0), ("rmsprop", "momentum", 1.0), ("rmsprop", "eps", -1.0),
    ("adadelta", "rho", 1.0), ("adadelta", "eps", -1.0), ("adadelta", "weight_decay", -0.1),
    ("nadam", "b1", 1.0), ("nadam", "eps", -1e-8), ("nadamw", "b2", 1.0), ("nadamw", "weight_decay", -1.0),
    ("adamax", "b1", 1.0), ("adamaxw", "b2", -0.1), ("adamaxw", "eps", -1.0),
    ("amsgrad", "b2", -0.1), ("radam", "b1", 1.0), ("radam", "threshold", 0.0),
    ("adabelief", "b2", 1.0), ("adabelief", "eps_root", -1.0), ("yogi", "b1", 1.0), ("yogi", "eps", -1.0),
] + [(n, "learning_rate", -0.1) for n in OPTIMIZER_NAMES]


@pytest.mark.parametrize("name,arg,value", BAD, ids=[f"{n}-{a}" for n, a, _ in BAD])
def test_bad_input_raises_at_build(name, arg, value):
  kwargs = {"learning_rate": 0.1} if name in OPTIMIZER_NAMES else {}
  kwargs[arg] = value
  with pytest.raises(ValueError, match=arg):
    getattr(jopt, name)(**kwargs)
