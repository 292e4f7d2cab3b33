"""COCOB-Backprop (`cocob`, `scale_by_cocob`) against optax.contrib, step by step."""

import jax.numpy as jnp
import optax
import optax.contrib
import pytest

from jopt._src.contrib.cocob import cocob
from jopt._src.contrib.cocob import scale_by_cocob
from parity import assert_trajectories_match

SCHED = lambda count: 1.0 / (1.0 + 0.1 * count)


def _mask(params):
  return {**{k: True for k in params}, "scalar": False}


DRAWS = [
    dict(),
    dict(learning_rate=SCHED, alpha=10.0, eps=1e-4, weight_decay=0.1, mask=_mask),
]


@pytest.mark.parametrize("kwargs", DRAWS)
def test_cocob_matches_optax_jit(kwargs):
  assert_trajectories_match(cocob(**kwargs), optax.contrib.cocob(**kwargs), steps=15)


def test_cocob_matches_optax_eager():
  kwargs = DRAWS[1]
  assert_trajectories_match(cocob(**kwargs), optax.contrib.cocob(**kwargs), steps=8, mode="eager")


def test_scale_by_cocob_matches_optax():
  assert_trajectories_match(scale_by_cocob(50.0, 1e-6), optax.contrib.scale_by_cocob(50.0, 1e-6),
                            steps=12)


def test_first_step_closed_form():
  # L = |g|, G = |g|, R = 0, C = -g: theta_1 - theta_0 = -g / (|g| max(2|g|, alpha |g|)) |g| = -sign(g) / alpha.
  g = jnp.array([0.3, -4.0])
  tx = scale_by_cocob(alpha=100.0, eps=0.0)
  u, _ = tx.update(g, tx.init(jnp.zeros(2)), jnp.zeros(2))
  assert jnp.allclose(u, -jnp.sign(g) / 100.0, rtol=1e-6)


def test_needs_params():
  tx = cocob()
  with pytest.raises(ValueError, match="needs the current parameters"):
    tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


@pytest.mark.parametrize("kwargs,arg", [(dict(alpha=-1.0), "alpha"), (dict(eps=float("nan")), "eps")])
def test_bad_hyperparameters_raise_at_build(kwargs, arg):
  with pytest.raises(ValueError, match=f"^cocob: `{arg}`"):
    cocob(**kwargs)
