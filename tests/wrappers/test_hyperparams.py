"""inject_hyperparams: bitwise equal to optax's, the state is the truth (overwrites take effect);
jopt.hyperparams finds values in any nesting."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
import jopt.torch
from parity import gradient_sequence, random_tree, trajectory

SCHED = lambda count: 0.02 * jnp.cos(0.1 * count)  # noqa: E731  a schedule both libraries call alike


def _assert_bitwise(ours, ref):
  for t, ((p1, u1), (p2, u2)) in enumerate(zip(ours, ref)):
    for a, b in zip(jax.tree.leaves((p1, u1)), jax.tree.leaves((p2, u2))):
      assert a.dtype == b.dtype, f"step {t}: dtype {a.dtype} != {b.dtype}"
      np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32),
                                    err_msg=f"step {t}")


def _run_both(name, dtype=jnp.float32, steps=12, mode="jit", static_args=(), **kwargs):
  """jopt.inject_hyperparams(jopt.<name>) and optax.inject_hyperparams(optax.<name>), float32 hyperparameters."""
  params = random_tree(jax.random.PRNGKey(1), dtype)
  grads = gradient_sequence(params, steps, seed=3)
  ours_tx = jopt.inject_hyperparams(getattr(jopt, name), static_args=static_args)(**kwargs)
  ref_tx = optax.inject_hyperparams(
      getattr(optax, name), static_args=static_args, hyperparam_dtype=jnp.float32)(**kwargs)
  return trajectory(ours_tx, params, grads, mode), trajectory(ref_tx, params, grads, mode)


@pytest.mark.parametrize("name", ["adam", "amsgrad"])
@pytest.mark.parametrize("lr", [1e-2, "array", "schedule"])
def test_inject_is_bitwise_equal_to_optax_inject(name, lr):
  if not hasattr(jopt, name):
    pytest.fail(f"jopt.{name} is not there yet (another area builds it)")
  learning_rate = {"array": jnp.asarray(1e-2), "schedule": SCHED}.get(lr, lr)
  _assert_bitwise(*_run_both(name, learning_rate=learning_rate))


def test_inject_bitwise_more_optimizers_and_modes():
  _assert_bitwise(*_run_both("adamw", learning_rate=SCHED, weight_decay=jnp.asarray(0.1), b1=0.8))
  _assert_bitwise(*_run_both("rmsprop", learning_rate=1e-2, decay=0.8, momentum=0.5))
  _assert_bitwise(*_run_both("sgd", learning_rate=0.1, momentum=0.9, nesterov=True, mode="eager", steps=3))
  _assert_bitwise(*_run_both("adam", learning_rate=SCHED, mode="pmap", steps=3))


@pytest.mark.parametrize("mode,wrap", [
    ("eager", "plain"), ("jit", "plain"), ("jit", "chain"), ("jit", "multisteps"),
    pytest.param("eager", "chain", marks=pytest.mark.slow),
    pytest.param("eager", "multisteps", marks=pytest.mark.slow),
])
def test_user_overwrite_of_any_numeric_hyperparameter_takes_effect(mode, wrap):
  """The state is the truth: `state.hyperparams[k] = v` changes the next update, as in optax."""
  def build(lib):
    inner = lib.inject_hyperparams(lib.adam)(learning_rate=0.0034, b1=0.9)
    if wrap == "chain":
      return lib.chain(lib.clip_by_global_norm(10.0), inner)
    if wrap == "multisteps":
      return lib.MultiSteps(inner, every_k_schedule=1)
    return inner

  def inject_state(state):
    if wrap == "chain":
      return state[1]
    if wrap == "multisteps":
      return state.inner_opt_state
    return state

  params = random_tree(jax.random.PRNGKey(2))
  grads = gradient_sequence(params, 4, seed=5)
  results = []
  for lib in (jopt, optax):
    tx = build(lib)
    update = tx.update if mode == "eager" else jax.jit(tx.update)
    state = tx.init(params)
    out = []
    for t, g in enumerate(grads):
      if t == 2:
        inject_state(state).hyperparams["learning_rate"] = jnp.asarray(0.1)
        inject_state(state).hyperparams["b1"] = jnp.asarray(0.5)
      u, state = update(g, state, params)
      out.append(u)
    results.append(out)
  for u_ours, u_ref in zip(*results):
    for a, b in zip(jax.tree.leaves(u_ours), jax.tree.leaves(u_ref)):
      np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  # And the overwrite changed the result (so the comparison above could fail).
  unchanged = build(jopt)
  state = unchanged.init(params)
  for g in grads[:3]:
    u, state = unchanged.update(g, state, params)
  assert not np.allclose(jax.tree.leaves(u)[1], jax.tree.leaves(results[0][2])[1])


def test_bf16_params_keep_float32_hyperparams():
  ours, ref = _run_both("adam", dtype=jnp.bfloat16, learning_rate=SCHED, steps=5)
  # optax (given hyperparam_dtype=float32) returns float32 updates for bf16 params and rounds once
  # in apply_updates; jopt's updates keep the param dtype: one bf16 rounding apart.
  for (p1, _), (p2, _) in zip(ours, ref):
    for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(p2)):
      np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b, np.float32), rtol=2e-2, atol=2e-2)
  for _, u in ours:
    assert all(l.dtype == jnp.bfloat16 for l in jax.tree.leaves(u))
  tx = jopt.inject_hyperparams(jopt.adam)(learning_rate=1e-3, b1=jnp.asarray(0.9, jnp.bfloat16))
  params = random_tree(jax.random.PRNGKey(0), jnp.bfloat16)
  state = tx.init(params)
  _, state = jax.jit(tx.update)(params, state)
  assert state.hyperparams["b1"].dtype == jnp.bfloat16  # the dtype the user gave, as in optax
  for k, v in state.hyperparams.items():
    assert k == "b1" or v.dtype == jnp.float32, k
  assert float(state.hyperparams["learning_rate"]) == np.float32(1e-3)
  # optax rounds the learning rate to bf16 for bf16 params.
  o_state = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3).init(params)
  assert o_state.hyperparams["learning_rate"].dtype == jnp.bfloat16


def test_hyperparam_dtype_override():
  tx = jopt.inject_hyperparams(jopt.sgd, hyperparam_dtype=jnp.bfloat16)(learning_rate=0.1)
  assert tx.init(jnp.zeros(2)).hyperparams["learning_rate"].dtype == jnp.bfloat16


def test_schedule_values_are_logged_like_optax():
  sched = optax.linear_schedule(0.1, 0.0, 10)
  ours = jopt.inject_hyperparams(jopt.sgd)(learning_rate=sched, momentum=0.9)
  ref = optax.inject_hyperparams(optax.sgd)(learning_rate=sched, momentum=0.9)
  params = jnp.ones(3)
  s1, s2 = ours.init(params), ref.init(params)
  update1, update2 = jax.jit(ours.update), jax.jit(ref.update)
  for t in range(12):
    _, s1 = update1(params, s1)
    _, s2 = update2(params, s2)
    np.testing.assert_array_equal(s1.hyperparams["learning_rate"], s2.hyperparams["learning_rate"])
    np.testing.assert_allclose(jopt.hyperparams(s1)["learning_rate"], sched(t), rtol=1e-6, atol=1e-7)
  assert int(s1.count) == 12


def test_mask_and_static_args_are_never_called_as_schedules():
  calls = []

  def mask(p):
    calls.append(type(p))
    return jax.tree.map(lambda x: jnp.ndim(x) > 0, p)

  kwargs = dict(learning_rate=1e-2, weight_decay=0.5, mask=mask)
  _assert_bitwise(*_run_both("adamw", static_args="mask", **kwargs))  # optax needs static_args
  # jopt's adamw declares `mask`, so it is never called as a schedule, even without static_args.
  params = random_tree(jax.random.PRNGKey(1))
  grads = gradient_sequence(params, 3, seed=3)
  ours = trajectory(jopt.inject_hyperparams(jopt.adamw)(**kwargs), params, grads)
  ref = trajectory(jopt.adamw(**kwargs), params, grads)
  for (p1, _), (p2, _) in zip(ours, ref):  # float32 arrays vs Python floats: rounding only
    for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(p2)):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  assert all(c is not jax.ShapeDtypeStruct and c is not int for c in calls)
  # A callable argument of a user's factory is a schedule unless named in static_args (optax's rule).
  factory = lambda learning_rate, loss_fn: jopt.sgd(learning_rate)  # noqa: E731
  tx = jopt.inject_hyperparams(factory, static_args="loss_fn")(
      learning_rate=0.1, loss_fn=lambda p: jnp.sum(p["w"] ** 2))
  assert "loss_fn" not in tx.init(jnp.zeros(3)).hyperparams
  # static_args: named parameters only.
  tx = jopt.inject_hyperparams(jopt.adamw, static_args="mask")(1e-2, mask=mask)
  assert "mask" not in tx.init(jnp.zeros(3)).hyperparams
  with pytest.raises(ValueError, match="static_args.*not_a_param"):
    jopt.inject_hyperparams(jopt.adam, static_args=["not_a_param"])


def test_array_hyperparams_change_without_recompiling():
  tx = jopt.inject_hyperparams(jopt.adam)(learning_rate=jnp.asarray(1e-2))
  params = jnp.ones(4)
  step = jax.jit(tx.update)
  state = tx.init(params)
  u1, state = step(params, state)
  state.hyperparams["learning_rate"] = jnp.asarray(5e-2, jnp.float32)
  u2, state = step(params, state)
  assert step._cache_size() == 1
  ref = jopt.adam(5e-2)
  r_state = ref.init(params)
  _, r_state = ref.update(params, r_state)
  r2, _ = ref.update(params, r_state)
  np.testing.assert_allclose(u2, r2, rtol=1e-5)
  assert not np.allclose(u1, u2)


def test_bad_input_raises_at_build_time():
  with pytest.raises(ValueError, match="b1"):
    jopt.inject_hyperparams(jopt.adam)(learning_rate=0.1, b1=1.5)
  with pytest.raises(ValueError, match="learning_rate"):
    jopt.inject_hyperparams(jopt.adam)(learning_rate=-1.0)


def test_abstract_init():
  tx = jopt.inject_hyperparams(jopt.adam)(learning_rate=SCHED)
  shapes = jax.eval_shape(tx.init, random_tree(jax.random.PRNGKey(0)))
  assert shapes.hyperparams["learning_rate"].dtype == jnp.float32


def _inject(lr=0.1):
  return jopt.inject_hyperparams(jopt.adam)(learning_rate=lr)


NESTINGS = [
    ("inject", lambda: _inject(), "learning_rate"),
    ("chain", lambda: jopt.chain(jopt.identity(), _inject()), "learning_rate"),
    ("named_chain", lambda: jopt.named_chain(("clip", jopt.identity()), ("opt", _inject())),
     "learning_rate"),
    ("masked", lambda: jopt.masked(_inject(), lambda p: jax.tree.map(lambda _: True, p)),
     "learning_rate"),
    ("multi_transform", lambda: optax.multi_transform(
        {"a": _inject(), "b": jopt.sgd(1.0)}, lambda p: jax.tree.map(lambda _: "a", p)),
     "learning_rate"),
    ("MultiSteps", lambda: jopt.MultiSteps(_inject(), 2).gradient_transformation(), "learning_rate"),
    ("optax.MultiSteps", lambda: optax.MultiSteps(_inject(), 2).gradient_transformation(),
     "learning_rate"),
    ("apply_if_finite", lambda: jopt.apply_if_finite(_inject(), 3), "learning_rate"),
    ("lookahead", lambda: jopt.lookahead(_inject(), 2, 0.5), "learning_rate"),
    ("deep", lambda: jopt.named_chain(
        ("opt", jopt.chain(jopt.identity(), jopt.apply_if_finite(
            jopt.MultiSteps(jopt.masked(_inject(), lambda p: jax.tree.map(lambda _: True, p)), 2)
            .gradient_transformation(), 3)))),
     "learning_rate"),
    ("optax.inject_hyperparams", lambda: optax.inject_hyperparams(optax.sgd)(learning_rate=0.1),
     "learning_rate"),
]


@pytest.mark.parametrize("name,make,key", NESTINGS, ids=[n for n, _, _ in NESTINGS])
def test_hyperparams_finds_learning_rate(name, make, key):
  tx = make()
  params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
  if name == "lookahead":
    params = jopt.LookaheadParams.init_synced(params)
  state = tx.init(params)
  found = jopt.hyperparams(state)
  assert key in found, found.keys()
  np.testing.assert_allclose(found[key], 0.1, rtol=1e-7)
  # Inside jit too.
  found_jit = jax.jit(jopt.hyperparams)(state)
  np.testing.assert_allclose(found_jit[key], 0.1, rtol=1e-7)


def test_hyperparams_reads_plateau_scale_and_nested_inject():
  tx = jopt.chain(_inject(0.3), jopt.reduce_on_plateau(factor=0.5, patience=1))
  state = tx.init(jnp.ones(2))
  for loss in [1.0, 1.0]:
    _, state = tx.update(jnp.ones(2), state, value=loss)
  found = jopt.hyperparams(state)
  np.testing.assert_allclose(found["learning_rate"], 0.3, rtol=1e-7)
  np.testing.assert_allclose(found["scale"], 0.5)
  # A name found twice is keyed by its path.
  two = jopt.chain(_inject(0.3), jopt.named_chain(("opt", _inject(0.2))))
  found = jopt.hyperparams(two.init(jnp.ones(2)))
  np.testing.assert_allclose(found["0/learning_rate"], 0.3, rtol=1e-7)
  np.testing.assert_allclose(found["1/opt/learning_rate"], 0.2, rtol=1e-7)
  assert "learning_rate" not in found
  # The PyTorch plateau scheduler declares its learning rate.
  torch_plateau = jopt.torch.reduce_lr_on_plateau(0.1)
  assert float(jopt.hyperparams(torch_plateau.init(jnp.ones(2)))["lr"]) == np.float32(0.1)
  assert jopt.hyperparams(jopt.adam(0.1).init(jnp.ones(2))) == {}
