"""The mesh variant: `jit` over a `jax.sharding.Mesh`, batch sharded on a data axis, optional ZeRO-1."""

from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jopt._src import base
from jopt._src.train import state as state_lib
from jopt._src.train import step as step_lib

_FN = "train_step(parallel='mesh')"


def data_mesh(axis_name: str = "data") -> Mesh:
  """A 1-D mesh over every device of every process, its one axis named `axis_name`."""
  return jax.make_mesh(
      (jax.device_count(),), (axis_name,), axis_types=(jax.sharding.AxisType.Auto,)
  )


def zero_spec(shape: tuple[int, ...], axis_name: str, axis_size: int) -> P:
  """ZeRO-1 placement of one optimizer-state leaf: split its first dimension divisible by the axis.

  Leaves with no such dimension (step counters, odd-sized vectors) stay replicated.
  """
  for i, d in enumerate(shape):
    if d >= axis_size and d % axis_size == 0:
      return P(*([None] * i + [axis_name]))
  return P()


def state_shardings(
    state_shape: state_lib.TrainState, mesh: Mesh, axis_name: str, shard_opt_state: bool
) -> state_lib.TrainState:
  """Shardings for a `TrainState`: all replicated, except the optimizer state under ZeRO-1."""
  replicated = NamedSharding(mesh, P())
  size = mesh.shape[axis_name]
  rep = lambda tree: jax.tree.map(lambda _: replicated, tree)
  if shard_opt_state:
    opt = jax.tree.map(
        lambda x: NamedSharding(mesh, zero_spec(tuple(jnp.shape(x)), axis_name, size)),
        state_shape.opt_state,
    )
  else:
    opt = rep(state_shape.opt_state)
  return state_lib.TrainState(
      step=replicated,
      params=rep(state_shape.params),
      opt_state=opt,
      model_state=rep(state_shape.model_state),
      rng=rep(state_shape.rng),
      nonfinite_steps=rep(state_shape.nonfinite_steps),
  )


def put_global(x: Any, sharding: NamedSharding) -> jax.Array:
  """Places a value that every process holds in full onto `sharding` (which may span hosts)."""
  if jax.process_count() == 1:
    return jax.device_put(x, sharding)
  if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
    data = put_global(jax.random.key_data(x), sharding)
    return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
  arr = np.asarray(x)
  return jax.make_array_from_callback(arr.shape, sharding, lambda idx: arr[idx])


def make_global_batch(batch: Any, mesh: Mesh, axis_name: str = "data") -> Any:
  """This process's part of a batch as global arrays sharded on `axis_name` of `mesh`.

  In one process the argument is the whole global batch. With several processes,
  each passes its own consecutive slice (see `process_batch_slice`); the global
  batch is their concatenation in process order, built by
  `jax.make_array_from_process_local_data` without any copy between hosts.
  Leaves that are already global arrays with this sharding pass through.

  Args:
    batch: a pytree of arrays with a leading batch axis.
    mesh: the device mesh.
    axis_name: the mesh axis the batch is split over.

  Returns:
    The batch as `jax.Array`s with sharding `NamedSharding(mesh, P(axis_name))`.
  """
  if axis_name not in mesh.axis_names:
    raise ValueError(
        f"make_global_batch: `axis_name` {axis_name!r} is not an axis of the mesh {mesh.axis_names}."
    )
  procs = jax.process_count()
  step_lib.check_batch(
      "make_global_batch", batch, mesh.shape[axis_name], f"devices on mesh axis {axis_name!r}",
      scale=procs,
  )
  sharding = NamedSharding(mesh, P(axis_name))

  def put(x):
    if isinstance(x, jax.Array) and x.sharding == sharding:
      return x
    if procs == 1:
      return jax.device_put(x, sharding)
    return jax.make_array_from_process_local_data(sharding, np.asarray(x))

  return jax.tree.map(put, batch)


def mesh_variant(
    step_fn: step_lib.StepFn,
    tx: base.GradientTransformation,
    *,
    mesh: Optional[Mesh],
    axis_name: str,
    shard_opt_state: bool,
    donate: bool,
):
  """`(init, step, mesh)`: the body under `jax.jit` with explicit output shardings.

  Params, model state and metrics are replicated on every device; the batch is
  split on `axis_name`; the compiler inserts the gradient all-reduce. With
  `shard_opt_state` (ZeRO-1) each optimizer-state leaf is split along its first
  dimension divisible by the axis size, so every device stores and updates
  only its slice of e.g. Adam's two moments; the update is elementwise, so the
  result equals the replicated run.
  """
  if mesh is None:
    mesh = data_mesh(axis_name)
  if axis_name not in mesh.axis_names:
    raise ValueError(
        f"make_train_step: `axis_name` {axis_name!r} is not an axis of the mesh {mesh.axis_names}."
    )
  replicated = NamedSharding(mesh, P())
  cache: dict[Any, Any] = {}

  def shardings_for(state_shape):
    return state_shardings(state_shape, mesh, axis_name, shard_opt_state)

  def init(params, rng, model_state):
    params_g = jax.tree.map(lambda x: put_global(x, replicated), params)
    model_g = jax.tree.map(lambda x: put_global(x, replicated), model_state)
    rng_g = None if rng is None else put_global(rng, replicated)
    # Copies, so donating the state never deletes the caller's own arrays.
    make = lambda p, r, m: state_lib.init_train_state(
        step_lib.fresh(p), tx, r, step_lib.fresh(m)
    )
    fn = jax.jit(make, out_shardings=shardings_for(jax.eval_shape(make, params_g, rng_g, model_g)))
    return fn(params_g, rng_g, model_g)

  def step(state: state_lib.TrainState, batch: Any):
    batch = make_global_batch(batch, mesh, axis_name)
    leaves, treedef = jax.tree.flatten(state)
    if treedef not in cache:
      shardings = shardings_for(state)
      cache[treedef] = jax.tree.leaves(shardings)[0], shardings, jax.jit(
          step_fn,
          in_shardings=(shardings, NamedSharding(mesh, P(axis_name))),
          out_shardings=(shardings, replicated),
          donate_argnums=(0,) if donate else (),
      )
    first_sharding, shardings, fn = cache[treedef]
    # The state is placed by `init` and stays placed (the step's outputs have these shardings),
    # so one leaf tells whether it came from elsewhere (e.g. a restored checkpoint): no walk over
    # every leaf on the host at each step.
    first = leaves[0]
    if not (isinstance(first, jax.Array) and first.sharding == first_sharding):
      state = jax.tree.map(put_global, state, shardings)
    return fn(state, batch)

  return init, step, mesh
