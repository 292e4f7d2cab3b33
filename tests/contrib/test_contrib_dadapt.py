"""D-Adaptation AdamW (`dadapt_adamw`) and Prodigy (`prodigy`) against optax.contrib, step by step."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest

from jopt._src.contrib.dadapt import dadapt_adamw
from jopt._src.contrib.prodigy import prodigy
from parity import assert_trajectories_match

WARMUP = lambda count: jnp.minimum(1.0, (count + 1) / 5.0)

DADAPT_DRAWS = [
    dict(),
    dict(learning_rate=WARMUP, betas=(0.5, 0.9), eps=1e-6, estim_lr0=1e-3, weight_decay=0.1),
]
PRODIGY_DRAWS = [
    dict(learning_rate=WARMUP, betas=(0.5, 0.9), beta3=0.8, eps=1e-6, estim_lr0=1e-3,
         estim_lr_coef=0.5, weight_decay=0.1, safeguard_warmup=True),
    dict(learning_rate=WARMUP, betas=(0.8, 0.99), estim_lr0=1e-2, safeguard_warmup=False),
]
OPTIMIZERS = ([("dadapt_adamw", dadapt_adamw, kw) for kw in DADAPT_DRAWS]
              + [("prodigy", prodigy, kw) for kw in PRODIGY_DRAWS])


@pytest.mark.parametrize("name,ours,kwargs", OPTIMIZERS)
def test_matches_optax_jit(name, ours, kwargs):
  # The distance estimate grows by orders of magnitude in 20 steps; compare every step.
  assert_trajectories_match(ours(**kwargs), getattr(optax.contrib, name)(**kwargs), steps=20,
                            grad_scale=0.1)


@pytest.mark.parametrize("name,ours,kwargs", [OPTIMIZERS[1], OPTIMIZERS[2]])
def test_matches_optax_eager(name, ours, kwargs):
  assert_trajectories_match(ours(**kwargs), getattr(optax.contrib, name)(**kwargs), steps=8,
                            mode="eager", grad_scale=0.1)


@pytest.mark.parametrize("name,ours", [("dadapt_adamw", dadapt_adamw), ("prodigy", prodigy)])
def test_zero_gradients_keep_the_estimate(name, ours):
  # optax divides 0 by 0 in the estimate: NaN for good. jopt keeps d and recovers.
  params = {"w": jnp.ones((2, 2))}
  zero, grad = jax.tree.map(jnp.zeros_like, params), jax.tree.map(jnp.ones_like, params)
  ref, tx = getattr(optax.contrib, name)(), ours()
  ref_state, state = ref.init(params), tx.init(params)
  _, ref_state = ref.update(zero, ref_state, params)
  assert np.isnan(float(ref_state.estim_lr))
  updates, state = tx.update(zero, state, params)
  assert state.estim_lr == np.float32(1e-6) and all(jnp.all(u == 0) for u in jax.tree.leaves(updates))
  updates, state = tx.update(grad, state, params)
  assert all(jnp.all(jnp.isfinite(u)) for u in jax.tree.leaves(updates))


@pytest.mark.parametrize("name,ours", [("dadapt_adamw", dadapt_adamw), ("prodigy", prodigy)])
def test_needs_params(name, ours):
  tx = ours()
  with pytest.raises(ValueError, match=f"{name} needs the current parameters"):
    tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


@pytest.mark.parametrize("ours,kwargs,arg", [
    (dadapt_adamw, dict(betas=(0.9, 1.0)), "betas"),
    (dadapt_adamw, dict(estim_lr0=0.0), "estim_lr0"),
    (prodigy, dict(betas=0.9), "betas"),
    (prodigy, dict(beta3=-0.5), "beta3"),
    (prodigy, dict(eps=float("nan")), "eps"),
])
def test_bad_hyperparameters_raise_at_build(ours, kwargs, arg):
  with pytest.raises(ValueError, match=f"^{ours.__name__}: `{arg}"):
    ours(**kwargs)
