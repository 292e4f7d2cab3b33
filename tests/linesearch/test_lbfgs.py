"""L-BFGS against optax step by step and against closed-form minimizers (Rosenbrock, least squares)."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
from jopt._src.linesearch import backtracking as jbacktracking
from jopt._src.linesearch import lbfgs as jlbfgs
from jopt._src.linesearch import objective as jobjective
from parity import assert_trajectories_match


def rosenbrock(x):
  return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


_RNG = np.random.default_rng(0)
A = jnp.asarray(_RNG.normal(size=(20, 5)), jnp.float32)
B = jnp.asarray(_RNG.normal(size=20), jnp.float32)
X_STAR = np.linalg.lstsq(np.asarray(A, np.float64), np.asarray(B, np.float64), rcond=None)[0]
# A consistent system (minimum value 0): Armijo's test stays resolvable in float32 down to the
# minimizer, whereas near a minimum value of ~4 float32 cannot see decreases below ~5e-7.
X_TRUE = np.arange(1.0, 6.0) / 4.0
B_CONSISTENT = A @ jnp.asarray(X_TRUE, jnp.float32)


def least_squares(params, a, b):
  """A tree of params on purpose: {"w": first 3 coefficients, "v": last 2}."""
  x = jnp.concatenate([params["w"], params["v"]])
  return 0.5 * jnp.sum((a @ x - b) ** 2)


def solve(tx, value_and_grad, value_fn, params, steps, mode="jit", **data):
  """Runs the documented loop; returns the params after every step and the last state."""
  state = tx.init(params)

  def step(params, state):
    value, grad = value_and_grad(params, state=state, **data)
    updates, state = tx.update(grad, state, params, value=value, grad=grad, value_fn=value_fn, **data)
    return jopt.apply_updates(params, updates), state

  if mode == "jit":
    step = jax.jit(step)
  out = []
  for _ in range(steps):
    params, state = step(params, state)
    out.append(params)
  return out, state


def assert_iterates_close(ours, ref, rtol=1e-5, atol=1e-6):
  for k, (a, b) in enumerate(zip(ours, ref)):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
      np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=f"iterate {k}")


def test_rosenbrock_with_zoom_matches_optax_and_reaches_minimum():
  x0 = jnp.array([-1.2, 1.0, -0.5, 0.8])
  ours, state = solve(jlbfgs.lbfgs(), jobjective.value_and_grad_from_state(rosenbrock), rosenbrock, x0, 45)
  ref, ref_state = solve(optax.lbfgs(), optax.value_and_grad_from_state(rosenbrock), rosenbrock, x0, 45)
  assert_iterates_close(ours, ref)
  np.testing.assert_allclose(ours[-1], np.ones(4), atol=2e-3)
  # The state (memory, linesearch value/grad/info) is optax's too.
  for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(ref_state)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("memory_size,scale_init_precond", [
    (10, True), pytest.param(2, False, marks=pytest.mark.slow)])
def test_least_squares_with_zoom_and_data_kwargs(memory_size, scale_init_precond):
  params = {"w": jnp.zeros(3), "v": jnp.zeros(2)}
  kwargs = dict(memory_size=memory_size, scale_init_precond=scale_init_precond)
  ours, _ = solve(jlbfgs.lbfgs(**kwargs), jobjective.value_and_grad_from_state(least_squares),
                  least_squares, params, 12, a=A, b=B)
  ref, _ = solve(optax.lbfgs(**kwargs), optax.value_and_grad_from_state(least_squares),
                 least_squares, params, 12, a=A, b=B)
  assert_iterates_close(ours, ref)
  x = np.concatenate([ours[-1]["w"], ours[-1]["v"]])
  np.testing.assert_allclose(x, X_STAR, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("store_grad", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_least_squares_with_backtracking(store_grad):
  params = {"w": jnp.zeros(3), "v": jnp.zeros(2)}
  ls = dict(max_backtracking_steps=30, store_grad=store_grad)
  if store_grad:
    vg_ours = jobjective.value_and_grad_from_state(least_squares)
    vg_ref = optax.value_and_grad_from_state(least_squares)
  else:
    vg_ours = vg_ref = lambda p, state, **data: jax.value_and_grad(least_squares)(p, **data)
  ours, _ = solve(jlbfgs.lbfgs(linesearch=jbacktracking.scale_by_backtracking_linesearch(**ls)),
                  vg_ours, least_squares, params, 20, a=A, b=B_CONSISTENT)
  ref, _ = solve(optax.lbfgs(linesearch=optax.scale_by_backtracking_linesearch(**ls)),
                 vg_ref, least_squares, params, 20, a=A, b=B_CONSISTENT)
  assert_iterates_close(ours, ref)
  x = np.concatenate([ours[-1]["w"], ours[-1]["v"]])
  np.testing.assert_allclose(x, X_TRUE, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_eager_matches_optax():
  x0 = jnp.array([-1.2, 1.0])
  ours, _ = solve(jlbfgs.lbfgs(), jobjective.value_and_grad_from_state(rosenbrock), rosenbrock, x0, 2,
                  mode="eager")
  ref, _ = solve(optax.lbfgs(), optax.value_and_grad_from_state(rosenbrock), rosenbrock, x0, 2,
                 mode="eager")
  assert_iterates_close(ours, ref)


@pytest.mark.parametrize("memory_size,scale_init_precond,mode", [
    (3, True, "jit"), (2, False, "eager"),
    pytest.param(1, False, "jit", marks=pytest.mark.slow),
    pytest.param(10, True, "eager", marks=pytest.mark.slow)])
def test_scale_by_lbfgs_step_by_step(memory_size, scale_init_precond, mode):
  """The direction on a quadratic's gradients, memory wrapping around, vs optax."""
  # Gradients of 0.5 x^T H x along the trajectory keep <s, y> > 0, as in real use.
  params = {"w": jax.random.normal(jax.random.PRNGKey(3), (4, 5)), "b": (jnp.arange(3.0) - 1,)}
  scales = jax.tree.map(lambda p: 1.0 + jnp.arange(p.size, dtype=jnp.float32).reshape(p.shape) % 5, params)

  def run(tx):
    state, p, out = tx.init(params), params, []
    update = jax.jit(tx.update) if mode == "jit" else tx.update
    for _ in range(8 if mode == "jit" else 3):
      g = jax.tree.map(lambda h, x: h * x, scales, p)
      u, state = update(g, state, p)
      p = jax.tree.map(lambda x, d: x - 0.1 * d, p, u)
      out.append((u, p))
    return out

  kwargs = dict(memory_size=memory_size, scale_init_precond=scale_init_precond)
  for (u1, p1), (u2, p2) in zip(run(jlbfgs.scale_by_lbfgs(**kwargs)), run(optax.scale_by_lbfgs(**kwargs))):
    assert_iterates_close([u1, p1], [u2, p2], rtol=2e-5)


