"""Fromage against its closed form (`optimizers/fromage` rows of `cases.PARITY`: parity)."""

import jax.numpy as jnp
import numpy as np

from jopt._src.optimizers import fromage as jfromage


def test_fromage_closed_form_keeps_norm_for_orthogonal_gradient():
  """w' = (w - lr ||w|| / ||g|| g) / sqrt(1 + lr^2); for g orthogonal to w, ||w'|| = ||w||."""
  lr = 0.1
  w = jnp.array([3.0, 4.0])
  g = 2.0 * jnp.array([-4.0, 3.0])
  tx = jfromage.fromage(lr, min_norm=0.0)
  u, _ = tx.update(g, tx.init(w), w)
  expected = (w - lr * 5.0 / 10.0 * g) / np.sqrt(1 + lr**2)
  np.testing.assert_allclose(w + u, expected, rtol=1e-6)
  np.testing.assert_allclose(jnp.linalg.norm(w + u), 5.0, rtol=1e-6)
