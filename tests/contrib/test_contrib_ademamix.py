"""AdEMAMix and simplified AdEMAMix (optimizers and `scale_by_*` blocks) against optax.contrib."""

import jax
import jax.numpy as jnp
import optax
import optax.contrib
import pytest

from jopt._src.contrib import ademamix as ours
from parity import assert_trajectories_match, random_tree

SCHED = lambda count: 0.02 * jnp.cos(0.1 * count)
B3_WARMUP = lambda count: 0.9 + 0.09 * jnp.minimum(count / 10.0, 1.0)
ALPHA_WARMUP = lambda count: 5.0 * jnp.minimum(count / 8.0, 1.0)


def _mask(params):
  return {**{k: True for k in params}, "scalar": False}


DRAWS = [
    ("ademamix", dict(learning_rate=1e-2)),
    ("ademamix", dict(learning_rate=SCHED, b1=0.5, b2=0.9, b3=B3_WARMUP, alpha=ALPHA_WARMUP, eps=1e-6,
                      eps_root=1e-8, weight_decay=0.1, mask=_mask)),
    ("simplified_ademamix", dict(learning_rate=1e-2)),
    ("simplified_ademamix", dict(learning_rate=SCHED, b1=0.9, b2=0.99, alpha=ALPHA_WARMUP, eps=1e-6,
                                 eps_root=1e-8, weight_decay=0.1, mask=_mask)),
]


@pytest.mark.parametrize("name,kwargs", DRAWS)
def test_matches_optax_jit(name, kwargs):
  assert_trajectories_match(getattr(ours, name)(**kwargs), getattr(optax.contrib, name)(**kwargs),
                            steps=15)


@pytest.mark.parametrize("name,kwargs", [DRAWS[1], pytest.param(*DRAWS[3], marks=pytest.mark.slow)])
def test_matches_optax_eager(name, kwargs):
  assert_trajectories_match(getattr(ours, name)(**kwargs), getattr(optax.contrib, name)(**kwargs),
                            steps=8, mode="eager")


@pytest.mark.parametrize("name,kwargs", [
    ("scale_by_ademamix", dict(b1=0.8, b2=0.95, b3=0.99, alpha=2.0)),
    ("scale_by_simplified_ademamix", dict(b1=0.8, b2=0.95, alpha=1.5)),
])
def test_blocks_match_optax(name, kwargs):
  assert_trajectories_match(getattr(ours, name)(**kwargs), getattr(optax.contrib, name)(**kwargs),
                            steps=12, apply_scale=1e-2)


def test_slow_ema_is_not_bias_corrected():
  # Closed form of the first update: m1_hat = g, m2 = (1 - b3) g, nu_hat = g^2.
  g = jnp.array([0.5, -2.0])
  tx = ours.scale_by_ademamix(b2=0.5, b3=0.9, alpha=4.0, eps=0.0)
  u, _ = tx.update(g, tx.init(g))
  assert jnp.allclose(u, (g + 4.0 * 0.1 * g) / jnp.abs(g), rtol=1e-6)


def test_bf16_accumulators_keep_their_dtype():
  params = random_tree(jax.random.PRNGKey(0))
  tx = ours.scale_by_ademamix(mu_dtype=jnp.bfloat16)
  state = tx.init(params)
  for _ in range(2):
    updates, state = tx.update(params, state)
  for field in (state.m1, state.m2, state.nu):
    assert all(m.dtype == jnp.bfloat16 for m in jax.tree.leaves(field))
  assert all(u.dtype == jnp.float32 for u in jax.tree.leaves(updates))


@pytest.mark.parametrize("fn,kwargs,arg", [
    (ours.ademamix, dict(b3=1.5), "b3"),
    (ours.ademamix, dict(b1=-0.1), "b1"),
    (ours.simplified_ademamix, dict(eps_root=-1.0), "eps_root"),
    (ours.simplified_ademamix, dict(alpha=float("nan")), "alpha"),
])
def test_bad_hyperparameters_raise_at_build(fn, kwargs, arg):
  with pytest.raises(ValueError, match=f"^{fn.__name__}: `{arg}`"):
    fn(1e-2, **kwargs)
