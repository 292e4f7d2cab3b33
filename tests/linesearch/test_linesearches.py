"""Zoom and backtracking linesearches and value_and_grad_from_state against optax, and their guarantees."""

import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
from jopt._src.linesearch import backtracking as jbacktracking
from jopt._src.linesearch import objective as jobjective
from jopt._src.linesearch import tree_math
from jopt._src.linesearch import zoom as jzoom
from jopt._src.linesearch import zoom_steps


def rosenbrock(x):
  return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


_RNG = np.random.default_rng(1)
A = jnp.asarray(_RNG.normal(size=(12, 4)), jnp.float32)
B = A @ jnp.array([1.0, -2.0, 0.5, 3.0])


def least_squares(params, a, b):
  return 0.5 * jnp.sum((a @ params["x"] - b) ** 2)


X0 = jnp.array([-1.2, 1.0, -0.5, 0.8])


def run(linesearch, value_and_grad, value_fn, params, steps, mode="jit", **data):
  """`chain(sgd(1), linesearch)` on `value_fn`; the params and state after each step."""
  tx = jopt.chain(jopt.sgd(1.0), linesearch)
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
    out.append((params, state[-1]))
  return out


def assert_runs_match(ours, ref, rtol=1e-5, atol=1e-6):
  """Params and the whole linesearch state (learning rate, value, grad, info) at every step."""
  for k, ((p1, s1), (p2, s2)) in enumerate(zip(ours, ref)):
    assert type(s1).__name__ == type(s2).__name__
    assert s1._fields == s2._fields
    for a, b in zip(jax.tree.leaves((p1, s1)), jax.tree.leaves((p2, s2))):
      np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"step {k}")


ZOOM_CASES = [
    dict(max_linesearch_steps=15),
    pytest.param(dict(max_linesearch_steps=10, max_learning_rate=0.002, initial_guess_strategy="one",
                      approx_dec_rtol=None, tol=1e-4, increase_factor=3.0), marks=pytest.mark.slow),
    dict(max_linesearch_steps=2, slope_rtol=0.3, curv_rtol=0.5, stepsize_precision=1e-2),
    pytest.param(dict(max_linesearch_steps=8, curv_rtol=math.inf, initial_guess_strategy="one"),
                 marks=pytest.mark.slow),
]


@pytest.mark.parametrize("kwargs", ZOOM_CASES)
def test_zoom_matches_optax(kwargs):
  ours = run(jzoom.scale_by_zoom_linesearch(**kwargs), jobjective.value_and_grad_from_state(rosenbrock),
             rosenbrock, X0, 10)
  tx = optax.chain(optax.sgd(1.0), optax.scale_by_zoom_linesearch(**kwargs))
  ref = _run_optax(tx, optax.value_and_grad_from_state(rosenbrock), rosenbrock, X0, 10)
  assert_runs_match(ours, ref)


def _run_optax(tx, value_and_grad, value_fn, params, steps, mode="jit", **data):
  state = tx.init(params)

  def step(params, state):
    value, grad = value_and_grad(params, state=state, **data)
    updates, state = tx.update(grad, state, params, value=value, grad=grad, value_fn=value_fn, **data)
    return optax.apply_updates(params, updates), state

  if mode == "jit":
    step = jax.jit(step)
  out = []
  for _ in range(steps):
    params, state = step(params, state)
    out.append((params, state[-1]))
  return out


def test_zoom_eager_matches_optax():
  ours = run(jzoom.scale_by_zoom_linesearch(10), jobjective.value_and_grad_from_state(rosenbrock),
             rosenbrock, X0, 1, mode="eager")
  ref = _run_optax(optax.chain(optax.sgd(1.0), optax.scale_by_zoom_linesearch(10)),
                   optax.value_and_grad_from_state(rosenbrock), rosenbrock, X0, 1, mode="eager")
  assert_runs_match(ours, ref)


def test_zoom_accepted_steps_satisfy_wolfe_conditions():
  """Every accepted step: f(w + eta u) <= f(w) + c1 eta <g, u> and |<g', u>| <= c2 |<g, u>|."""
  c1, c2 = 1e-4, 0.9
  tx = jopt.chain(jopt.sgd(1.0), jzoom.scale_by_zoom_linesearch(30, approx_dec_rtol=None))
  x, state = X0, tx.init(X0)
  step = jax.jit(lambda x, s, v, g: tx.update(g, s, x, value=v, grad=g, value_fn=rosenbrock))
  for _ in range(8):
    value, grad = jax.value_and_grad(rosenbrock)(x)
    updates, state = step(x, state, value, grad)
    eta = state[-1].learning_rate
    direction = -grad
    new_x = x + updates
    new_value, new_grad = jax.value_and_grad(rosenbrock)(new_x)
    slope0, slope = float(grad @ direction), float(new_grad @ direction)
    assert float(new_value) <= float(value) + c1 * float(eta) * slope0 + 1e-6 * abs(float(value))
    assert abs(slope) <= c2 * abs(slope0) * (1 + 1e-4)
    np.testing.assert_allclose(state[-1].value, new_value, rtol=1e-5)
    x = new_x


