"""The scale_by_adam family (adamax, amsgrad, radam, belief, yogi): moment dtypes; step-by-step parity
with optax (float32 and float64 references) is in the `transforms/adam` rows of `cases.PARITY`."""

import jax
import jax.numpy as jnp

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
