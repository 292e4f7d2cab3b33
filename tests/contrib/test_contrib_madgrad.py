"""MADGRAD against optax.contrib, step by step, and against its recursion written out."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jopt._src.contrib import madgrad as jmadgrad
from parity import assert_trajectories_match

SCHED = lambda count: 0.05 / (1.0 + 0.2 * count)

CASES = [
    (dict(learning_rate=0.01), "jit"),
    (dict(learning_rate=SCHED, momentum=0.5, weight_decay=0.1, eps=1e-4), "jit"),
    (dict(learning_rate=0.03, momentum=0.0, weight_decay=0.01), "eager"),
]


@pytest.mark.parametrize("kwargs,mode", CASES, ids=range(len(CASES)))
def test_madgrad_matches_optax(kwargs, mode):
  assert_trajectories_match(jmadgrad.madgrad(**kwargs), optax.contrib.madgrad(**kwargs),
                            steps=15 if mode == "jit" else 6, mode=mode)


def test_madgrad_recursion_by_hand():
  lr, c, eps = 0.1, 0.9, 1e-6
  tx = jmadgrad.scale_by_madgrad(lr, momentum=c, eps=eps)
  x0 = np.array([1.0, -0.5], np.float32)
  x, s, g_sum, state = x0.copy(), 0.0, 0.0, tx.init(jnp.asarray(x0))
  for k in range(4):
    g = np.sin(3 * x) + 0.1 * k
    lamb = (lr + eps) * np.sqrt(k + 1)
    s, g_sum = s + lamb * g, g_sum + lamb * g ** 2
    z = x0 - s / (np.cbrt(g_sum) + eps)
    expected = (1 - c) * z + c * x
    u, state = tx.update(jnp.asarray(g, jnp.float32), state, jnp.asarray(x))
    np.testing.assert_allclose(x + u, expected, rtol=1e-5)
    x = expected.astype(np.float32)


def test_madgrad_errors():
  with pytest.raises(ValueError, match=r"\bmadgrad: .*momentum"):
    jmadgrad.madgrad(0.1, momentum=1.5)
  tx = jmadgrad.scale_by_madgrad(0.1)
  with pytest.raises(ValueError, match="scale_by_madgrad needs the current parameters"):
    tx.update(jnp.ones(2), tx.init(jnp.ones(2)))
