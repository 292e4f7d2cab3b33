"""ADOPT (`adopt`, `scale_by_adopt`) against optax.contrib, step by step."""

import jax
import jax.numpy as jnp
import optax
import optax.contrib
import pytest

from jopt._src.contrib.adopt import adopt
from jopt._src.contrib.adopt import scale_by_adopt
from parity import assert_trajectories_match, random_tree

SCHED = lambda count: 0.02 * jnp.cos(0.1 * count)

DRAWS = [
    dict(learning_rate=1e-2),
    dict(learning_rate=SCHED, b1=0.5, b2=0.99, eps=1e-3, nesterov=True),
    dict(learning_rate=3e-2, b1=0.8, b2=0.9, use_clipping=False, clip_value_fn=lambda c: 0.5 * (c + 1.0)),
]


@pytest.mark.parametrize("kwargs", DRAWS)
def test_adopt_matches_optax_jit(kwargs):
  assert_trajectories_match(adopt(**kwargs), optax.contrib.adopt(**kwargs), steps=15)


@pytest.mark.parametrize("kwargs", [DRAWS[1]])
def test_adopt_matches_optax_eager(kwargs):
  assert_trajectories_match(adopt(**kwargs), optax.contrib.adopt(**kwargs), steps=10, mode="eager")


def test_scale_by_adopt_matches_optax():
  kwargs = dict(b1=0.7, b2=0.95, eps=1e-4, nesterov=True, use_clipping=False)
  # Small steps of the O(1) block output, as an optimizer would take.
  assert_trajectories_match(scale_by_adopt(**kwargs), optax.contrib.scale_by_adopt(**kwargs),
                            steps=12, apply_scale=1e-2)


def test_bf16_momentum_keeps_its_dtype():
  params = random_tree(jax.random.PRNGKey(0))
  tx = scale_by_adopt(mu_dtype=jnp.bfloat16)
  state = tx.init(params)
  for _ in range(2):
    updates, state = tx.update(params, state)
  assert all(m.dtype == jnp.bfloat16 for m in jax.tree.leaves(state.mu))
  assert all(u.dtype == jnp.float32 for u in jax.tree.leaves(updates))


def test_first_update_is_zero_and_second_is_clipped_sign():
  # Closed form: step 1 only sets v = g^2; step 2 moves by -(1-b1) lr clip(g2/|g1|, +-1).
  g1, g2 = jnp.array([2.0, -0.5]), jnp.array([1.0, 3.0])
  tx = adopt(0.1, b1=0.9)
  state = tx.init(jnp.zeros(2))
  u1, state = tx.update(g1, state)
  u2, _ = tx.update(g2, state)
  assert jnp.all(u1 == 0)
  expected = -0.1 * 0.1 * jnp.clip(g2 / jnp.abs(g1), -1.0, 1.0)
  assert jnp.allclose(u2, expected, rtol=1e-6)


@pytest.mark.parametrize("kwargs,arg", [(dict(b1=1.0), "b1"), (dict(b2=float("nan")), "b2"),
                                        (dict(eps=-1.0), "eps")])
def test_bad_hyperparameters_raise_at_build(kwargs, arg):
  with pytest.raises(ValueError, match=f"^adopt: `{arg}`"):
    adopt(1e-2, **kwargs)