def test_lbfgs_without_linesearch_matches_optax():
  params = {"w": jnp.linspace(-1.0, 1.0, 6).reshape(2, 3), "b": jnp.ones(2)}
  assert_trajectories_match(jlbfgs.lbfgs(learning_rate=0.05, linesearch=None),
                            optax.lbfgs(learning_rate=0.05, linesearch=None), steps=6, params=params)


@pytest.mark.slow
def test_lbfgs_without_linesearch_schedule_eager():
  sched = lambda count: 0.1 / (1.0 + count)
  assert_trajectories_match(
      jlbfgs.lbfgs(learning_rate=sched, memory_size=2, scale_init_precond=False, linesearch=None),
      optax.lbfgs(learning_rate=sched, memory_size=2, scale_init_precond=False, linesearch=None),
      steps=4, mode="eager")


def test_first_direction_is_capped_gradient():
  """gamma_0 = min(1, 1/||g||): the first direction has length min(||g||, 1)."""
  tx = jlbfgs.scale_by_lbfgs()
  for g, length in [(jnp.array([3.0, 4.0]), 1.0), (jnp.array([0.3, 0.4]), 0.5)]:
    u, _ = tx.update(g, tx.init(jnp.zeros(2)), jnp.zeros(2))
    np.testing.assert_allclose(u, g / jnp.linalg.norm(g) * length, rtol=1e-6)


def test_secant_equation():
  """After recording the pair (s, y), the inverse-Hessian estimate maps y to s (for any gamma)."""
  h = jnp.diag(jnp.array([1.0, 4.0, 9.0]))
  w0, w1 = jnp.array([1.0, 1.0, 1.0]), jnp.array([0.5, -0.2, 0.3])
  for memory_size in (1, 3):
    tx = jlbfgs.scale_by_lbfgs(memory_size=memory_size)
    _, state = tx.update(h @ w0, tx.init(w0), w0)
    _, state = tx.update(h @ w1, state, w1)
    s, y = w1 - w0, h @ (w1 - w0)
    p_y = jlbfgs.precondition(y, state.diff_params_memory, state.diff_updates_memory,
                              state.weights_memory, 0.3, state.count % memory_size)
    np.testing.assert_allclose(p_y, s, rtol=1e-5, atol=1e-6)


