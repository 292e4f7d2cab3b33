"""Contracts of the wrappers: bad arguments name the argument; the abstract init (`jax.eval_shape`) plans
exactly the state the concrete init builds, which is optax's state (same structure, shapes and dtypes)."""

import jax
import jax.numpy as jnp
import optax
import optax.contrib
import pytest

import jopt
from parity import random_tree


@pytest.mark.parametrize("build,arg", [
    (lambda: jopt.early_stopping(patience=0), "patience"),
    (lambda: jopt.early_stopping(patience=2, min_delta=-1.0), "min_delta"),
    (lambda: jopt.early_stopping(patience=2, mode="up"), "mode"),
    (lambda: jopt.reduce_on_plateau(factor=1.0), "factor"),
    (lambda: jopt.reduce_on_plateau(factor=0.0), "factor"),
    (lambda: jopt.reduce_on_plateau(patience=0), "patience"),
    (lambda: jopt.reduce_on_plateau(cooldown=-1), "cooldown"),
    (lambda: jopt.reduce_on_plateau(accumulation_size=0), "accumulation_size"),
    (lambda: jopt.reduce_on_plateau(min_scale=2.0), "min_scale"),
    (lambda: jopt.reduce_on_plateau(rtol=-0.1), "rtol"),
    (lambda: jopt.reduce_on_plateau(rtol=0.0, atol=0.0), "atol"),
    (lambda: jopt.MultiSteps(jopt.sgd(0.1), 0), "every_k_schedule"),
    (lambda: jopt.apply_if_finite(jopt.sgd(0.1), -1), "max_consecutive_errors"),
    (lambda: jopt.lookahead(jopt.sgd(0.1), 0, 0.5), "sync_period"),
    (lambda: jopt.lookahead(jopt.sgd(0.1), 2, 1.5), "slow_step_size"),
    (lambda: jopt.ema(1.0), "decay"),
    (lambda: jopt.ema(-0.1), "decay"),
])
def test_bad_input_names_the_argument(build, arg):
  with pytest.raises(ValueError, match=arg):
    build()


def _first_leaf_sum(updates):
  return jnp.sum(jax.tree.leaves(updates)[0])


# name -> builder(lib): the same wrapper from jopt or optax.
WRAPPERS = {
    "MultiSteps": lambda lib: lib.MultiSteps(lib.adam(1e-3), 4).gradient_transformation(),
    "apply_if_finite": lambda lib: lib.apply_if_finite(lib.adam(1e-3), 2),
    "ema": lambda lib: lib.ema(0.9),
    "reduce_on_plateau": lambda lib: (
        jopt.reduce_on_plateau() if lib is jopt else optax.contrib.reduce_on_plateau()),
    "lookahead": lambda lib: lib.lookahead(lib.adam(1e-3), 2, 0.5),
    "inject_hyperparams": lambda lib: lib.inject_hyperparams(lib.adam)(learning_rate=1e-3),
    "apply_every": lambda lib: lib.apply_every(3),
    "conditionally_transform": lambda lib: lib.conditionally_transform(lib.adam(1e-3), lambda s: s % 2 == 0),
    "conditionally_mask": lambda lib: lib.conditionally_mask(lib.adam(1e-3), lambda s: s % 2 == 0),
    "flatten": lambda lib: lib.flatten(lib.adam(1e-3)),
    "monitor": lambda lib: lib.chain(lib.adam(1e-3), lib.monitor({"n": _first_leaf_sum})),
    "snapshot": lambda lib: lib.chain(lib.adam(1e-3), lib.snapshot("m", _first_leaf_sum)),
}


def _signature(tree):
  return jax.tree.structure(tree), [(jnp.shape(x), jnp.result_type(x)) for x in jax.tree.leaves(tree)]


def _params(lib, name):
  params = random_tree(jax.random.PRNGKey(0))
  return lib.LookaheadParams.init_synced(params) if name == "lookahead" else params


@pytest.mark.parametrize("name", list(WRAPPERS))
def test_abstract_init_of_every_wrapper(name):
  ours, theirs = WRAPPERS[name](jopt), WRAPPERS[name](optax)
  params = _params(jopt, name)
  abstract, concrete = jax.eval_shape(ours.init, params), ours.init(params)
  assert all(isinstance(x, jax.ShapeDtypeStruct) for x in jax.tree.leaves(abstract))
  assert _signature(abstract) == _signature(concrete)
  reference = theirs.init(_params(optax, name))
  if name == "monitor":
    # jopt's monitor holds its measurements from `init` on (one structure for `lax.scan`); optax's
    # appear after the first update.
    g = jax.tree.map(jnp.ones_like, _params(optax, name))
    reference = theirs.update(g, reference, _params(optax, name))[1]
  ours_sig, ref_sig = _signature(abstract), _signature(reference)
  assert ours_sig[1] == ref_sig[1], name
  assert ours_sig[0].num_leaves == ref_sig[0].num_leaves and ours_sig[0].num_nodes == ref_sig[0].num_nodes


def test_abstract_init_of_early_stopping():
  params = random_tree(jax.random.PRNGKey(0))
  for stopper in (jopt.early_stopping(2, keep_best_params=True), jopt.early_stopping(2)):
    abstract, concrete = jax.eval_shape(stopper.init, params), stopper.init(params)
    assert _signature(abstract) == _signature(concrete)
  kept = jopt.early_stopping(2, keep_best_params=True).init(params)
  assert _signature(kept.best_params) == _signature(params)
