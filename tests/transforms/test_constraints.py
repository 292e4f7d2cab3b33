"""zero_nans and keep_params_nonnegative beyond the reference table (`transforms/constraints` rows)."""

import jax.numpy as jnp
import numpy as np
import optax

import jopt


def test_zero_nans_matches_optax_on_nans():
  grads = {"a": jnp.array([1.0, jnp.nan, 3.0]), "b": jnp.ones((2, 2)), "c": jnp.array(jnp.inf)}
  for lib in (jopt, optax):
    tx = lib.zero_nans()
    u, s = tx.update(grads, tx.init(grads))
    np.testing.assert_array_equal(u["a"], [1.0, 0.0, 3.0])
    assert bool(s.found_nan["a"]) and not bool(s.found_nan["b"]) and not bool(s.found_nan["c"])
    assert u["c"] == jnp.inf