BACKTRACKING_CASES = [
    dict(max_backtracking_steps=15, store_grad=True),
    dict(max_backtracking_steps=6, slope_rtol=0.3, decrease_factor=0.5, increase_factor=math.inf,
         max_learning_rate=0.05, atol=1e-4, rtol=1e-3),
    pytest.param(dict(max_backtracking_steps=0, increase_factor=1.0, store_grad=True),
                 marks=pytest.mark.slow),
]


@pytest.mark.parametrize("kwargs", BACKTRACKING_CASES)
def test_backtracking_matches_optax_with_data_kwargs(kwargs):
  params = {"x": jnp.zeros(4)}
  if kwargs.get("store_grad"):
    vg_ours = jobjective.value_and_grad_from_state(least_squares)
    vg_ref = optax.value_and_grad_from_state(least_squares)
  else:
    vg_ours = vg_ref = lambda p, state, **data: jax.value_and_grad(least_squares)(p, **data)
  ours = run(jbacktracking.scale_by_backtracking_linesearch(**kwargs), vg_ours, least_squares, params, 10,
             a=A, b=B)
  ref = _run_optax(optax.chain(optax.sgd(1.0), optax.scale_by_backtracking_linesearch(**kwargs)),
                   vg_ref, least_squares, params, 10, a=A, b=B)
  assert_runs_match(ours, ref)
  if kwargs["max_backtracking_steps"] == 0:
    return  # a single trial is taken whether or not it decreases
  # Armijo: the accepted values never increase.
  values = [float(least_squares(p, A, B)) for p, _ in ours]
  assert all(b <= a + 1e-6 * abs(a) for a, b in zip(values, values[1:]))


def test_backtracking_eager_matches_optax():
  params = {"x": jnp.zeros(4)}
  kwargs = dict(max_backtracking_steps=10, store_grad=True)
  ours = run(jbacktracking.scale_by_backtracking_linesearch(**kwargs),
             jobjective.value_and_grad_from_state(least_squares), least_squares, params, 2, mode="eager",
             a=A, b=B)
  ref = _run_optax(optax.chain(optax.sgd(1.0), optax.scale_by_backtracking_linesearch(**kwargs)),
                   optax.value_and_grad_from_state(least_squares), least_squares, params, 2, mode="eager",
                   a=A, b=B)
  assert_runs_match(ours, ref)


def test_backtracking_restarts_after_a_zero_step():
  """Differs from optax: after an objective that was inf at every trial, the next search starts again."""

  def fn(x, blocked):
    # While blocked, any move away from x = 1 is infeasible (inf).
    return jnp.where(blocked & (x[0] > 1.01), jnp.inf, jnp.sum((x - 2.0) ** 2))

  x = jnp.ones(2)
  for ls, lib in [(jbacktracking.scale_by_backtracking_linesearch(10), jopt),
                  (optax.scale_by_backtracking_linesearch(10), optax)]:
    tx = lib.chain(lib.sgd(1.0), ls)
    state = tx.init(x)
    value, grad = jax.value_and_grad(fn)(x, False)
    u, state = tx.update(grad, state, x, value=value, grad=grad, value_fn=fn, blocked=True)
    np.testing.assert_array_equal(u, 0.0)  # every trial was inf: no step
    u, state = tx.update(grad, state, x, value=value, grad=grad, value_fn=fn, blocked=False)
    moved = bool(jnp.any(u != 0))
    assert moved == (lib is jopt)


def test_directional_derivative_for_complex_params():
  """d/deta f(w + eta u) at 0 from jax.grad's (conjugate) gradient, checked by finite differences."""
  w = jnp.array([1.0 + 2.0j, -0.5 + 0.3j], jnp.complex64)
  u = jnp.array([0.3 - 1.0j, 2.0 + 0.5j], jnp.complex64)
  f = lambda w: jnp.sum(jnp.abs(w) ** 2 * jnp.array([1.0, 3.0])) + jnp.real(w[0] * w[1])
  g = jax.grad(f)(w)
  h = 1e-3
  fd = (f(w + h * u) - f(w - h * u)) / (2 * h)
  np.testing.assert_allclose(tree_math.directional_derivative(g, u), fd, rtol=1e-3)


