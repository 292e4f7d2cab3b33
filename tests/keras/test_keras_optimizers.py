"""jopt.keras optimizers against real Keras 3 (JAX backend): step by step on `keras.Variable`s via `apply_gradients`."""

import inspect
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import jax.numpy as jnp
import numpy as np
import pytest

keras = pytest.importorskip("keras")  # a test dependency: `pip install keras==3.15.1`
if keras.backend.backend() != "jax":
  pytest.skip("jopt.keras is tested against Keras's JAX backend (KERAS_BACKEND=jax)",
              allow_module_level=True)

import jopt
import jopt.keras as jk

CLASS = {
    "sgd": "SGD", "rmsprop": "RMSprop", "adam": "Adam", "adamw": "AdamW", "adagrad": "Adagrad",
    "adadelta": "Adadelta", "adamax": "Adamax", "nadam": "Nadam", "ftrl": "Ftrl", "lion": "Lion",
    "lamb": "Lamb", "adafactor": "Adafactor",
}

# Two or three draws of each optimizer's own hyperparameters; every boolean flag both ways.
DRAWS = {
    "sgd": [dict(learning_rate=0.05), dict(learning_rate=0.03, momentum=0.9),
            dict(learning_rate=0.02, momentum=0.7, nesterov=True)],
    "rmsprop": [dict(learning_rate=0.01), dict(learning_rate=0.01, rho=0.8, momentum=0.5, centered=True),
                dict(learning_rate=0.005, momentum=0.9, epsilon=1e-3)],
    "adam": [dict(learning_rate=0.01), dict(learning_rate=0.02, beta_1=0.8, beta_2=0.99, amsgrad=True),
             dict(learning_rate=0.005, epsilon=1e-3)],
    "adamw": [dict(learning_rate=0.01), dict(learning_rate=0.02, weight_decay=0.1, amsgrad=True, beta_2=0.9)],
    "adagrad": [dict(learning_rate=0.05), dict(learning_rate=0.1, initial_accumulator_value=0.0, epsilon=1e-3)],
    "adadelta": [dict(learning_rate=1.0), dict(learning_rate=0.5, rho=0.8, epsilon=1e-4)],
    "adamax": [dict(learning_rate=0.01), dict(learning_rate=0.02, beta_1=0.7, beta_2=0.9, epsilon=1e-3)],
    "nadam": [dict(learning_rate=0.01), dict(learning_rate=0.02, beta_1=0.8, beta_2=0.99, epsilon=1e-4)],
    "ftrl": [dict(learning_rate=0.05),
             dict(learning_rate=0.1, learning_rate_power=-0.7, initial_accumulator_value=0.0,
                  l1_regularization_strength=0.01, l2_regularization_strength=0.05,
                  l2_shrinkage_regularization_strength=0.02, beta=0.3)],
    "lion": [dict(learning_rate=0.003), dict(learning_rate=0.001, beta_1=0.5, beta_2=0.9)],
    "lamb": [dict(learning_rate=0.01), dict(learning_rate=0.02, beta_1=0.8, beta_2=0.99, epsilon=1e-4)],
    "adafactor": [dict(learning_rate=0.01),
                  dict(learning_rate=0.05, beta_2_decay=-0.5, epsilon_2=1e-2, clip_threshold=0.5,
                       relative_step=False)],
}


def _exp_decay(kind):
  args = dict(initial_learning_rate=0.05, decay_steps=4, decay_rate=0.7)
  return getattr(keras.optimizers.schedules, "ExponentialDecay")(**args) if kind == "keras" \
      else jk.exponential_decay(**args)


# The base-optimizer options, each flag both ways across the list. "exclude" is matched
# against Keras's variable names and jopt's leaf paths (the names below are both).
OPTIONS = [
    dict(),
    dict(weight_decay=0.05, clipnorm=0.5),
    dict(weight_decay=0.1, exclude=["bias"], global_clipnorm=0.8, use_ema=True, ema_momentum=0.9),
    dict(clipvalue=0.3, use_ema=True, ema_momentum=0.8, ema_overwrite_frequency=4,
         loss_scale_factor=8.0),
    dict(schedule=True, weight_decay=0.02),
]
ACCUMULATE = dict(gradient_accumulation_steps=3, weight_decay=0.05, schedule=True, use_ema=True,
                  ema_momentum=0.7, ema_overwrite_frequency=2, global_clipnorm=1.0)

NAMES = ("kernel", "bias", "scale", "stack")
SHAPES = ((4, 5), (5,), (), (2, 3, 4))


