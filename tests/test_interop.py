"""jopt transforms are optax objects: they mix with optax, flax TrainState, nnx.Optimizer and orbax."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax import nnx
from flax.training import train_state

import jopt
from parity import assert_trees_close


def _quadratic_grads(params):
  return jax.grad(lambda p: sum(jnp.sum((x - 1.0) ** 2) for x in jax.tree.leaves(p)))(params)


def _train(tx, params, steps=5):
  state = tx.init(params)
  for _ in range(steps):
    updates, state = tx.update(_quadratic_grads(params), state, params)
    params = optax.apply_updates(params, updates)
  return params, state


def test_mix_with_optax_chain():
  params = {"w": jnp.zeros((3, 2)), "b": jnp.zeros(2)}
  mixed = optax.chain(optax.clip_by_global_norm(1.0), jopt.scale_by_adam(), optax.scale(-0.1))
  ref = optax.chain(optax.clip_by_global_norm(1.0), optax.scale_by_adam(), optax.scale(-0.1))
  assert_trees_close(_train(mixed, params)[0], _train(ref, params)[0], 1e-6, 1e-7)


def test_inside_optax_multisteps():
  params = {"w": jnp.zeros((3, 2))}
  ours = optax.MultiSteps(jopt.adam(0.1), every_k_schedule=2)
  ref = optax.MultiSteps(optax.adam(0.1), every_k_schedule=2)
  assert_trees_close(_train(ours, params, 6)[0], _train(ref, params, 6)[0], 1e-5, 1e-6)


class MLP(nn.Module):
  @nn.compact
  def __call__(self, x):
    return nn.Dense(1)(nn.relu(nn.Dense(8)(x)))


def test_flax_train_state():
  model = MLP()
  x = jnp.linspace(-1, 1, 16).reshape(8, 2)
  y = jnp.sum(x, axis=1, keepdims=True)
  params = model.init(jax.random.PRNGKey(0), x)["params"]

  def run(tx):
    st = train_state.TrainState.create(apply_fn=model.apply, params=params, tx=tx)
    for _ in range(5):
      grads = jax.grad(lambda p: jnp.mean((st.apply_fn({"params": p}, x) - y) ** 2))(st.params)
      st = st.apply_gradients(grads=grads)
    return st.params

  assert_trees_close(run(jopt.adamw(1e-2)), run(optax.adamw(1e-2)), 1e-5, 1e-6)


def test_nnx_optimizer():
  def run(tx):
    model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
    opt = nnx.Optimizer(model, tx, wrt=nnx.Param)
    x = jnp.ones((4, 3))
    for _ in range(3):
      grads = nnx.grad(lambda m: jnp.mean(m(x) ** 2))(model)
      opt.update(model, grads)
    return nnx.state(model, nnx.Param)

  ours = jax.tree.map(np.asarray, run(jopt.sgd(0.1, momentum=0.9)))
  ref = jax.tree.map(np.asarray, run(optax.sgd(0.1, momentum=0.9)))
  assert_trees_close(ours, ref, 1e-6, 1e-7)


def test_orbax_round_trip(tmp_path):
  tx = jopt.chain(jopt.trace(0.9), jopt.adamw(1e-2, mask=lambda p: {"w": True, "b": False}))
  params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
  _, state = _train(tx, params, 3)
  ckpt = ocp.StandardCheckpointer()
  ckpt.save(tmp_path / "state", state)
  ckpt.wait_until_finished()
  restored = ckpt.restore(tmp_path / "state", jax.eval_shape(lambda: state))
  assert jax.tree.structure(restored) == jax.tree.structure(state)
  assert_trees_close(restored, state, 0, 0)
