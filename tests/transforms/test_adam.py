"""The scale_by_adam family (adamax, amsgrad, radam, belief, yogi): moment dtypes; step-by-step parity
with optax (float32 and float64 references) is in the `transforms/adam` rows of `cases.PARITY`."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
from parity import random_tree


def test_scale_by_blocks_take_nu_dtype():
  params = random_tree(jax.random.PRNGKey(1))
  for tx in [jopt.scale_by_amsgrad(nu_dtype=jnp.bfloat16), jopt.scale_by_belief(nu_dtype=jnp.bfloat16),
             jopt.scale_by_radam(nu_dtype=jnp.bfloat16)]:
    state = tx.init(params)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(state.nu))
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(state.mu))
    updates, state = jax.eval_shape(tx.update, params, state)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(state.nu))
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(updates))



@pytest.mark.parametrize("name", ["adam", "nadam", "amsgrad", "radam", "adabelief"])
def test_python_number_params_match_optax(name):
  """Python-number params (optax's own `test_extra_args` chains adam on {"a": 1, "b": 2}): jopt used
  to fail casting to the number's missing dtype. Python floats follow optax's trajectory; for a Python
  int the first update is optax's (later steps of both libraries round int moments: no meaning)."""
  def run(lib, params, steps):
    tx = getattr(lib, name)(0.1)
    state = tx.init(params)
    out = []
    for _ in range(steps):
      updates, state = tx.update(params, state)
      out.append(updates)
    return out

  for params, steps in (({"b": 2.0, "c": -0.5}, 3), ({"a": 1, "b": 2}, 1)):
    for g, w in zip(run(jopt, params, steps), run(optax, params, steps)):
      for k in params:
        assert jnp.result_type(g[k]) == jnp.result_type(w[k])
        np.testing.assert_allclose(g[k], w[k], rtol=1e-6)


@pytest.mark.parametrize("name", ["adam", "amsgrad", "rmsprop", "adagrad", "adadelta", "yogi"])
def test_init_keeps_the_params_sharding_in_every_moment(name):
  # optax's sharding_test: `init` must give each state leaf the sharding of its param, so that
  # state shardings do not change between `init` and `update`.
  mesh = jax.make_mesh((4,), ("x",))
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("x"))
  params = {"w": jax.device_put(jnp.ones((8, 4)), sharding)}
  ours, theirs = (jax.tree.leaves(getattr(lib, name)(1e-3).init(params)) for lib in (jopt, optax))
  ours = [leaf.sharding for leaf in ours if jnp.ndim(leaf) == 2]
  theirs = [leaf.sharding for leaf in theirs if jnp.ndim(leaf) == 2]
  assert ours and ours == theirs == [sharding] * len(ours)
