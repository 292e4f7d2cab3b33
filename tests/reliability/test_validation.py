"""The argument validator (`jopt._src.checks`) on the inputs issue 16 names, each next to optax's behaviour.

Every bad input either raises a clear error (the public function, the argument) when the factory is
called, or at `update` (the path in the tree); every input optax gives a meaning keeps it.
"""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
from jopt._src import checks
from parity import assert_trajectories_match, assert_trees_close


def _msg(fn, name):
  """A message naming the function and the argument."""
  return rf"{fn}\b.*`{name}`"


# --- types --------------------------------------------------------------------------------------

@pytest.mark.parametrize("call,fn,arg", [
    (lambda v: jopt.sgd(0.1, momentum=0.9, nesterov=v), "sgd", "nesterov"),
    (lambda v: jopt.adam(0.1, nesterov=v), "adam", "nesterov"),
    (lambda v: jopt.rmsprop(0.1, centered=v), "rmsprop", "centered"),
    (lambda v: jopt.amsgrad(0.1, bias_correction_mu=v), "amsgrad", "bias_correction_mu"),
    (lambda v: jopt.adafactor(factored=v), "adafactor", "factored"),
    (lambda v: jopt.ema(0.9, debias=v), "ema", "debias"),
    (lambda v: jopt.make_train_step(lambda p, b: 0.0, jopt.sgd(0.1), donate=v), "make_train_step",
     "donate"),
])
@pytest.mark.parametrize("value", ["false", "ture", None, 1, [True]])
def test_flags_must_be_bools(call, fn, arg, value):
  with pytest.raises(TypeError, match=_msg(fn, arg)):
    call(value)


def test_numpy_bool_flags_mean_what_python_bools_mean():
  params = {"w": jnp.arange(3.0)}
  assert_trajectories_match(jopt.sgd(0.1, momentum=0.9, nesterov=np.bool_(True)),
                            optax.sgd(0.1, momentum=0.9, nesterov=True), steps=3, params=params)


def test_nesterov_false_string_no_longer_means_true():
  # optax takes the truthy string "false" as nesterov=True; jopt refuses it.
  theirs = optax.sgd(0.1, momentum=0.9, nesterov="false")
  params = {"w": jnp.arange(3.0)}
  assert_trajectories_match(theirs, optax.sgd(0.1, momentum=0.9, nesterov=True), steps=3, params=params)
  with pytest.raises(TypeError, match=_msg("sgd", "nesterov")):
    jopt.sgd(0.1, momentum=0.9, nesterov="false")


@pytest.mark.parametrize("value,kind", [
    ("1e-3", TypeError), (True, TypeError), ([1e-3], TypeError), (np.ones((2, 2)), TypeError),
    (1e-3 + 1j, TypeError), (float("nan"), ValueError), (float("inf"), ValueError),
    (1e300, ValueError), (-1e-3, ValueError),
])
@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop", "lion", "adagrad"])
def test_bad_learning_rates(name, value, kind):
  with pytest.raises(kind, match=_msg(name, "learning_rate")):
    getattr(jopt, name)(value)


@pytest.mark.parametrize("name,arg", [
    ("adam", "b1"), ("adam", "b2"), ("adam", "eps"), ("adam", "eps_root"), ("adamw", "weight_decay"),
    ("adafactor", "decay_rate"), ("rmsprop", "decay"), ("rmsprop", "eps"), ("lion", "b1"),
    ("radam", "threshold"), ("scale_by_adam", "b1"), ("add_decayed_weights", "weight_decay"),
    ("linear_schedule", "transition_steps"), ("clip_by_global_norm", "max_norm"),
])
def test_none_for_a_required_number_is_a_type_error_at_build(name, arg):
  kwargs = {"learning_rate": 0.1} if "learning_rate" in inspect.signature(getattr(jopt, name)).parameters else {}
  if name == "linear_schedule":
    kwargs = dict(init_value=0.1, end_value=0.0)
  if name == "clip_by_global_norm":
    kwargs = {}
  kwargs[arg] = None
  with pytest.raises(TypeError, match=_msg(name, arg)):
    getattr(jopt, name)(**kwargs)


