"""SM3 against closed forms and where optax cannot run (`optimizers/sm3` rows of `cases.PARITY`: parity)."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cases import no_scalar_tree
from jopt._src.optimizers import sm3 as jsm3
from parity import assert_trajectories_match


def test_sm3_scalar_leaf_is_adagrad():
  """A scalar leaf (optax raises IndexError): one accumulator, so SM3 is Adagrad there."""
  tx = jsm3.scale_by_sm3(b1=0.0, b2=1.0, eps=0.0)
  params = {"s": jnp.float32(1.0), "m": jnp.ones((2, 3))}
  state = tx.init(params)
  total = 0.0
  for g in [0.5, -2.0, 1.0]:
    total += g * g
    u, state = tx.update({"s": jnp.float32(g), "m": jnp.full((2, 3), g)}, state)
    np.testing.assert_allclose(u["s"], g / np.sqrt(total), rtol=1e-6)
    assert u["s"].shape == ()


def test_sm3_covers_closed_form():
  """Matrix leaf: the accumulator is min(row max, column max) of past g^2 plus the new g^2."""
  tx = jsm3.scale_by_sm3(b1=0.0, b2=1.0, eps=0.0)
  g1 = jnp.array([[1.0, 2.0], [3.0, 0.5]])
  g2 = jnp.array([[0.5, 1.0], [1.0, 2.0]])
  state = tx.init(g1)
  _, state = tx.update(g1, state)
  u, state = tx.update(g2, state)
  acc1 = np.asarray(g1) ** 2
  prior = np.minimum(acc1.max(axis=1)[:, None], acc1.max(axis=0)[None, :])
  np.testing.assert_allclose(u, g2 / np.sqrt(prior + np.asarray(g2) ** 2), rtol=1e-6)


def test_sm3_momentum_none_is_no_momentum():
  params = no_scalar_tree()
  assert_trajectories_match(jsm3.sm3(0.1, momentum=None), optax.sm3(0.1, momentum=0.0), steps=3,
                            mode="eager", params=params)


def test_sm3_rejects_complex():
  with pytest.raises(ValueError, match="complex"):
    jsm3.scale_by_sm3().init({"w": jnp.ones((2, 2), jnp.complex64)})
