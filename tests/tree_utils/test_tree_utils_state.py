"""jopt.tree_utils state access (tree_get / tree_set / tree_get_all_with_path / tree_map_params) on jopt and optax states vs optax 0.2.8."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
import jopt.tree_utils as jtu

PARAMS = {"w": jnp.ones((2, 3)), "b": jnp.arange(3.0)}


def _transforms():
  return {
      "optax_adam": optax.adam(1e-3),
      "jopt_adam": jopt.adam(1e-3),
      "optax_inject": optax.inject_hyperparams(optax.adam)(learning_rate=lambda c: 1.0 / (c + 1)),
      "jopt_inject": jopt.inject_hyperparams(jopt.adam)(learning_rate=1e-3),
      "optax_noise_chain": optax.chain(optax.add_noise(1.0, 0.9, key=0), optax.scale_by_adam()),
      "jopt_chain": jopt.chain(jopt.add_noise(1.0, 0.9, 0), jopt.scale_by_adam(), jopt.sgd(0.1, momentum=0.9)),
      "jopt_masked": jopt.masked(jopt.adam(0.1), {"w": True, "b": False}),
      "mixed_chain": jopt.chain(optax.scale_by_adam(), jopt.trace(0.9)),
  }


KEYS = ["count", "mu", "nu", "learning_rate", "ScaleByAdamState", "TraceState", "hyperparams", "absent"]


def _paths(found):
  return [jax.tree_util.keystr(path) for path, _ in found]


def _same_values(a, b):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(jtu.tree_unwrap_random_key_data(x)),
                                  np.asarray(jtu.tree_unwrap_random_key_data(y)))


@pytest.mark.parametrize("name", sorted(_transforms()))
def test_get_all_with_path_matches_optax(name):
  state = _transforms()[name].init(PARAMS)
  for key in KEYS:
    ours = jtu.tree_get_all_with_path(state, key)
    theirs = optax.tree_utils.tree_get_all_with_path(state, key)
    assert _paths(ours) == _paths(theirs), (name, key)
    for (p1, v1), (p2, v2) in zip(ours, theirs):
      assert [type(e).__name__ for e in p1] == [type(e).__name__ for e in p2]
      assert [str(e) for e in p1] == [str(e) for e in p2]
      _same_values(v1, v2)
    # tree_get: the one value, the default, or KeyError for several, like optax.
    if len(theirs) > 1:
      with pytest.raises(KeyError):
        optax.tree_utils.tree_get(state, key)
      with pytest.raises(KeyError, match=key):
        jtu.tree_get(state, key)
    else:
      _same_values(jtu.tree_get(state, key, default="d"), optax.tree_utils.tree_get(state, key, default="d"))


def test_get_finds_jopt_state_fields():
  tx = jopt.chain(jopt.trace(0.5), jopt.scale_by_adam())
  state = tx.init(PARAMS)
  grads = jax.tree.map(jnp.ones_like, PARAMS)
  for _ in range(3):
    _, state = tx.update(grads, state, PARAMS)
  assert int(jtu.tree_get(state, "count")) == 3
  np.testing.assert_allclose(jtu.tree_get(state, "trace")["w"], 1 + 0.5 + 0.25)
  adam_state = jtu.tree_get(state, "ScaleByAdamState")
  assert type(adam_state).__name__ == "ScaleByAdamState" and adam_state is state[1]
  only_trace = lambda path, value: isinstance(path[-1], jtu.NamedTupleKey) and path[-1].tuple_name == "TraceState"
  assert jtu.tree_get(state, "trace", filtering=only_trace) is state[0].trace
  by_tuple = lambda path, value: path[-1].tuple_name == "ScaleByAdamState"
  assert jtu.tree_get(jopt.inject_hyperparams(jopt.adam)(0.1).init(PARAMS), "count", filtering=by_tuple).dtype == jnp.int32


@pytest.mark.parametrize("name", ["optax_adam", "jopt_adam", "optax_noise_chain", "jopt_chain", "jopt_masked", "mixed_chain"])
def test_set_matches_optax_on_flat_states(name):
  state = _transforms()[name].init(PARAMS)
  for kwargs in ({"count": jnp.asarray(7)}, {"mu": jax.tree.map(lambda x: x + 1, PARAMS)}):
    key = next(iter(kwargs))
    if not optax.tree_utils.tree_get_all_with_path(state, key):
      continue
    _same_values(jtu.tree_set(state, **kwargs), optax.tree_utils.tree_set(state, **kwargs))
  with pytest.raises(KeyError):
    optax.tree_utils.tree_set(state, absent=1)
  with pytest.raises(KeyError, match="absent"):
    jtu.tree_set(state, absent=1)


def test_set_with_filtering_and_by_class_name():
  tx = optax.inject_hyperparams(optax.sgd)(learning_rate=lambda c: 1.0 / (c + 1))
  state = tx.init(PARAMS)
  is_array = lambda path, value: isinstance(value, jax.Array)
  ours = jtu.tree_set(state, is_array, learning_rate=jnp.asarray(0.1))
  _same_values(ours, optax.tree_utils.tree_set(state, is_array, learning_rate=jnp.asarray(0.1)))
  assert float(ours.hyperparams["learning_rate"]) == pytest.approx(0.1)
  never = lambda path, value: False
  with pytest.raises(KeyError):
    jtu.tree_set(state, never, learning_rate=0.1)
  chain_state = jopt.chain(jopt.scale_by_adam(), jopt.trace(0.9)).init(PARAMS)
  new_trace = jopt.trace(0.9).init(jax.tree.map(lambda x: x + 3, PARAMS))
  _same_values(jtu.tree_set(chain_state, TraceState=new_trace),
               optax.tree_utils.tree_set(chain_state, TraceState=new_trace))


def test_set_replaces_every_match_that_get_reports():
  # optax replaces only the outer `count` of inject_hyperparams(adam) and keeps
  # Adam's (nested in a tuple); jopt replaces every value tree_get_all_with_path finds.
  for tx in (optax.inject_hyperparams(optax.adam)(1e-3), jopt.inject_hyperparams(jopt.adam)(1e-3)):
    state = tx.init(PARAMS)
    assert len(jtu.tree_get_all_with_path(state, "count")) == 2
    new = jtu.tree_set(state, count=jnp.asarray(5))
    assert [int(v) for _, v in jtu.tree_get_all_with_path(new, "count")] == [5, 5]
    assert jax.tree.structure(new) == jax.tree.structure(state)
    # Everything else is untouched.
    _same_values(jtu.tree_set(new, count=jnp.asarray(0)), state)


def _map_cases():
  return [
      ("optax_adam", optax.adam(1e-3)),
      ("jopt_adam", jopt.adam(1e-3)),
      ("jopt_sgd_momentum", jopt.sgd(0.1, momentum=0.9)),
      ("jopt_inject", jopt.inject_hyperparams(jopt.adamw)(1e-3)),
      ("jopt_chain_noise", jopt.chain(jopt.add_noise(0.1, 0.5, 1), jopt.scale_by_rms())),
      ("optax_lion", optax.lion(1e-3)),
  ]


@pytest.mark.parametrize("name,tx", _map_cases(), ids=[c[0] for c in _map_cases()])
def test_map_params_matches_optax(name, tx):
  state = tx.init(PARAMS)
  specs = {"w": "W", "b": "B"}
  for kwargs in ({}, {"transform_non_params": lambda _: None}):
    ours = jtu.tree_map_params(tx, lambda p, s: (s, p.shape), state, specs, **kwargs)
    theirs = optax.tree_utils.tree_map_params(tx, lambda p, s: (s, p.shape), state, specs, **kwargs)
    assert jax.tree.structure(ours) == jax.tree.structure(theirs)
    assert [str(l) for l in jax.tree.leaves(ours)] == [str(l) for l in jax.tree.leaves(theirs)]
  # An init function works as well as the transform; params-shaped parts become the specs.
  mapped = jtu.tree_map_params(tx.init, lambda _, s: s, state, specs, transform_non_params=lambda _: "other")
  leaves = set(jax.tree.leaves(mapped))
  assert leaves <= {"W", "B", "other"}
  n_param_trees = len(jax.tree.leaves(mapped)) - jax.tree.leaves(mapped).count("other")
  assert n_param_trees % 2 == 0  # whole params trees, never partial


def test_map_params_is_leaf():
  # A params-shaped part holding MaskedNode leaves (as masked states do): is_leaf reaches them.
  init = lambda params: {"m": params, "count": jnp.zeros([], jnp.int32)}
  state = {"m": {"w": jnp.ones((2, 3)), "b": optax.MaskedNode()}, "count": jnp.asarray(4)}
  is_masked = lambda x: isinstance(x, optax.MaskedNode)
  fn = lambda p: "masked" if is_masked(p) else p.shape
  for kwargs in ({"is_leaf": is_masked}, {}):
    ours = jtu.tree_map_params(init, fn, state, **kwargs)
    theirs = optax.tree_utils.tree_map_params(init, fn, state, **kwargs)
    assert jax.tree.structure(ours) == jax.tree.structure(theirs)
    assert [str(l) for l in jax.tree.leaves(ours)] == [str(l) for l in jax.tree.leaves(theirs)]
  assert jtu.tree_map_params(init, fn, state, is_leaf=is_masked)["m"] == {"w": (2, 3), "b": "masked"}