# --- learning_rate=None: optax's documented meanings --------------------------------------------

@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop", "lamb", "lion", "adagrad", "noisy_sgd"])
def test_no_learning_rate_is_a_type_error_where_optax_documents_none(name):
  # optax's sgd(None) returns +g: gradient ascent at rate 1.
  with pytest.raises(TypeError, match=_msg(name, "learning_rate")):
    getattr(jopt, name)(None)


def test_scale_by_learning_rate_none_is_the_identity_as_documented():
  assert_trajectories_match(jopt.scale_by_learning_rate(None), optax.scale_by_learning_rate(None),
                            steps=3, apply_scale=1e-2)


def test_adafactor_without_learning_rate_matches_optax():
  assert_trajectories_match(jopt.adafactor(None), optax.adafactor(None), steps=5)


def test_adadelta_default_descends_at_rate_one():
  """optax's adadelta() ascends (scale_by_learning_rate(None) drops the minus sign); jopt's descends."""
  assert_trajectories_match(jopt.adadelta(), optax.adadelta(learning_rate=1.0), steps=5)
  assert_trajectories_match(jopt.adadelta(None), jopt.adadelta(1.0), steps=5)
  loss = lambda w: jnp.sum(w ** 2)  # noqa: E731
  for lib, descends in ((jopt, True), (optax, False)):
    tx, w = lib.adadelta(), jnp.array([1.0, -2.0])

    def body(_, carry, tx=tx):
      w, state = carry
      updates, state = tx.update(jax.grad(loss)(w), state, w)
      return w + updates, state

    w, _ = jax.lax.fori_loop(0, 200, body, (w, tx.init(w)))
    assert (float(loss(w)) < 5.0) == descends, (lib.__name__, w)  # 5.0: the starting loss


# --- inf and out-of-domain values ---------------------------------------------------------------

@pytest.mark.parametrize("call,fn,arg", [
    (lambda: jopt.adam(float("inf")), "adam", "learning_rate"),
    (lambda: jopt.adam(1e300), "adam", "learning_rate"),
    (lambda: jopt.adam(1e-3, eps=float("inf")), "adam", "eps"),
    (lambda: jopt.adam(1e-3, eps_root=float("inf")), "adam", "eps_root"),
    (lambda: jopt.adagrad(0.1, initial_accumulator_value=float("inf")), "adagrad",
     "initial_accumulator_value"),
    (lambda: jopt.adafactor(decay_rate=-1.0), "adafactor", "decay_rate"),
    (lambda: jopt.adafactor(decay_offset=-1), "adafactor", "decay_offset"),
    (lambda: jopt.lars(0.1, momentum=1.5), "lars", "momentum"),
    (lambda: jopt.sm3(0.1, momentum=1.5), "sm3", "momentum"),
    (lambda: jopt.linear_schedule(0.1, 0.0, 2.5), "linear_schedule", "transition_steps"),
    (lambda: jopt.linear_schedule(float("inf"), 0.0, 10), "linear_schedule", "init_value"),
    (lambda: jopt.exponential_decay(0.1, 10, float("inf")), "exponential_decay", "decay_rate"),
])
def test_values_without_a_meaning_raise_at_build(call, fn, arg):
  with pytest.raises(ValueError, match=_msg(fn, arg)):
    call()


def test_whole_float_step_counts_are_accepted():
  np.testing.assert_allclose(jopt.linear_schedule(1.0, 0.0, 10.0)(5), optax.linear_schedule(1.0, 0.0, 10)(5))


@pytest.mark.parametrize("name", ["clip_by_global_norm", "clip"])
def test_inf_threshold_means_no_limit(name):
  assert_trajectories_match(getattr(jopt, name)(float("inf")), optax.identity(), steps=3, apply_scale=1e-2)


# --- schedules ----------------------------------------------------------------------------------

def test_schedule_returning_nan_at_count_zero_is_rejected():
  with pytest.raises(ValueError, match=_msg("adam", "learning_rate") + r".*nan at count 0"):
    jopt.adam(lambda count: jnp.log(count * 0.0) * 0.0)


