"""Shared numerics (`jopt._src.numerics`) against closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jopt._src.numerics import radam_rho


@pytest.mark.parametrize("b2", [0.0, 0.5, 0.9, 0.99, 0.999, 0.9999])
def test_radam_rho_is_exact(b2):
  """rho_t against the closed form in float64, for t from 1 to 10^7."""
  ts = np.unique(np.round(np.logspace(0, 7, 200)).astype(np.int64))
  got = np.asarray(jax.jit(jax.vmap(lambda c: radam_rho(b2, c)))(jnp.asarray(ts, jnp.int32)))
  t = ts.astype(np.float64)
  if b2 == 0.0:
    exact = np.ones_like(t)
  else:
    lam = -np.log(b2)
    exact = 2 / (1 - b2) - 1 - 2 * t * np.exp(-t * lam) / -np.expm1(-t * lam)
  np.testing.assert_allclose(got, exact, rtol=5e-7)
