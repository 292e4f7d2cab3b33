"""Trajectories of jopt's core optimizers and building blocks equal optax's, step by step."""

import jax.numpy as jnp
import optax
import pytest

import jopt
from parity import assert_trajectories_match

MODES = ["eager", "jit", "pmap"]

# (name, kwargs draws). Each draw runs for every mode; `learning_rate` schedules included.
CASES = [
    ("sgd", dict(learning_rate=0.1)),
    ("sgd", dict(learning_rate=0.05, momentum=0.9)),
    ("sgd", dict(learning_rate=0.05, momentum=0.5, nesterov=True)),
    ("adam", dict(learning_rate=1e-2)),
    ("adam", dict(learning_rate=3e-3, b1=0.5, b2=0.99, eps=1e-6, eps_root=1e-8)),
    ("adam", dict(learning_rate=1e-2, nesterov=True)),
    ("adamw", dict(learning_rate=1e-2, weight_decay=0.1)),
    ("adamw", dict(learning_rate=1e-2, weight_decay=0.1, mask=lambda p: {**{k: True for k in p}, "scalar": False})),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_optimizer_trajectory(name, kwargs, mode):
  assert_trajectories_match(getattr(jopt, name)(**kwargs), getattr(optax, name)(**kwargs), mode=mode)


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_schedule_learning_rate(name):
  sched = lambda count: 0.02 * jnp.cos(0.1 * count)  # a schedule both libraries call the same way
  assert_trajectories_match(getattr(jopt, name)(sched), getattr(optax, name)(sched))


@pytest.mark.parametrize("block,kwargs", [
    ("trace", dict(decay=0.9)),
    ("trace", dict(decay=0.9, nesterov=True)),
    ("scale_by_adam", dict()),
    ("scale_by_adam", dict(b1=0.0, b2=0.5, nesterov=True)),
    ("scale", dict(step_size=-0.3)),
    ("scale_by_learning_rate", dict(learning_rate=0.3)),
    ("scale_by_schedule", dict(step_size_fn=lambda c: 1.0 / (1.0 + c))),
    ("add_decayed_weights", dict(weight_decay=0.3)),
    ("add_decayed_weights", dict(weight_decay=lambda c: 0.1 * c)),
    ("identity", dict()),
])
def test_building_block_trajectory(block, kwargs):
  # Building blocks return O(1) updates; params take a 1e-2 step of them, as under an optimizer.
  assert_trajectories_match(
      getattr(jopt, block)(**kwargs), getattr(optax, block)(**kwargs), apply_scale=1e-2
  )