def test_errors():
  with pytest.raises(ValueError, match="memory_size"):
    jlbfgs.scale_by_lbfgs(memory_size=0)
  with pytest.raises(TypeError, match="scale_init_precond"):
    jlbfgs.scale_by_lbfgs(scale_init_precond="yes")
  tx = jlbfgs.scale_by_lbfgs()
  with pytest.raises(ValueError, match="scale_by_lbfgs needs the current parameters"):
    tx.update(jnp.ones(2), tx.init(jnp.ones(2)))
  with pytest.raises(TypeError, match="linesearch"):
    jlbfgs.lbfgs(linesearch="zoom")


def test_signatures_match_optax():
  ours = inspect.signature(jlbfgs.scale_by_lbfgs).parameters
  theirs = inspect.signature(optax.scale_by_lbfgs).parameters
  assert [(k, p.kind, p.default) for k, p in ours.items()] == [
      (k, p.kind, p.default) for k, p in theirs.items()]
  ours = inspect.signature(jlbfgs.lbfgs).parameters
  theirs = inspect.signature(optax.lbfgs).parameters
  assert [(k, p.kind) for k, p in ours.items()] == [(k, p.kind) for k, p in theirs.items()]
  for key in ["learning_rate", "memory_size", "scale_init_precond"]:
    assert ours[key].default == theirs[key].default
  # The default linesearch is a zoom linesearch (20 steps, first trial 1): an object, so compare
  # behaviour, which the Rosenbrock test above does through `lbfgs()`.
  assert isinstance(ours["linesearch"].default, optax.GradientTransformationExtraArgs)
  state = ours["linesearch"].default.init(jnp.zeros(2))
  assert type(state).__name__ == "ScaleByZoomLinesearchState"


def test_state_fields_match_optax():
  assert jlbfgs.ScaleByLBFGSState._fields == optax.ScaleByLBFGSState._fields


def test_bfloat16_direction_keeps_param_dtype():
  tx = jlbfgs.scale_by_lbfgs(memory_size=2)
  params = {"w": jnp.ones((2, 3), jnp.bfloat16)}
  state = tx.init(params)
  for k in range(3):
    p = jax.tree.map(lambda x: x * (1.0 - 0.1 * k), params)
    u, state = tx.update(jax.tree.map(lambda x: 2.0 * x, p), state, p)
    assert u["w"].dtype == jnp.bfloat16 and bool(jnp.all(jnp.isfinite(u["w"])))
  # On |w|^2 (H = 2I) gamma = <s, y> / <y, y> = 1/2 and P = H^-1, so w - u is the minimizer 0.
  np.testing.assert_allclose(p["w"].astype(jnp.float32) - u["w"].astype(jnp.float32), 0.0, atol=2e-2)


@pytest.mark.parametrize("dtype,value_dtype", [(jnp.float16, jnp.bfloat16),
                                               (jnp.float32, jnp.float16)])
def test_zoom_linesearch_value_of_another_dtype_matches_optax(dtype, value_dtype):
  """A loss of another dtype than the params (optax's dtype-stability test): each bracketing /
  zooming branch keeps the state's dtypes (jopt used to fail to trace), same params as optax."""
  def objective(x):
    return jnp.sum((x - jnp.asarray([1.0, -2.0, 0.5], x.dtype)) ** 2)

  def run(lib):
    tx = lib.lbfgs(learning_rate=0.1, linesearch=lib.scale_by_zoom_linesearch(max_linesearch_steps=20))

    @jax.jit
    def step(params, state):
      value, grad = jax.value_and_grad(objective)(params)
      updates, state = tx.update(grad, state, params, value=value.astype(value_dtype), grad=grad,
                                 value_fn=objective)
      return lib.apply_updates(params, updates), state

    params = jnp.zeros(3, dtype)
    state = tx.init(params)
    out = []
    for _ in range(3):
      params, state = step(params, state)
      assert params.dtype == dtype
      out.append(np.asarray(params, np.float32))
    return out

  for got, want in zip(run(jopt), run(optax)):
    np.testing.assert_allclose(got, want, rtol=1e-2 if dtype == jnp.float16 else 1e-6, atol=1e-3)


def test_init_with_abstract_params_matches_optax():
  """`init` on `jax.ShapeDtypeStruct` params (optax's sharding test; used to plan state sharding):
  the same state shapes and dtypes as optax (jopt used to call `jnp.asarray` on them)."""
  params = {"w": jax.ShapeDtypeStruct((2, 4, 8), jnp.bfloat16), "b": jax.ShapeDtypeStruct((3,), jnp.float32)}
  describe = lambda state: jax.tree.map(lambda x: (x.shape, jnp.dtype(x.dtype)), state)
  ours, theirs = jopt.lbfgs().init(params), optax.lbfgs().init(params)
  assert jax.tree.leaves(describe(ours)) == jax.tree.leaves(describe(theirs))
