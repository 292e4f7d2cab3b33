"""Polyak step sizes against closed forms (`optimizers/polyak` rows of `cases.PARITY`: parity)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jopt._src.optimizers import polyak as jpolyak


def test_polyak_tiny_gradient_gives_zero_step():
  """Both sides: a gradient below machine epsilon gives a step of 0, not value / 0."""
  for tx in (jpolyak.scale_by_polyak(), optax.scale_by_polyak()):
    u, _ = tx.update({"w": jnp.full(3, 1e-20)}, tx.init(None), value=jnp.float32(5.0))
    np.testing.assert_array_equal(u["w"], 0.0)


def test_polyak_step_closed_form():
  # f(x) = |x|^2 at x=(1, 2): gap 5, |g|^2 = 20, step = min(5/20, 1) = 0.25 -> x - 0.25 g = x / 2.
  x = jnp.array([1.0, 2.0])
  tx = jpolyak.polyak_sgd()
  value, grad = jax.value_and_grad(lambda x: jnp.sum(x ** 2))(x)
  u, _ = tx.update(grad, tx.init(x), x, value=value)
  np.testing.assert_allclose(x + u, x / 2, rtol=1e-6)
