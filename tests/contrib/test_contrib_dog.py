"""DoG, DoWG and layer-wise DoG against optax, step by step."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
from jopt._src.contrib import dog as jdog
from parity import assert_trajectories_match, random_tree

SCHED = lambda count: 0.5 + 0.5 * jnp.cos(0.1 * count)

DOG_CASES = [
    dict(),
    dict(learning_rate=SCHED, init_step=("distance", 0.05), eps=1e-6),
    dict(learning_rate=0.7, init_step=("learning_rate", 0.02), weight_decay=0.1,
         mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)),
]


@pytest.mark.parametrize("kwargs", DOG_CASES, ids=range(len(DOG_CASES)))
def test_dog_matches_optax(kwargs):
  assert_trajectories_match(jdog.dog(**kwargs), optax.contrib.dog(**kwargs), steps=15)


DOWG_CASES = [
    dict(),
    dict(learning_rate=SCHED, init_estim_sq_dist=0.01, eps=1e-6, weight_decay=0.05),
]


@pytest.mark.parametrize("kwargs", DOWG_CASES, ids=range(len(DOWG_CASES)))
def test_dowg_matches_optax(kwargs):
  assert_trajectories_match(jdog.dowg(**kwargs), optax.contrib.dowg(**kwargs), steps=15)


def test_dog_and_dowg_eager():
  assert_trajectories_match(jdog.dog(init_step=("distance", 0.1)),
                            optax.contrib.dog(init_step=("distance", 0.1)), steps=10, mode="eager")
  assert_trajectories_match(jdog.dowg(), optax.contrib.dowg(), steps=10, mode="eager")


def test_dog_value_keyword_passes_through_chain():
  # optax's documented loop passes `value=` to dog's update.
  params = jnp.array([1.0, 2.0, 3.0])
  f = lambda x: jnp.sum(x ** 2)
  for ours, ref in [(jdog.dog(), optax.contrib.dog()), (jdog.dowg(), optax.contrib.dowg())]:
    s1, s2, p1, p2 = ours.init(params), ref.init(params), params, params
    for _ in range(5):
      v1, g1 = jax.value_and_grad(f)(p1)
      v2, g2 = jax.value_and_grad(f)(p2)
      u1, s1 = ours.update(g1, s1, p1, value=v1)
      u2, s2 = ref.update(g2, s2, p2, value=v2)
      p1, p2 = jopt.apply_updates(p1, u1), optax.apply_updates(p2, u2)
      np.testing.assert_allclose(p1, p2, rtol=1e-6)


@pytest.mark.parametrize("kwargs,mode", [(dict(reps_rel=1e-3, eps=1e-6, global_scale=-1.0), "jit"),
                                         (dict(), "eager")])
def test_scale_by_distance_over_gradients_matches_optax(kwargs, mode):
  # optax returns shape (1,) updates for scalar leaves; compare without the scalar leaf.
  params = random_tree(jax.random.PRNGKey(1))
  del params["scalar"]
  assert_trajectories_match(
      jdog.scale_by_distance_over_gradients(**kwargs),
      optax.scale_by_distance_over_gradients(**kwargs),
      steps=12 if mode == "jit" else 6, mode=mode, params=params, apply_scale=-0.1,
  )


def test_scale_by_distance_over_gradients_keeps_scalar_leaf_shape():
  tx = jdog.scale_by_distance_over_gradients(reps_rel=0.1)
  params = {"s": jnp.float32(2.0), "v": jnp.ones(3)}
  u, _ = tx.update({"s": jnp.float32(0.5), "v": jnp.ones(3)}, tx.init(params), params)
  assert u["s"].shape == ()
  # first step: reps_rel * (1 + |x0|) / sqrt(g^2 + eps) * g
  np.testing.assert_allclose(u["s"], 0.1 * 3.0 / np.sqrt(0.25 + 1e-8) * 0.5, rtol=1e-6)


def test_dog_bad_arguments():
  with pytest.raises(ValueError, match=r"\bdog: .*init_step"):
    jdog.dog(init_step=("distanc", 1.0))
  with pytest.raises(ValueError, match=r"\bdog: .*init_step"):
    jdog.dog(init_step=1e-6)
  with pytest.raises(ValueError, match=r"\bdowg: .*eps"):
    jdog.dowg(eps=-1.0)
  tx = jdog.dog()
  with pytest.raises(ValueError, match="scale_by_dog needs the current parameters"):
    tx.update(jnp.ones(2), tx.init(jnp.ones(2)))