def _data(seed, steps):
  rng = np.random.default_rng(seed)
  params = {n: rng.normal(size=s).astype(np.float32) for n, s in zip(NAMES, SHAPES)}
  grads = [{n: rng.normal(size=s).astype(np.float32) for n, s in zip(NAMES, SHAPES)}
           for _ in range(steps)]
  return params, grads


def _split(kwargs, side):
  """The same configuration as Keras kwargs or jopt kwargs (schedule objects, exclusions)."""
  kwargs = dict(kwargs)
  exclude = kwargs.pop("exclude", None)
  if kwargs.pop("schedule", False):
    kwargs["learning_rate"] = _exp_decay(side)
  if exclude and side == "jopt":
    kwargs["exclude_from_weight_decay"] = exclude
  return kwargs, exclude


def keras_trajectory(name, kwargs, params, grads):
  """Params after each `apply_gradients` of the real Keras optimizer on `keras.Variable`s."""
  kw, exclude = _split(kwargs, "keras")
  opt = getattr(keras.optimizers, CLASS[name])(**kw)
  if exclude:
    opt.exclude_from_weight_decay(var_names=exclude)
  variables = [keras.Variable(params[n], name=n) for n in NAMES]
  out = []
  for g in grads:
    opt.apply_gradients(zip([g[n] for n in NAMES], variables))
    out.append({n: np.asarray(v.value) for n, v in zip(NAMES, variables)})
  return out, opt, variables


def jopt_trajectory(name, kwargs, params, grads, mode):
  kw, _ = _split(kwargs, "jopt")
  tx = getattr(jk, name)(**kw)
  step = jax.jit(tx.update) if mode == "jit" else tx.update
  state, p, out = tx.init(params), params, []
  for g in grads:
    updates, state = step(g, state, p)
    p = jopt.apply_updates(p, updates)
    assert all(u.dtype == q.dtype for u, q in zip(jax.tree.leaves(updates), jax.tree.leaves(p)))
    out.append(p)
  return out, state


def assert_match(name, kwargs, steps, modes=("jit",), seed=0):
  params, grads = _data(seed, steps)
  expected, _, _ = keras_trajectory(name, kwargs, params, grads)
  for mode in modes:
    got, _ = jopt_trajectory(name, kwargs, params, grads, mode)
    for t, (a, e) in enumerate(zip(got, expected)):
      for n in NAMES:
        np.testing.assert_allclose(
            np.asarray(a[n]), e[n], rtol=2e-5, atol=2e-6,
            err_msg=f"{name} {kwargs} {mode}: {n} at step {t}")


# --- fast lane: every optimizer once, with most base options on, 10 steps ---


@pytest.mark.parametrize("name", sorted(CLASS))
def test_matches_keras_fast(name):
  options = OPTIONS[2] if name != "adamw" else dict(OPTIONS[2], weight_decay=0.1)
  assert_match(name, dict(DRAWS[name][-1], **options), steps=10, modes=("jit", "eager"))


def test_gradient_accumulation_fast():
  assert_match("adam", dict(DRAWS["adam"][1], **ACCUMULATE), steps=7, modes=("jit",))


# --- slow lane: every draw, every option, 30 steps, eager and jit ---


def _sweep():
  cases = []
  for name, draws in sorted(DRAWS.items()):
    for i, options in enumerate(OPTIONS):
      cases.append((name, dict(draws[i % len(draws)], **options)))
  return cases


@pytest.mark.slow
@pytest.mark.parametrize("name,kwargs", _sweep(), ids=lambda x: x if isinstance(x, str) else "")
def test_matches_keras_sweep(name, kwargs):
  if name == "adamw" and "weight_decay" not in kwargs:
    kwargs = dict(kwargs, weight_decay=0.004)
  assert_match(name, kwargs, steps=30, modes=("jit", "eager"), seed=len(kwargs))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CLASS))
def test_gradient_accumulation_sweep(name):
  kwargs = dict(DRAWS[name][0], **ACCUMULATE)
  assert_match(name, kwargs, steps=12, modes=("jit", "eager"), seed=3)


# --- EMA read-out, signatures, errors ---