@pytest.mark.parametrize("schedule,kind,match", [
    (lambda: 0.1, TypeError, "fails when called with a count"),
    (lambda count: jnp.ones(3) * count, TypeError, r"real scalar; it returns float32\[3\]"),
    (lambda count: "0.1", TypeError, "fails when called with a count|real scalar"),
    (lambda count: jnp.zeros((), jnp.complex64), TypeError, "real scalar"),
    (lambda count: jnp.ones(2).reshape(3), TypeError, "fails when called with a count"),
])
def test_bad_schedules_named_at_build(schedule, kind, match):
  with pytest.raises(kind, match=_msg("sgd", "learning_rate") + ".*(" + match + ")"):
    jopt.sgd(schedule)


def test_schedule_with_python_control_flow_still_works_eagerly():
  """It cannot be traced (as in optax, it fails under jit) but works eagerly: it is let through."""
  sched = lambda count: 0.1 if count < 2 else 0.01  # noqa: E731
  params = {"w": jnp.ones(2)}
  ours, theirs = jopt.sgd(sched), optax.sgd(sched)
  s1, s2 = ours.init(params), theirs.init(params)
  for _ in range(3):
    u1, s1 = ours.update(params, s1)
    u2, s2 = theirs.update(params, s2)
    assert_trees_close(u1, u2, 1e-7, 1e-7, "eager schedule")


def test_schedule_is_checked_once():
  calls = []

  def sched(count):
    calls.append(1)
    return 0.1 * jnp.ones_like(count, jnp.float32)

  jopt.adam(sched)
  n = len(calls)
  assert n == 2  # one abstract trace, one value at count 0
  jopt.sgd(sched)
  assert len(calls) == n


# --- traced hyperparameters skip the value checks -----------------------------------------------

def test_traced_hyperparameters_under_jit_vmap_and_grad():
  params = {"w": jnp.array([1.0, -2.0])}
  grads = {"w": jnp.array([0.5, 0.25])}

  def one_step(lr, b1):
    tx = jopt.adam(lr, b1=b1)
    updates, _ = tx.update(grads, tx.init(params), params)
    return jnp.sum(updates["w"])

  def one_step_optax(lr, b1):
    tx = optax.adam(lr, b1=b1)
    updates, _ = tx.update(grads, tx.init(params), params)
    return jnp.sum(updates["w"])

  lrs = jnp.array([1e-3, 1e-2, 1e-1])
  np.testing.assert_allclose(jax.jit(one_step)(0.1, 0.9), one_step_optax(0.1, 0.9), rtol=1e-6)
  np.testing.assert_allclose(jax.vmap(one_step, (0, None))(lrs, 0.9),
                             jax.vmap(one_step_optax, (0, None))(lrs, 0.9), rtol=1e-6)
  np.testing.assert_allclose(jax.grad(one_step)(0.1, 0.9), jax.grad(one_step_optax)(0.1, 0.9), rtol=1e-6)
  # A traced NaN is not checked (it is known only at run time) and costs nothing: no extra ops.
  jaxpr = str(jax.make_jaxpr(one_step)(0.1, 0.9))
  assert "isnan" not in jaxpr and "is_finite" not in jaxpr


# --- trees: leaf shapes and dtypes ----------------------------------------------------------------

@pytest.mark.parametrize("name,where", [
    ("adam", "scale_by_adam"), ("sgd", "apply_updates"), ("rmsprop", "scale_by_rms"),
    ("lion", "scale_by_lion"),
])
@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_a_gradient_of_another_shape_is_never_broadcast(name, where, mode):
  params = {"w": jnp.ones(4)}
  grads = {"w": jnp.ones((3, 4))}
  # optax broadcasts: the param silently becomes (3, 4).
  ref = getattr(optax, name)(0.1)
  u, _ = ref.update(grads, ref.init(params), params)
  assert optax.apply_updates(params, u)["w"].shape == (3, 4)
  tx = getattr(jopt, name)(0.1)
  step = lambda g, s, p: jopt.apply_updates(p, tx.update(g, s, p)[0])  # noqa: E731
  step = jax.jit(step) if mode == "jit" else step
  with pytest.raises(ValueError, match=rf"{where}: the update at `\['w'\]` has shape \(3, 4\)"):
    step(grads, tx.init(params), params)


