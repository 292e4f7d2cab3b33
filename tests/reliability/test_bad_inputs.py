"""The generated bad-input table (see `bad_input_table.py`): each case lands in the category it must.

Fast lane: every optimizer of `cases.OPTIMIZERS` (each hyperparameter x bad types x bad values x bad
flags) and the tree cases of four optimizers. Slow lane: every public factory in `jopt.__all__` and
the tree cases of every optimizer jopt shares with optax.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jopt
from bad_input_table import (TREE_CASES, TREE_FACTORIES, base_kwargs, categorize, categorize_tree,
                             factories, generate, run_built)
from cases import OPTIMIZERS

FAST = sorted(OPTIMIZERS)
ALL = factories(jopt)
FAST_CASES = generate(jopt, FAST)
SLOW_CASES = [c for c in generate(jopt, ALL) if c.factory not in FAST]


def _check(case):
  category, detail = categorize(jopt, case)
  assert category in case.allowed, f"{case.id}: {category} ({detail}); expected one of {case.allowed}"


def test_every_factory_with_hyperparameters_is_in_the_table():
  assert set(FAST) <= set(ALL)
  assert len(ALL) >= 90 and len(FAST_CASES) > 1000


@pytest.mark.parametrize("name", FAST)
def test_fast_table(name):
  failures = []
  for case in FAST_CASES:
    if case.factory == name:
      category, detail = categorize(jopt, case)
      if category not in case.allowed:
        failures.append(f"{case.id}: {category} ({detail})")
  assert not failures, "\n".join(failures)


@pytest.mark.slow
@pytest.mark.parametrize("case", SLOW_CASES, ids=[c.id for c in SLOW_CASES])
def test_slow_table(case):
  _check(case)


@pytest.mark.parametrize("label", sorted(TREE_CASES))
@pytest.mark.parametrize("name", ["sgd", "adam", "adafactor", "lion"])
def test_tree_mismatch_is_a_clear_error_at_update(name, label):
  category, detail = categorize_tree(jopt, name, base_kwargs(jopt, name), TREE_CASES[label])
  assert category == "update_clear", detail


@pytest.mark.slow
@pytest.mark.parametrize("label", sorted(TREE_CASES))
@pytest.mark.parametrize("name", TREE_FACTORIES)
def test_tree_mismatch_every_optimizer(name, label):
  category, detail = categorize_tree(jopt, name, base_kwargs(jopt, name), TREE_CASES[label])
  assert category == "update_clear", detail


def test_the_categories_can_fail():
  """The categorizer itself: a silent input, an unclear error and a valid one are told apart."""
  import optax  # pylint: disable=import-outside-toplevel
  from bad_input_table import Case  # pylint: disable=import-outside-toplevel
  silent = Case("sgd", "nesterov", "str", (("learning_rate", 0.1), ("momentum", 0.9), ("nesterov", "false")),
                ("build_clear",))
  assert categorize(optax, silent)[0] == "silent"
  assert categorize(jopt, silent)[0] == "build_clear"
  unclear = Case("adam", "b1", "none", (("learning_rate", 0.1), ("b1", None)), ("build_clear",))
  assert categorize(optax, unclear)[0] == "unclear"
  valid = Case("sgd", "momentum", "none", (("learning_rate", 0.1), ("momentum", None)), ("valid",))
  assert categorize(jopt, valid)[0] == "valid"
  assert categorize_tree(optax, "sgd", {"learning_rate": 0.1}, TREE_CASES["broadcast_shape"])[0] == "silent"


@pytest.mark.parametrize("name", ["sgd", "adam", "adafactor"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_gradients_with_skip_not_finite_keep_params_finite(name, bad):
  """NaN/inf gradients: `apply_if_finite` skips them (the train step's nan_policy is tested apart)."""
  tx = jopt.apply_if_finite(getattr(jopt, name)(**base_kwargs(jopt, name)), max_consecutive_errors=3)
  params = {"w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), "b": jnp.ones(3)}
  state = tx.init(params)
  grads = {"w": jnp.full((3, 4), bad), "b": jnp.ones(3)}
  updates, state = tx.update(grads, state, params)
  new = jopt.apply_updates(params, updates)
  assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(new))
  assert int(state.notfinite_count) == 1
  assert run_built(jopt, getattr(jopt, name)(**base_kwargs(jopt, name)))
