"""Contracts every optimizer alias keeps beyond the reference table: bad hyperparameters name the
argument, optax's signatures and state fields, complex and bf16 params (edge cases of the common
optimizers: test_edge_cases.py; building blocks: tests/transforms/test_transform_contracts.py).
"""

import inspect

import jax
import jax.numpy as jnp
import optax
import pytest

import jopt
from cases import DECAYING as SCHED
from jopt._src.optimizers import adan as jadan
from jopt._src.optimizers import fromage as jfromage
from jopt._src.optimizers import optimistic as joptimistic
from jopt._src.optimizers import polyak as jpolyak
from jopt._src.optimizers import signum as jsignum
from jopt._src.optimizers import sm3 as jsm3
from jopt._src.transforms import normalize as jnormalize
from parity import assert_trajectories_match

ADAPTIVE = ["adabelief", "adadelta", "adagrad", "adamax", "adamaxw", "amsgrad", "nadam", "nadamw", "radam",
            "rmsprop", "yogi"]

# (name, argument, bad value), built with learning_rate=0.1 and that argument.
BAD = [
    ("adagrad", "eps", -1.0), ("adagrad", "initial_accumulator_value", -1.0),
    ("rmsprop", "decay", 1.0), ("rmsprop", "momentum", 1.0), ("rmsprop", "eps", -1.0),
    ("adadelta", "rho", 1.0), ("adadelta", "eps", -1.0), ("adadelta", "weight_decay", -0.1),
    ("nadam", "b1", 1.0), ("nadam", "eps", -1e-8), ("nadamw", "b2", 1.0), ("nadamw", "weight_decay", -1.0),
    ("adamax", "b1", 1.0), ("adamaxw", "b2", -0.1), ("adamaxw", "eps", -1.0),
    ("amsgrad", "b2", -0.1), ("radam", "b1", 1.0), ("radam", "threshold", 0.0),
    ("adabelief", "b2", 1.0), ("adabelief", "eps_root", -1.0), ("yogi", "b1", 1.0), ("yogi", "eps", -1.0),
] + [(n, "learning_rate", -0.1) for n in ADAPTIVE]


@pytest.mark.parametrize("name,arg,value", BAD, ids=[f"{n}-{a}" for n, a, _ in BAD])
def test_bad_input_raises_at_build(name, arg, value):
  kwargs = {"learning_rate": 0.1}
  kwargs[arg] = value
  with pytest.raises(ValueError, match=arg):
    getattr(jopt, name)(**kwargs)


@pytest.mark.parametrize("name,kwargs,arg", [
    ("noisy_sgd", dict(learning_rate=-0.1, key=0), "learning_rate"),
    ("noisy_sgd", dict(learning_rate=0.1, eta=-1.0, key=0), "eta"),
    ("lion", dict(learning_rate=1e-3, weight_decay=-1.0), "weight_decay"),
    ("lamb", dict(learning_rate=1e-3, b1=1.0), "b1"),
    ("lars", dict(learning_rate=0.1, momentum=1.0), "momentum"),
    ("lars", dict(learning_rate=0.1, trust_coefficient=-1.0), "trust_coefficient"),
    ("novograd", dict(learning_rate=-1.0), "learning_rate"),
    ("adafactor", dict(min_dim_size_to_factor=0), "min_dim_size_to_factor"),
    ("adafactor", dict(momentum=1.5), "momentum"),
    ("adafactor", dict(clipping_threshold=-1.0), "clipping_threshold"),
    ("adafactor", dict(learning_rate=-1.0), "learning_rate"),
])
def test_bad_input_names_the_argument(name, kwargs, arg):
  with pytest.raises(ValueError, match=arg):
    getattr(jopt, name)(**kwargs)


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
