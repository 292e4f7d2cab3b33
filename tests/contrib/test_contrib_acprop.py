"""ACProp against optax.contrib, step by step, and its first two steps by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jopt._src.contrib import acprop as jacprop
from parity import assert_trajectories_match

SCHED = lambda count: 0.01 * jnp.cos(0.05 * count)

CASES = [
    (dict(learning_rate=1e-2), "jit"),
    (dict(learning_rate=SCHED, b1=0.5, b2=0.9, eps=1e-8, eps_root=1e-10, weight_decay=0.1,
          mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)), "jit"),
    (dict(learning_rate=3e-3, b1=0.0, b2=0.99, weight_decay=0.01), "eager"),
]


@pytest.mark.parametrize("kwargs,mode", CASES, ids=range(len(CASES)))
def test_acprop_matches_optax(kwargs, mode):
  assert_trajectories_match(jacprop.acprop(**kwargs), optax.contrib.acprop(**kwargs),
                            steps=15 if mode == "jit" else 6, mode=mode)


def test_scale_by_acprop_first_steps_by_hand():
  b1, b2, eps = 0.9, 0.99, 1e-16
  tx = jacprop.scale_by_acprop(b1=b1, b2=b2, eps=eps, eps_root=0.0)
  g1, g2 = jnp.array([0.5, -2.0]), jnp.array([1.0, 1.0])
  u1, state = tx.update(g1, tx.init(g1))
  np.testing.assert_allclose(u1, g1 / (1 + eps), rtol=1e-6)   # no previous second moment
  u2, state = tx.update(g2, state)
  s1 = (1 - b2) * np.asarray(g1) ** 2                         # error against m_0 = 0
  np.testing.assert_allclose(u2, g2 / np.sqrt(s1 / (1 - b2)), rtol=1e-5)
  m1 = (1 - b1) * np.asarray(g1)
  np.testing.assert_allclose(state.nu, b2 * s1 + (1 - b2) * (np.asarray(g2) - m1) ** 2, rtol=1e-5)