def test_value_and_grad_from_state_reuses_and_recomputes():
  fn = lambda x, scale: scale * jnp.sum(x ** 2)
  x = jnp.array([1.0, 2.0])
  for ls in [jzoom.scale_by_zoom_linesearch(5),
             jbacktracking.scale_by_backtracking_linesearch(5, store_grad=True)]:
    state = jopt.chain(jopt.sgd(1.0), ls).init(x)
    ours = jobjective.value_and_grad_from_state(fn)
    ref = optax.value_and_grad_from_state(fn)
    # Fresh state (value inf): computed; positional and keyword arguments reach value_fn.
    for out in (ours(x, 3.0, state=state), ours(x, scale=3.0, state=state)):
      np.testing.assert_allclose(out[0], 15.0)
      np.testing.assert_allclose(out[1], 6.0 * x)
    # A stored finite value: returned as is, with the stored gradient.
    stored = state[1]._replace(value=jnp.float32(7.0), grad=jnp.array([-1.0, 5.0]))
    for vg in (ours, ref):
      value, grad = vg(x, 3.0, state=(state[0], stored))
      np.testing.assert_allclose(value, 7.0)
      np.testing.assert_allclose(grad, [-1.0, 5.0])


def test_value_and_grad_from_state_errors():
  fn = lambda x: jnp.sum(x ** 2)
  vg = jobjective.value_and_grad_from_state(fn)
  x = jnp.ones(2)
  no_grad = jopt.chain(jopt.sgd(1.0), jbacktracking.scale_by_backtracking_linesearch(5)).init(x)
  with pytest.raises(ValueError, match="store_grad=True"):
    vg(x, state=no_grad)
  with pytest.raises(ValueError, match="no `value`"):
    vg(x, state=jopt.sgd(0.1).init(x))
  two = (jzoom.scale_by_zoom_linesearch(5).init(x), jzoom.scale_by_zoom_linesearch(5).init(x))
  with pytest.raises(ValueError, match="2 fields named `value`"):
    vg(x, state=two)
  # optax raises KeyError there: code catching either works with both libraries.
  for lib, state in ((jopt, two), (optax, (optax.scale_by_zoom_linesearch(5).init(x),) * 2)):
    with pytest.raises(KeyError):
      lib.value_and_grad_from_state(fn)(x, state=state)
  with pytest.raises(TypeError, match="callable"):
    jobjective.value_and_grad_from_state("fn")


def test_value_and_grad_from_state_ignores_param_keys_named_value():
  """optax also matches dict keys, so params {"value": ...} kept in an L-BFGS state break it."""
  from jopt._src.linesearch import lbfgs as jlbfgs
  fn = lambda p: jnp.sum(p["value"] ** 2) + jnp.sum(p["grad"] ** 2)
  params = {"value": jnp.ones(2), "grad": jnp.ones(3)}
  state = jlbfgs.lbfgs().init(params)
  value, grad = jobjective.value_and_grad_from_state(fn)(params, state=state)
  np.testing.assert_allclose(value, 5.0)
  with pytest.raises(KeyError):
    optax.value_and_grad_from_state(fn)(params, state=state)


def test_extra_arguments_must_belong_to_value_fn():
  x = jnp.ones(2)
  fn = lambda x, a: a * jnp.sum(x ** 2)
  for ls in [jzoom.scale_by_zoom_linesearch(5), jbacktracking.scale_by_backtracking_linesearch(5)]:
    state = ls.init(x)
    with pytest.raises(TypeError, match=r"\['c'\]"):
      ls.update(-x, state, x, value=2.0, grad=2 * x, value_fn=fn, a=1.0, c=2.0)
    # A value_fn taking **kwargs receives every extra argument.
    seen = {}

    def fn_kwargs(x, **kwargs):
      seen.update(kwargs)
      return kwargs["a"] * jnp.sum(x ** 2)

    ls.update(-x, state, x, value=2.0, grad=2 * x, value_fn=fn_kwargs, a=1.0, c=2.0)
    assert set(seen) == {"a", "c"}


def test_verbose_prints_only_on_failure(capfd):
  x = jnp.ones(2)
  fn = lambda x: jnp.sum(x ** 2)
  for ls, name in [(jzoom.scale_by_zoom_linesearch(3, verbose=True), "zoom"),
                   (jbacktracking.scale_by_backtracking_linesearch(3, verbose=True), "backtracking")]:
    state = ls.init(x)
    ls.update(-x, state, x, value=fn(x), grad=2 * x, value_fn=fn)  # a descent direction: succeeds
    jax.effects_barrier()
    assert name not in capfd.readouterr().out
    ls.update(x, state, x, value=fn(x), grad=2 * x, value_fn=fn)  # an ascent direction: fails
    jax.effects_barrier()
    assert f"scale_by_{name}_linesearch" in capfd.readouterr().out


