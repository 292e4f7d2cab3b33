"""The `pmap` data-parallel variant: replicated state, batch split on a leading device axis."""

from typing import Any

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src.train import state as state_lib
from jopt._src.train import step as step_lib


def replicate(tree: Any, num_devices: int) -> Any:
  """Stacks `num_devices` copies of every leaf on a new leading axis (the `pmap` layout)."""
  return jax.tree.map(lambda x: jnp.broadcast_to(x, (num_devices,) + jnp.shape(x)), tree)


def unreplicate(tree: Any) -> Any:
  """The first copy of every leaf of a replicated (`pmap`-layout) tree."""
  return jax.tree.map(lambda x: x[0], tree)


def split_batch(fn: str, batch: Any, num_devices: int) -> Any:
  """Reshapes a global batch `(B, ...)` to `(num_devices, B // num_devices, ...)`."""
  step_lib.check_batch(fn, batch, num_devices, "local devices of pmap")
  return jax.tree.map(
      lambda x: x.reshape((num_devices, x.shape[0] // num_devices) + tuple(x.shape[1:])), batch
  )


def pmap_variant(
    step_fn_for_axis,
    tx: base.GradientTransformation,
    *,
    axis_name: str,
    donate: bool,
):
  """`(init, step, unreplicate)` over all local devices with `jax.pmap`.

  `step` takes a global batch (leading size divisible by the local device count),
  splits it on a leading device axis, runs the body on every device with the
  gradients, loss, model state and aux metrics averaged by `lax.pmean` over
  `axis_name`, and returns the replicated state and the metrics of device 0.
  """
  n = jax.local_device_count()
  body = step_fn_for_axis(axis_name)
  pstep = jax.pmap(body, axis_name=axis_name, donate_argnums=(0,) if donate else ())
  init_one = jax.jit(
      lambda params, rng, model_state: state_lib.init_train_state(params, tx, rng, model_state)
  )

  def init(params, rng, model_state):
    return replicate(init_one(params, rng, model_state), n)

  def step(state: state_lib.TrainState, batch: Any):
    if jnp.ndim(state.step) == 0:  # e.g. restored from a checkpoint: replicate it first.
      state = replicate(state, n)
    elif jnp.shape(state.step)[0] != n:
      raise ValueError(
          f"train_step(parallel='pmap'): the state is replicated {jnp.shape(state.step)[0]} "
          f"times but there are {n} local devices."
      )
    new_state, metrics = pstep(state, split_batch("train_step(parallel='pmap')", batch, n))
    return new_state, unreplicate(metrics)

  return init, step, unreplicate, n
