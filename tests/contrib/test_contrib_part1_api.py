"""Names, signatures and state layouts of jopt.contrib's muon, schedule-free, ADOPT, AdEMAMix, Prodigy,
D-Adaptation, Mechanic and COCOB against optax.contrib."""

import inspect

import jax
import jax.numpy as jnp
import optax
import optax.contrib
import pytest

import jopt
from jopt._src.contrib import adopt as adopt_mod
from jopt._src.contrib import ademamix as ademamix_mod
from jopt._src.contrib import cocob as cocob_mod
from jopt._src.contrib import dadapt as dadapt_mod
from jopt._src.contrib import mechanic as mechanic_mod
from jopt._src.contrib import muon as muon_mod
from jopt._src.contrib import prodigy as prodigy_mod
from jopt._src.contrib import schedule_free as schedule_free_mod
from parity import random_tree

MODULES = [adopt_mod, ademamix_mod, cocob_mod, dadapt_mod, mechanic_mod, muon_mod, prodigy_mod,
           schedule_free_mod]

FUNCTIONS = [
    "muon", "scale_by_muon", "schedule_free", "schedule_free_adamw", "schedule_free_sgd",
    "schedule_free_eval_params", "adopt", "scale_by_adopt", "ademamix", "scale_by_ademamix",
    "simplified_ademamix", "scale_by_simplified_ademamix", "prodigy", "dadapt_adamw", "mechanize",
    "cocob", "scale_by_cocob",
]
STATES = [
    "MuonState", "MuonDimensionNumbers", "ScheduleFreeState", "ScaleByAdemamixState",
    "ScaleBySimplifiedAdEMAMixState", "ProdigyState", "DAdaptAdamWState", "MechanicState", "COCOBState",
]


def _ours(name):
  found = [getattr(m, name) for m in MODULES if hasattr(m, name)]
  assert len(found) == 1, f"{name} defined in {len(found)} modules"
  return found[0]


def _same_default(a, b):
  if a is inspect.Parameter.empty or b is inspect.Parameter.empty:
    return a is b
  if callable(a) and callable(b):  # ADOPT's clip_value_fn: compare what it computes.
    xs = jnp.arange(0, 50)
    return bool(jnp.allclose(a(xs), b(xs)))
  if isinstance(a, tuple) and isinstance(b, (tuple, list)):
    return jnp.allclose(jnp.asarray(a), jnp.asarray(b)).item()
  return a == b and type(a) is type(b)


def test_part1_names_cover_optax_families():
  # Every optax.contrib name of these families is implemented here.
  keys = ("muon", "schedule_free", "schedulefree", "adopt", "ademamix", "prodigy", "dadapt", "mechan", "cocob")
  wanted = {n for n in dir(optax.contrib) if not n.startswith("_") and any(k in n.lower() for k in keys)}
  assert wanted == set(FUNCTIONS) | set(STATES)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_signature_matches_optax(name):
  ours = inspect.signature(_ours(name)).parameters
  ref = inspect.signature(getattr(optax.contrib, name)).parameters
  assert list(ours) == list(ref)
  for p in ref:
    assert ours[p].kind == ref[p].kind, p
    assert _same_default(ours[p].default, ref[p].default), (p, ours[p].default, ref[p].default)


@pytest.mark.parametrize("name", STATES)
def test_state_fields_match_optax(name):
  ours, ref = _ours(name), getattr(optax.contrib, name)
  assert ours._fields == ref._fields
  assert ours._field_defaults == ref._field_defaults


def _layout(state):
  """(path, shape, dtype) of every leaf: attribute names along the way are the field names."""
  return [
      (jax.tree_util.keystr(k), jnp.shape(v), jnp.result_type(v))
      for k, v in jax.tree_util.tree_flatten_with_path(state)[0]
  ]


PAIRS = [
    ("muon", lambda m: m.muon(0.02)),
    ("adopt", lambda m: m.adopt(1e-2)),
    ("ademamix", lambda m: m.ademamix(1e-2)),
    ("simplified_ademamix", lambda m: m.simplified_ademamix(1e-2, weight_decay=0.1)),
    ("cocob", lambda m: m.cocob()),
    ("dadapt_adamw", lambda m: m.dadapt_adamw()),
    ("prodigy", lambda m: m.prodigy()),
    ("schedule_free_adamw", lambda m: m.schedule_free_adamw(warmup_steps=3)),
    ("schedule_free_sgd", lambda m: m.schedule_free_sgd(weight_decay=0.1)),
]


@pytest.mark.parametrize("name,make", PAIRS)
def test_state_layout_matches_optax(name, make):
  # The same field names, nesting, shapes and dtypes after init and after one update: code that reads
  # optax's state (e.g. `state.inner_states["muon"].inner_state[0].mu`) reads jopt's.
  params = random_tree(jax.random.PRNGKey(0))
  ours, ref = make(_Ns(MODULES)), make(optax.contrib)
  s1, s2 = ours.init(params), ref.init(params)
  assert _layout(s1) == _layout(s2)
  _, s1 = ours.update(params, s1, params)
  _, s2 = ref.update(params, s2, params)
  assert _layout(s1) == _layout(s2)


def test_mechanize_state_layout_matches_optax():
  params = random_tree(jax.random.PRNGKey(0))
  ours, ref = mechanic_mod.mechanize(jopt.adam(1.0)), optax.contrib.mechanize(optax.adam(1.0))
  s1, s2 = ours.init(params), ref.init(params)
  _, s1 = ours.update(params, s1, params)
  _, s2 = ref.update(params, s2, params)
  assert _layout(s1) == _layout(s2)


class _Ns:
  """`make(_Ns(MODULES))` reads jopt's names the way `make(optax.contrib)` reads optax's."""

  def __init__(self, modules):
    self._modules = modules

  def __getattr__(self, name):
    return _ours(name)
