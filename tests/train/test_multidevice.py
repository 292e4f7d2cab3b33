"""pmap and mesh training steps on 4 simulated CPU devices equal the single-device step; ZeRO-1."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import PartitionSpec as P

import jopt
from cases import STEPS, make_batches, make_params, mlp_loss

TOL = 1e-5


@pytest.fixture(scope="module", autouse=True)
def four_devices():
  assert jax.device_count() == 4, "tests/conftest.py should give 4 simulated CPU devices"


def run(trainer, params, batches, **init_kw):
  state = trainer.init(params, **init_kw)
  for b in batches:
    state, metrics = trainer.step(state, b)
  return trainer.unreplicate(state), metrics


def assert_close(a, b):
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=TOL, atol=TOL), a, b)


@pytest.fixture(scope="module")
def single_device_adam():
  batches = make_batches(STEPS, size=16)
  trainer = jopt.make_train_step(mlp_loss, jopt.adam(1e-2))
  return batches, run(trainer, make_params(), batches)


@pytest.mark.parametrize("parallel", ["pmap", "mesh"])
def test_data_parallel_equals_single_device(parallel, single_device_adam):
  batches, (ref, ref_metrics) = single_device_adam
  trainer = jopt.make_train_step(mlp_loss, jopt.adam(1e-2), parallel=parallel)
  assert trainer.num_devices == 4
  state, metrics = run(trainer, make_params(), batches)
  assert int(state.step) == STEPS
  assert_close(state.params, ref.params)
  assert_close(state.opt_state, ref.opt_state)
  for k in ("loss", "grad_norm", "update_norm"):
    np.testing.assert_allclose(metrics[k], ref_metrics[k], rtol=TOL)


def test_zero1_sharded_equals_replicated(single_device_adam):
  batches, (ref, _) = single_device_adam
  zero = jopt.make_train_step(mlp_loss, jopt.adam(1e-2), parallel="mesh", shard_opt_state=True)
  rep = jopt.make_train_step(mlp_loss, jopt.adam(1e-2), parallel="mesh")
  s_zero, _ = run(zero, make_params(), batches)
  s_rep, _ = run(rep, make_params(), batches)
  assert_close(s_zero.params, s_rep.params)
  assert_close(s_zero.opt_state, s_rep.opt_state)
  assert_close(s_zero.params, ref.params)
  adam_state = s_zero.opt_state[0]
  # Adam's moments really are split over the 4 devices: each holds a quarter.
  for moments in (adam_state.mu, adam_state.nu):
    assert moments["w"].sharding.spec == P(None, "data")  # (3, 8): dim 1 divides by 4
    assert moments["v"].sharding.spec == P("data")
    assert moments["w"].addressable_shards[0].data.shape == (3, 2)
  assert adam_state.count.sharding.is_fully_replicated
  assert s_zero.params["w"].sharding.is_fully_replicated
  assert s_rep.opt_state[0].mu["w"].sharding.is_fully_replicated
  # A state restored on the host or on one device is placed back on the mesh by `step`.
  nxt = make_batches(1, size=16, seed=5)[0]
  s_host, _ = zero.step(jax.device_get(s_zero), nxt)
  s_dev0, _ = zero.step(jax.device_put(jax.device_get(s_rep), jax.devices()[0]), nxt)
  assert_close(s_host.params, s_dev0.params)
  assert s_dev0.opt_state[0].mu["v"].sharding.spec == P("data")


class DropBN(nn.Module):
  @nn.compact
  def __call__(self, x, rng):
    x = nn.Dense(8, use_bias=False)(x)
    x = nn.BatchNorm(use_running_average=False, momentum=0.8)(x)
    x = nn.Dropout(0.25, deterministic=False)(nn.relu(x), rng=rng)
    return nn.Dense(1)(x)[:, 0]


def test_mesh_linen_batchnorm_dropout_equals_single_device():
  """The mesh step sees the global batch: batch statistics and dropout masks match one device."""
  model = DropBN()
  batches = make_batches(5, size=16)
  variables = model.init(jax.random.key(0), batches[0]["x"], jax.random.key(1))

  def loss_fn(p, batch, rng, model_state):
    out, new = model.apply(
        {"params": p, "batch_stats": model_state}, batch["x"], rng, mutable=["batch_stats"]
    )
    return jnp.mean((out - batch["y"]) ** 2), {"model_state": new["batch_stats"]}

  results = []
  for parallel in ("jit", "mesh"):
    trainer = jopt.make_train_step(loss_fn, jopt.adam(1e-2), has_aux=True, parallel=parallel)
    results.append(
        run(trainer, variables["params"], batches, rng=7, model_state=variables["batch_stats"])[0]
    )
  assert_close(results[1].params, results[0].params)
  assert_close(results[1].model_state, results[0].model_state)


def test_pmap_nnx_model_and_restored_state_equal_single_device():
  batches = make_batches(4, size=8)
  graphdef, params = nnx.split(nnx.Linear(3, 2, rngs=nnx.Rngs(0)), nnx.Param)

  def loss_fn(p, batch):
    return jnp.mean((nnx.merge(graphdef, p)(batch["x"]).sum(-1) - batch["y"]) ** 2)

  ref, _ = run(jopt.make_train_step(loss_fn, jopt.sgd(0.1, momentum=0.9)), params, batches)
  trainer = jopt.make_train_step(loss_fn, jopt.sgd(0.1, momentum=0.9), parallel="pmap")
  state = trainer.init(params)
  state, _ = trainer.step(state, batches[0])
  # An unreplicated state (e.g. restored from a checkpoint) is replicated by `step`.
  state = jax.device_get(trainer.unreplicate(state))
  for b in batches[1:]:
    state, _ = trainer.step(state, b)
  assert_close(trainer.unreplicate(state).params, ref.params)


@pytest.mark.parametrize("parallel", ["pmap", "mesh"])
def test_indivisible_global_batch_raises(parallel):
  trainer = jopt.make_train_step(mlp_loss, jopt.sgd(0.1), parallel=parallel)
  state = trainer.init(make_params())
  with pytest.raises(ValueError, match=r"global batch size 10 .*not divisible by the 4"):
    trainer.step(state, make_batches(1, size=10)[0])


def test_mesh_argument_checks():
  mesh = jax.make_mesh((4,), ("batch",), axis_types=(jax.sharding.AxisType.Auto,))
  with pytest.raises(ValueError, match="'data' is not an axis of the mesh"):
    jopt.make_train_step(mlp_loss, jopt.sgd(0.1), parallel="mesh", mesh=mesh)
  trainer = jopt.make_train_step(mlp_loss, jopt.sgd(0.1), parallel="mesh", mesh=mesh, axis_name="batch")
  assert trainer.mesh is mesh and trainer.num_devices == 4
