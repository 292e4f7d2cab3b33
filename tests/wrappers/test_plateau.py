"""reduce_on_plateau against optax.contrib (positive losses) and by hand (negative losses, cooldown)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest

import jopt


def _plateau_scales(tx, losses, params=None):
  params = jnp.ones(2) if params is None else params
  state = tx.init(params)
  step = jax.jit(lambda s, v: tx.update(jax.tree.map(jnp.ones_like, params), s, value=v))
  scales = []
  for v in losses:
    u, state = step(state, jnp.float32(v))
    scales.append(float(state.scale))
    u0 = jax.tree.leaves(u)[0].reshape(-1)[0]
    assert u0.dtype == jax.tree.leaves(params)[0].dtype
    np.testing.assert_array_equal(u0, state.scale.astype(u0.dtype))
  return scales, state


@pytest.mark.parametrize("kwargs", [
    dict(factor=0.5, patience=2),
    dict(factor=0.5, patience=2, cooldown=2),
    dict(factor=0.3, patience=1, min_scale=0.05),
    dict(factor=0.5, patience=2, accumulation_size=3, atol=0.01),
])
def test_reduce_on_plateau_matches_optax_for_positive_losses(kwargs):
  rng = np.random.default_rng(0)
  losses = np.concatenate([np.linspace(5, 1, 6), 1 + 0.05 * rng.random(24)])
  ours, _ = _plateau_scales(jopt.reduce_on_plateau(**kwargs), losses)
  ref, _ = _plateau_scales(optax.contrib.reduce_on_plateau(**kwargs), losses)
  np.testing.assert_allclose(ours, ref, rtol=1e-6)
  assert min(ours) < 1.0


def test_reduce_on_plateau_negative_losses_and_cooldown_by_hand():
  # Flat losses, patience 2: reduce on every 2nd evaluation (optax.contrib's counting),
  # for +1 and -1 alike; optax never reduces for -1.
  expected = [1, 1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
  for v in (1.0, -1.0):
    ours, _ = _plateau_scales(jopt.reduce_on_plateau(patience=2), [v] * 8)
    np.testing.assert_allclose(ours, expected, rtol=1e-6)
  ref, _ = _plateau_scales(optax.contrib.reduce_on_plateau(patience=2), [-1.0] * 8)
  assert ref == [1.0] * 8
  # Worsening negative values never replace the best value.
  _, state = _plateau_scales(jopt.reduce_on_plateau(patience=5), [-3.0, -2.0, -1.0])
  assert float(state.best_value) == -3.0
  # Cooldown 2 after each reduction (plateau count held at 0), floor at min_scale 0.2.
  ours, _ = _plateau_scales(jopt.reduce_on_plateau(factor=0.5, patience=1, cooldown=2, min_scale=0.2),
                            [-1.0] * 10)
  np.testing.assert_allclose(ours, [1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2], rtol=1e-6)


def test_reduce_on_plateau_bf16_keeps_float32_scale():
  params = {"w": jnp.ones(3, jnp.bfloat16)}
  _, state = _plateau_scales(jopt.reduce_on_plateau(patience=1, factor=0.3), [1.0, 1.0], params)
  assert state.scale.dtype == jnp.float32 and float(state.scale) == np.float32(0.3)
