"""add_noise: every form of key gives optax's noise; no key warns (`transforms/noise` rows: parity)."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt


def test_add_noise_key_forms_and_warning():
  g = {"a": jnp.zeros(4), "b": jnp.zeros((2, 3))}
  with pytest.warns(UserWarning, match="key"):
    default = jopt.add_noise(0.1, 0.5)
  u0, _ = default.update(g, default.init(g))
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ref = optax.add_noise(0.1, 0.5)
  u_ref, _ = ref.update(g, ref.init(g))
  for key in (0, jax.random.key(0), jax.random.PRNGKey(0)):
    tx = jopt.add_noise(0.1, 0.5, key)
    u, _ = tx.update(g, tx.init(g))
    for a, b, c in zip(jax.tree.leaves(u), jax.tree.leaves(u0), jax.tree.leaves(u_ref)):
      np.testing.assert_array_equal(a, b)
      np.testing.assert_array_equal(a, c)