@pytest.mark.parametrize("call,match", [
    (lambda: jzoom.scale_by_zoom_linesearch(10, initial_guess_strategy="two"), "initial_guess_strategy"),
    (lambda: jzoom.scale_by_zoom_linesearch(-1), "max_linesearch_steps"),
    (lambda: jzoom.scale_by_zoom_linesearch(10, max_learning_rate=0.0), "max_learning_rate"),
    (lambda: jzoom.scale_by_zoom_linesearch(10, curv_rtol=float("nan")), "curv_rtol"),
    (lambda: jbacktracking.scale_by_backtracking_linesearch(10, decrease_factor=0.0), "decrease_factor"),
    (lambda: jbacktracking.scale_by_backtracking_linesearch(10, store_grad="yes"), "store_grad"),
    (lambda: jbacktracking.scale_by_backtracking_linesearch(2.5), "max_backtracking_steps"),
    (lambda: jbacktracking.scale_by_backtracking_linesearch(True), "max_backtracking_steps"),
])
def test_bad_arguments(call, match):
  with pytest.raises((ValueError, TypeError), match=match):
    call()


def test_update_needs_params():
  for ls in [jzoom.scale_by_zoom_linesearch(5), jbacktracking.scale_by_backtracking_linesearch(5)]:
    with pytest.raises(ValueError, match="needs the current parameters"):
      ls.update(jnp.ones(2), ls.init(jnp.ones(2)), None, value=1.0, grad=jnp.ones(2), value_fn=jnp.sum)


@pytest.mark.parametrize("ours,name", [
    (jzoom.scale_by_zoom_linesearch, "scale_by_zoom_linesearch"),
    (jbacktracking.scale_by_backtracking_linesearch, "scale_by_backtracking_linesearch"),
    (jobjective.value_and_grad_from_state, "value_and_grad_from_state"),
])
def test_signature_matches_optax(ours, name):
  a = inspect.signature(ours).parameters
  b = inspect.signature(getattr(optax, name)).parameters
  assert [(k, p.kind, p.default) for k, p in a.items()] == [(k, p.kind, p.default) for k, p in b.items()]


@pytest.mark.parametrize("ours,theirs", [
    (jzoom.ScaleByZoomLinesearchState, optax.ScaleByZoomLinesearchState),
    (jzoom.ZoomLinesearchInfo, optax.ZoomLinesearchInfo),
    (jbacktracking.ScaleByBacktrackingLinesearchState, optax.ScaleByBacktrackingLinesearchState),
    (jbacktracking.BacktrackingLinesearchInfo, optax._src.linesearch.BacktrackingLinesearchInfo),
    (zoom_steps.ZoomLinesearchState, optax._src.linesearch.ZoomLinesearchState),
])
def test_state_fields_match_optax(ours, theirs):
  assert ours.__name__ == theirs.__name__ and ours._fields == theirs._fields


@pytest.mark.parametrize("name", ["scale_by_zoom_linesearch", "scale_by_backtracking_linesearch"])
def test_unused_extra_args_raise_as_in_optax(name):
  """An extra keyword the objective does not take: a TypeError saying "Unexpected keyword
  arguments" in both libraries (optax's own test matches that phrase)."""
  value_fn = lambda params, batch: jnp.sum(params * batch)
  x = jnp.array([1.0, 2.0])
  for lib in (jopt, optax):
    tx = getattr(lib, name)(5)
    with pytest.raises(TypeError, match="Unexpected keyword arguments.*unused_arg"):
      tx.update(-x, tx.init(x), x, value=value_fn(x, x), grad=x, value_fn=value_fn, batch=x,
                unused_arg=1)


def test_python_float_written_into_the_state_matches_optax():
  """`optax.tree.set(state, learning_rate=1.0)` (optax's tests set the initial guess so) leaves a
  Python float in the state; the linesearch and `value_and_grad_from_state` accept it as optax does."""
  fn = lambda x: jnp.sum((x - 3.0) ** 2)
  w = jnp.array([1.0, -1.0])
  out = []
  for lib in (jopt, optax):
    tx = lib.scale_by_zoom_linesearch(10, initial_guess_strategy="keep")
    state = optax.tree.set(tx.init(w), learning_rate=1.0)
    value, grad = jax.value_and_grad(fn)(w)
    u, state = tx.update(-grad, state, w, value=value, grad=grad, value_fn=fn)
    # A stored value that is a Python number: recomputed, with its result left as computed.
    v, g = lib.value_and_grad_from_state(fn)(w, state=optax.tree.set(state, value=math.inf))
    out.append((u, optax.tree.get(state, "learning_rate"), v, g))
  for got, want in zip(*out):
    np.testing.assert_allclose(got, want, rtol=1e-6)
