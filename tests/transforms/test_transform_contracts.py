"""Contracts every building block keeps: bad hyperparameters name the argument at build time, a
mismatched gradient tree or missing params raise clear errors, and the abstract init equals the concrete.

Step-by-step parity with optax: the `transforms/...` rows of `cases.PARITY`; the aliases' contracts:
tests/optimizers/test_optimizer_contracts.py.
"""

import jax
import jax.numpy as jnp
import pytest

import jopt

# (name, argument, bad value): each block built with only that argument.
BAD = [
    ("scale_by_rss", "initial_accumulator_value", -0.1), ("scale_by_rss", "eps", -1e-7),
    ("scale_by_rms", "decay", 1.0), ("scale_by_rms", "eps", -1.0), ("scale_by_rms", "initial_scale", -1.0),
    ("scale_by_stddev", "decay", -0.1), ("scale_by_stddev", "initial_scale", -1.0),
    ("scale_by_adadelta", "rho", 1.0), ("scale_by_adadelta", "eps", -1e-6),
    ("scale_by_adamax", "b1", 1.0), ("scale_by_adamax", "b2", 1.5), ("scale_by_adamax", "eps", -1.0),
    ("scale_by_amsgrad", "b2", 1.0), ("scale_by_amsgrad", "eps_root", -1.0),
    ("scale_by_radam", "b1", -0.5), ("scale_by_radam", "threshold", 3.0),
    ("scale_by_belief", "b2", 1.0), ("scale_by_belief", "eps", -1e-16),
    ("scale_by_yogi", "b1", 1.0), ("scale_by_yogi", "initial_accumulator_value", -1e-6),
]


@pytest.mark.parametrize("name,arg,value", BAD, ids=[f"{n}-{a}" for n, a, _ in BAD])
def test_bad_input_raises_at_build(name, arg, value):
  with pytest.raises(ValueError, match=arg):
    getattr(jopt, name)(**{arg: value})


@pytest.mark.parametrize("name,kwargs,arg", [
    ("clip", dict(max_delta=-1.0), "max_delta"),
    ("clip_by_global_norm", dict(max_norm=-1.0), "max_norm"),
    ("clip_by_block_rms", dict(threshold=-0.5), "threshold"),
    ("add_noise", dict(eta=-0.1, gamma=0.5, key=0), "eta"),
    ("scale_by_lion", dict(b1=1.5), "b1"),
    ("scale_by_lion", dict(b2=1.0), "b2"),
    ("scale_by_lion", dict(mode="soft"), "mode"),
    ("scale_by_trust_ratio", dict(min_norm=-1.0), "min_norm"),
    ("scale_by_trust_ratio", dict(trust_coefficient=-1.0), "trust_coefficient"),
    ("scale_by_novograd", dict(b2=1.0), "b2"),
    ("scale_by_novograd", dict(eps=-1e-8), "eps"),
    ("scale_by_factored_rms", dict(min_dim_size_to_factor=0), "min_dim_size_to_factor"),
    ("scale_by_factored_rms", dict(min_dim_size_to_factor=2.5), "min_dim_size_to_factor"),
    ("scale_by_factored_rms", dict(epsilon=-1.0), "epsilon"),
    ("scale_by_factored_rms", dict(step_offset=-1), "step_offset"),
    ("scale_by_param_block_rms", dict(min_scale=-1.0), "min_scale"),
])
def test_bad_input_names_the_argument(name, kwargs, arg):
  with pytest.raises(ValueError, match=arg):
    getattr(jopt, name)(**kwargs)


STATELESS = [
    ("clip", (1.0,)), ("clip_by_global_norm", (1.0,)), ("clip_by_block_rms", (1.0,)),
    ("centralize", ()), ("scale_by_sign", ()), ("add_noise", (0.1, 0.5, 0)), ("zero_nans", ()),
    ("keep_params_nonnegative", ()), ("scale_by_trust_ratio", ()), ("scale_by_param_block_rms", ()),
    ("scale_by_lion", ()), ("scale_by_novograd", ()), ("scale_by_factored_rms", ()),
]


@pytest.mark.parametrize("name,args", STATELESS, ids=[s[0] for s in STATELESS])
def test_mismatched_tree_raises(name, args):
  params = {"w": jnp.ones((3, 4)), "b": jnp.ones(3)}
  wrong = {"w": params["w"], "b": params["b"], "extra": params["b"]}
  tx = getattr(jopt, name)(*args)
  state = tx.init(params)
  with pytest.raises(ValueError, match="tree"):
    tx.update(wrong, state, params)


@pytest.mark.parametrize("name", ["keep_params_nonnegative", "scale_by_trust_ratio", "scale_by_factored_rms",
                                  "scale_by_param_block_rms"])
def test_missing_params_names_the_transform(name):
  params = {"w": jnp.ones((3, 4))}
  tx = getattr(jopt, name)()
  state = tx.init(params)
  for call in (lambda: tx.update(params, state), lambda: tx.update(params, state, None)):
    with pytest.raises(ValueError, match=f"{name}.*params"):
      call()


@pytest.mark.parametrize("name,kwargs", [
    ("clip_by_global_norm", dict(max_norm=1.0)), ("add_noise", dict(eta=0.1, gamma=0.5, key=0)),
    ("zero_nans", {}), ("scale_by_lion", {}), ("scale_by_novograd", {}),
    ("scale_by_factored_rms", dict(min_dim_size_to_factor=4)),
])
def test_abstract_init(name, kwargs):
  tx = getattr(jopt, name)(**kwargs)
  params = {"w": jnp.ones((8, 6)), "b": jnp.ones(3), "s": jnp.float32(1.0)}
  abstract, concrete = jax.eval_shape(tx.init, params), tx.init(params)
  assert jax.tree.structure(abstract) == jax.tree.structure(concrete)
  for a, c in zip(jax.tree.leaves(abstract), jax.tree.leaves(concrete)):
    assert a.shape == jnp.shape(c) and a.dtype == jnp.asarray(c).dtype