def test_finalize_variable_values_matches_keras():
  kwargs = dict(learning_rate=0.05, use_ema=True, ema_momentum=0.8)
  params, grads = _data(1, 6)
  _, opt, variables = keras_trajectory("adam", kwargs, params, grads)
  opt.finalize_variable_values(variables)
  expected = {n: np.asarray(v.value) for n, v in zip(NAMES, variables)}
  got, state = jopt_trajectory("adam", kwargs, params, grads, "jit")
  final = jk.finalize_variable_values(got[-1], state)
  for n in NAMES:
    np.testing.assert_allclose(np.asarray(final[n]), expected[n], rtol=2e-5, atol=2e-6)
  # Without EMA the weights are returned as they are; inside a chain the state is found.
  tx = jopt.chain(jopt.identity(), jk.sgd(0.1))
  p = {"w": jnp.ones(3)}
  assert jk.finalize_variable_values(p, tx.init(p)) is p


@pytest.mark.parametrize("name", sorted(CLASS))
def test_signature_is_keras(name):
  theirs = inspect.signature(getattr(keras.optimizers, CLASS[name]).__init__)
  expected = [(p.name, p.default) for p in theirs.parameters.values()
              if p.name != "self" and p.kind is not p.VAR_KEYWORD]
  ours = inspect.signature(getattr(jk, name))
  positional = [(p.name, p.default) for p in ours.parameters.values()
                if p.kind is p.POSITIONAL_OR_KEYWORD]
  assert positional == expected
  extra = [(p.name, p.default, p.kind) for p in ours.parameters.values()
           if p.kind is not p.POSITIONAL_OR_KEYWORD]
  assert extra == [("exclude_from_weight_decay", None, inspect.Parameter.KEYWORD_ONLY)]
  assert getattr(jk, CLASS[name]) is getattr(jk, name)


# Arguments Keras rejects: jopt rejects them too, naming the function and the argument.
BAD = [
    ("adamw", dict(weight_decay=None), "weight_decay"),
    ("adam", dict(clipnorm=1.0, clipvalue=1.0), "clipnorm"),
    ("sgd", dict(clipnorm=1.0, global_clipnorm=1.0), "global_clipnorm"),
    ("adam", dict(gradient_accumulation_steps=1), "gradient_accumulation_steps"),
    ("adam", dict(use_ema=True, ema_momentum=1.5), "ema_momentum"),
    ("adam", dict(use_ema=True, ema_overwrite_frequency=2.5), "ema_overwrite_frequency"),
    ("sgd", dict(momentum=-0.1), "momentum"),
    ("sgd", dict(momentum=1.5), "momentum"),
    ("lion", dict(beta_1=0.0), "beta_1"),
    ("ftrl", dict(learning_rate_power=0.5), "learning_rate_power"),
    ("ftrl", dict(initial_accumulator_value=-0.1), "initial_accumulator_value"),
    ("ftrl", dict(l1_regularization_strength=-0.1), "l1_regularization_strength"),
    ("ftrl", dict(l2_regularization_strength=-0.1), "l2_regularization_strength"),
    ("ftrl", dict(l2_shrinkage_regularization_strength=-0.1), "l2_shrinkage_regularization_strength"),
    ("adam", dict(learning_rate="0.1"), "learning_rate"),
]


@pytest.mark.parametrize("name,kwargs,arg", BAD, ids=[f"{n}-{a}" for n, _, a in BAD])
def test_keras_rejects_so_does_jopt(name, kwargs, arg):
  with pytest.raises((ValueError, TypeError)):
    getattr(keras.optimizers, CLASS[name])(**kwargs)
  with pytest.raises((ValueError, TypeError), match=rf"jopt\.keras\.{name}.*`{arg}`"):
    getattr(jk, name)(**kwargs)


def test_needs_params_only_when_it_reads_them():
  g = {"w": jnp.ones(3)}
  tx = jk.adam(0.1)  # no decay, no EMA: params are optional, as in optax
  tx.update(g, tx.init(g))
  for tx in (jk.adam(0.1, weight_decay=0.1), jk.lamb(0.1), jk.adam(0.1, use_ema=True)):
    with pytest.raises(ValueError, match="jopt.keras.*needs the current parameters"):
      tx.update(g, tx.init(g))


def test_exclude_from_weight_decay_matches_paths():
  params = {"dense": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}}
  tx = jk.sgd(learning_rate=0.5, weight_decay=0.1, exclude_from_weight_decay=["dense/bias$"])
  zeros = jax.tree.map(jnp.zeros_like, params)
  updates, _ = tx.update(zeros, tx.init(params), params)
  np.testing.assert_allclose(updates["dense"]["kernel"], -0.05 * np.ones((2, 2)), rtol=1e-6)
  np.testing.assert_array_equal(updates["dense"]["bias"], np.zeros(2))
  with pytest.raises(ValueError, match="exclude_from_weight_decay"):
    jk.sgd(weight_decay=0.1, exclude_from_weight_decay=["(unclosed"])