def test_apply_updates_checks_shapes_and_integer_params():
  with pytest.raises(ValueError, match=r"apply_updates: .*`\['b'\]` has shape \(2,\)"):
    jopt.apply_updates({"b": jnp.ones(3)}, {"b": jnp.ones(2)})
  # optax truncates a float update on an integer param: 0.4 steps vanish.
  assert int(optax.apply_updates({"n": jnp.array(1)}, {"n": jnp.array(0.4)})["n"]) == 1
  with pytest.raises(TypeError, match=r"apply_updates: .*`\['n'\]` has dtype float32 .* int32"):
    jopt.apply_updates({"n": jnp.array(1)}, {"n": jnp.array(0.4)})


@pytest.mark.parametrize("dtype", [jnp.int32, jnp.bool_])
def test_integer_params_name_the_transform(dtype):
  params = {"w": jnp.ones(3, dtype)}
  tx = jopt.adam(0.1)
  with pytest.raises(TypeError, match=r"scale_by_adam: .*`\['w'\]`.*integers"):
    tx.update({"w": jnp.ones(3)}, tx.init(params), params)


def test_integer_gradients_for_float_params():
  tx = jopt.sgd(0.1, momentum=0.9)
  params = {"w": jnp.ones(3)}
  with pytest.raises(TypeError, match=r"trace: .*`\['w'\]` has dtype int32"):
    tx.update({"w": jnp.ones(3, jnp.int32)}, tx.init(params), params)


# --- float16 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["adam", "adamw", "nadam", "amsgrad", "adabelief", "rmsprop"])
def test_float16_params_need_a_representable_eps(name):
  params = {"w": jnp.array([0.0, 1.0, -1.0], jnp.float16)}
  zero = {"w": jnp.zeros(3, jnp.float16)}
  # optax: eps=1e-8 is 0 in float16, a zero gradient gives 0/0.
  ref = getattr(optax, name)(1e-3)
  u, _ = ref.update(zero, ref.init(params), params)
  assert name == "rmsprop" or not np.all(np.isfinite(np.asarray(u["w"], np.float32)))
  with pytest.raises(ValueError, match=r"`eps`=1e-\d+.* round.? to 0 in float16"):
    getattr(jopt, name)(1e-3).init(params)
  tx = getattr(jopt, name)(1e-3, eps=1e-4)
  u, _ = tx.update(zero, tx.init(params), params)
  assert u["w"].dtype == jnp.float16 and np.all(np.isfinite(np.asarray(u["w"], np.float32)))


def test_float16_params_with_float32_moments_keep_the_default_eps():
  params = {"w": jnp.array([0.0, 1.0, -1.0], jnp.float16)}
  tx = jopt.adam(1e-3, nu_dtype=jnp.float32)
  u, _ = tx.update({"w": jnp.zeros(3, jnp.float16)}, tx.init(params), params)
  assert np.all(np.asarray(u["w"]) == 0)


def test_check_representable_ignores_unknown_and_zero_values():
  tree = {"w": jnp.zeros(2, jnp.float16)}
  checks.check_representable("t", {"eps": 0.0}, tree)
  checks.check_representable("t", {"eps": 1e-8, "eps_root": 1e-4}, tree)  # eps_root survives
  jax.jit(lambda e: checks.check_representable("t", {"eps": e}, tree) or e)(1e-8)


@pytest.mark.parametrize("fn", ["piecewise_constant_schedule", "piecewise_interpolate_schedule"])
@pytest.mark.parametrize("value", ["abc", [10, 0.5], 5])
def test_piecewise_boundaries_must_be_a_dict(fn, value):
  args = (0.1, value) if fn == "piecewise_constant_schedule" else ("linear", 0.1, value)
  with pytest.raises(TypeError, match=fn + r": `boundaries_and_scales` must be a dict"):
    getattr(jopt, fn)(*args)
  # optax's meaning for None and {} is kept: a constant schedule.
  assert np.float32(getattr(jopt, fn)(*args[:-1], None)(7)) == np.float32(getattr(optax, fn)(*args[:-1], None)(7))
