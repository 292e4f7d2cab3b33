"""scale_gradient against optax and the plain gradient (the other scaling blocks: `transforms/scaling`
rows of `cases.PARITY`)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jopt._src.transforms import scaling as gradient_scaling
from parity import assert_trees_close, random_tree


@pytest.mark.parametrize("scale", [0.0, 1.0, 0.5, -2.0])
def test_scale_gradient(scale):
  params = random_tree(jax.random.PRNGKey(7))

  def loss(fn, p):
    q = fn(p, scale)
    return sum(jnp.sum(jnp.sin(x) * x) for x in jax.tree.leaves(q))

  ours = jax.grad(lambda p: loss(gradient_scaling.scale_gradient, p))(params)
  theirs = jax.grad(lambda p: loss(optax.scale_gradient, p))(params)
  assert_trees_close(ours, theirs, 1e-6, 1e-7)
  plain = jax.grad(lambda p: loss(lambda x, s: x, p))(params)
  assert_trees_close(ours, jax.tree.map(lambda g: scale * g, plain), 1e-6, 1e-7)
  value = loss(gradient_scaling.scale_gradient, params)
  np.testing.assert_allclose(value, loss(lambda x, s: x, params), rtol=1e-6)


def test_scale_gradient_traced_scale_and_bf16():
  """A traced scale works under jit (optax raises); a bfloat16 input keeps its gradient dtype."""
  x = jnp.linspace(-1.0, 1.0, 5)
  f = jax.jit(jax.grad(lambda x, s: jnp.sum(gradient_scaling.scale_gradient(x, s) ** 2)))
  for s in [0.0, 0.5, 3.0]:
    np.testing.assert_allclose(f(x, jnp.float32(s)), 2 * s * x, rtol=1e-6)
  with pytest.raises(jax.errors.ConcretizationTypeError):
    jax.jit(jax.grad(lambda x, s: jnp.sum(optax.scale_gradient(x, s) ** 2)))(x, jnp.float32(0.5))
  xb = x.astype(jnp.bfloat16)
  g = jax.grad(lambda x: jnp.sum(gradient_scaling.scale_gradient(x, jnp.float32(0.5)) ** 2))(xb)
  assert g.dtype == jnp.bfloat16
  np.testing.assert_allclose(g.astype(jnp.float32), xb.astype(jnp.float32), rtol=1e-2)
