"""ema against optax; a mismatched tree names ema."""

import jax.numpy as jnp
import optax
import pytest

import jopt
from parity import assert_trajectories_match


@pytest.mark.parametrize("debias", [True, False])
def test_ema_matches_optax(debias):
  assert_trajectories_match(jopt.ema(0.9, debias=debias), optax.ema(0.9, debias=debias),
                            steps=8, apply_scale=1e-2)


def test_ema_checks_structure():
  e = jopt.ema(0.9)
  with pytest.raises(ValueError, match="ema"):
    e.update({"a": jnp.ones(2)}, e.init(jnp.ones(2)))
