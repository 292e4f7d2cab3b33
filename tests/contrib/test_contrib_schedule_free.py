"""Schedule-free learning (`schedule_free`, `schedule_free_adamw`, `schedule_free_sgd`,
`schedule_free_eval_params`) against optax.contrib, step by step."""

import jax
import jax.numpy as jnp
import optax
import optax.contrib
import pytest

import jopt
from jopt._src.contrib import schedule_free as ours
from parity import assert_trees_close, gradient_sequence, random_tree
from parity import assert_trajectories_match

SCHED = lambda count: 0.05 * jnp.minimum(1.0, count / 4.0)  # warmup from 0: the 0/0 weight at step 0

DRAWS = [
    ("schedule_free_adamw", dict()),
    ("schedule_free_adamw", dict(learning_rate=1e-2, warmup_steps=5, b1=0.8, b2=0.99, eps=1e-6,
                                 weight_decay=0.1, weight_lr_power=1.0)),
    ("schedule_free_sgd", dict(learning_rate=0.1)),
    ("schedule_free_sgd", dict(learning_rate=0.1, warmup_steps=4, b1=0.95, weight_decay=0.01,
                               weight_lr_power=3.0, state_dtype=jnp.float32)),
]


@pytest.mark.parametrize("name,kwargs", DRAWS)
def test_aliases_match_optax_jit(name, kwargs):
  assert_trajectories_match(getattr(ours, name)(**kwargs), getattr(optax.contrib, name)(**kwargs),
                            steps=15)


@pytest.mark.parametrize("name,kwargs", [DRAWS[1]])
def test_aliases_match_optax_eager(name, kwargs):
  assert_trajectories_match(getattr(ours, name)(**kwargs), getattr(optax.contrib, name)(**kwargs),
                            steps=8, mode="eager")


def test_wrapper_around_adam_without_momentum_matches_optax():
  ref = optax.contrib.schedule_free(optax.adam(SCHED, b1=0.0), SCHED, b1=0.9, weight_lr_power=2.0)
  tx = ours.schedule_free(jopt.adam(SCHED, b1=0.0), SCHED, b1=0.9, weight_lr_power=2.0)
  assert_trajectories_match(tx, ref, steps=12)


def test_eval_params_match_optax():
  params = random_tree(jax.random.PRNGKey(0))
  grads = gradient_sequence(params, 10)
  runs = []
  for lib in (ours, optax.contrib):
    tx = lib.schedule_free_sgd(0.1, warmup_steps=3)
    step = jax.jit(lambda p, s, g, tx=tx: tx.update(g, s, p))
    p, s, out = params, tx.init(params), []
    for g in grads:
      u, s = step(p, s, g)
      p = jax.tree.map(lambda a, b: a + b, p, u)
      out.append(lib.schedule_free_eval_params(s, p))
    runs.append(out)
  for t, (a, b) in enumerate(zip(*runs)):
    assert_trees_close(a, b, 1e-5, 1e-6, f"eval params at step {t}")


def test_eval_params_inside_a_chain_and_errors():
  # jopt finds the schedule-free state inside a larger state; optax needs it at the top.
  params = {"w": jnp.array([1.0, -2.0])}
  tx = jopt.chain(jopt.clip_by_global_norm(10.0), ours.schedule_free_sgd(0.1))
  state = tx.init(params)
  updates, state = tx.update({"w": jnp.array([0.5, 0.5])}, state, params)
  params = jopt.apply_updates(params, updates)
  inner = state[1]
  expected = jax.tree.map(lambda y, z: (y - (1 - inner.b1) * z) / inner.b1, params, inner.z)
  assert_trees_close(ours.schedule_free_eval_params(state, params), expected, 0, 0)
  with pytest.raises(ValueError, match="schedule_free_eval_params"):
    ours.schedule_free_eval_params(jopt.adam(1e-3).init(params), params)


def test_sgd_closed_form():
  # y_0 = x_0 = z_0; with weight_lr_power=0 every c_t = 1/t, so x is the plain average of z_1..z_t.
  lr, b1, g = 0.1, 0.9, jnp.array([1.0, -3.0])
  tx = ours.schedule_free_sgd(lr, b1=b1, weight_lr_power=0.0)
  y = jnp.array([2.0, 1.0])
  state = tx.init(y)
  x, z = y, y
  for t in range(1, 4):
    u, state = tx.update(g, state, y)
    y = y + u
    z = z - lr * g
    x = x + (z - x) / t
    assert jnp.allclose(y, b1 * x + (1 - b1) * z, rtol=1e-6)


def test_bf16_params_get_bf16_updates():
  params = {"w": jnp.ones((3,), jnp.bfloat16)}
  tx = ours.schedule_free_adamw(1e-2, state_dtype=jnp.float32)
  state = tx.init(params)
  updates, state = tx.update(params, state, params)
  assert updates["w"].dtype == jnp.bfloat16 and state.z["w"].dtype == jnp.float32


@pytest.mark.parametrize("kwargs,arg", [(dict(b1=0.0), "b1"), (dict(b1=1.5), "b1"),
                                        (dict(learning_rate=-1.0), "learning_rate")])
def test_bad_hyperparameters_raise_at_build(kwargs, arg):
  with pytest.raises(ValueError, match=f"^schedule_free_sgd: `{arg}`"):
    ours.schedule_free_sgd(**kwargs)


def test_needs_params():
  tx = ours.schedule_free_sgd()
  with pytest.raises(ValueError, match="schedule_free needs the current parameters"):
    tx.update(jnp.ones(2), tx.init(jnp.ones(2)))
