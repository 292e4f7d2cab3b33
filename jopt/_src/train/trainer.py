"""`make_train_step`: one training step built for `jit`, `pmap` or a device mesh."""

import dataclasses
from typing import Any, Callable, Optional

import jax
from jax.sharding import Mesh

from jopt._src import checks
from jopt._src import base
from jopt._src.train import mesh as mesh_lib
from jopt._src.train import nan_policy as nan_lib
from jopt._src.train import pmap as pmap_lib
from jopt._src.train import state as state_lib
from jopt._src.train import step as step_lib

PARALLEL_MODES = ("jit", "pmap", "mesh")


@dataclasses.dataclass(frozen=True)
class Trainer:
  """What `make_train_step` returns.

  Attributes:
    init: ``init(params, rng=None, model_state=None) -> TrainState``, placed for
      the variant (replicated on a leading device axis for ``pmap``; sharded on
      the mesh for ``mesh``). ``rng`` is None, an int seed or a PRNG key.
    step: ``step(state, batch) -> (state, metrics)``, compiled; ``batch`` is the
      global batch (for ``mesh`` with several processes: this process's slice).
    step_fn: the pure, un-jitted body ``(state, batch) -> (state, metrics)`` for
      one device (no collectives), e.g. to `vmap` over a leading trial axis.
    unreplicate: ``unreplicate(state) -> TrainState`` with one copy of every
      leaf (``pmap``: the first device's; otherwise the state itself).
    parallel: ``"jit"``, ``"pmap"`` or ``"mesh"``.
    num_devices: the devices one step runs on.
    mesh: the mesh (``mesh`` variant only, else None).
    nan_policy: ``"ignore"``, ``"skip"`` or ``"raise"``.
    check_finite: ``check_finite(state)`` reads the flags of the steps not yet
      checked under ``nan_policy="raise"`` (with ``nan_check_every > 1``, call it
      after the last step) and raises `NonFiniteError`; a no-op otherwise.
  """

  init: Callable[..., state_lib.TrainState]
  step: Callable[[state_lib.TrainState, Any], tuple[state_lib.TrainState, dict[str, Any]]]
  step_fn: step_lib.StepFn
  unreplicate: Callable[[state_lib.TrainState], state_lib.TrainState]
  parallel: str
  num_devices: int
  mesh: Optional[Mesh] = None
  nan_policy: str = "ignore"
  check_finite: Callable[[state_lib.TrainState], None] = lambda state: None


@checks.public
def make_train_step(
    loss_fn: step_lib.LossFn,
    tx: base.GradientTransformation,
    *,
    has_aux: bool = False,
    parallel: str = "jit",
    mesh: Optional[Mesh] = None,
    shard_opt_state: bool = False,
    donate: bool = True,
    axis_name: str = "data",
    nan_policy: str = "ignore",
    nan_check_every: int = 1,
    flat: bool = False,
) -> Trainer:
  """Builds a compiled training step on one device, with `pmap`, or over a device mesh.

  Every variant runs the same body (`train_step_body`): gradients of
  ``loss_fn`` at the params, ``updates, opt_state = tx.update(grads, opt_state,
  params)``, ``params = apply_updates(params, updates)``. On N devices the
  gradient is the mean over the global batch, so the result equals the
  single-device step on the same global batch up to float reduction order.

  - ``"jit"``: one device, `jax.jit`.
  - ``"pmap"``: `jax.pmap` over the local devices; the state is replicated on a
    leading device axis, the global batch is split on a new leading axis, and
    loss, gradients, model state and dict-aux metrics are averaged with
    `lax.pmean` over ``axis_name``. Each device folds its index into the step key,
    so random ops (dropout) differ per device and from the ``"jit"`` run.
  - ``"mesh"``: `jax.jit` over ``mesh`` (default: all devices of all processes on
    one axis ``axis_name``); params replicated, batch sharded on ``axis_name``,
    the body sees the global batch, so results (random ops included) match
    ``"jit"``. With ``shard_opt_state=True`` (ZeRO-1) each optimizer-state leaf is
    split along its first dimension divisible by the axis size.

  ``loss_fn(params, batch[, rng][, model_state=...]) -> loss | (loss, aux)``: the
  key is passed when ``init`` got ``rng`` (the step's key is
  ``fold_in(rng, state.step)``); ``model_state`` is passed when ``init`` got one,
  and then ``aux`` must be a dict whose ``"model_state"`` entry is the new model
  state. Other dict-aux entries become metrics.

  A non-finite loss or gradient (NaN or ±inf, checked after the cross-device
  mean) is handled by ``nan_policy``:

  - ``"ignore"`` (the default, today's behaviour and optax's): the update is
    applied; ``metrics["nonfinite"]`` flags the step and
    ``state.nonfinite_steps`` counts it. No host sync.
  - ``"skip"``: the update is not applied (params, optimizer state and model
    state keep their values; ``state.step`` advances), inside the compiled step,
    like `skip_not_finite`: no host sync, a `where` fused into the update.
  - ``"raise"``: skipped as under ``"skip"``, and ``trainer.step`` raises
    `NonFiniteError` (a `FloatingPointError`) naming the step and the metric
    (``loss`` or ``grad_norm``), with the state (finite params) attached. Its
    cost: every ``nan_check_every`` steps, one host sync (`device_get` of the
    pending flags): the host waits for those steps to finish, which stalls the
    dispatch pipeline (a few percent for small steps at ``nan_check_every=1``;
    e.g. 10 amortises it). With ``nan_check_every > 1`` call
    ``trainer.check_finite(state)`` after the last step.

  Bad input raises `ValueError` before compilation: a global batch not divisible
  by the device count, an optimizer state not shaped like ``tx.init(params)``, a
  non-scalar loss, unknown ``parallel``, a mesh without ``axis_name``.

  Args:
    loss_fn: the loss; see above.
    tx: any gradient transformation (jopt or optax).
    has_aux: whether ``loss_fn`` returns ``(loss, aux)``.
    parallel: ``"jit"``, ``"pmap"`` or ``"mesh"``.
    mesh: a `jax.sharding.Mesh` with an axis ``axis_name`` (``"mesh"`` only).
    shard_opt_state: ZeRO-1 optimizer-state sharding (``"mesh"`` only).
    donate: donate the input state's buffers to the step (the state passed to
      ``step`` must not be used afterwards; ``init`` copies the caller's params).
    axis_name: the data-parallel axis name (``pmap`` axis or mesh axis).
    nan_policy: ``"ignore"``, ``"skip"`` or ``"raise"``; see above.
    nan_check_every: under ``"raise"``, read the flags every this many steps
      (one host sync each time), a positive integer.
    flat: keep params, gradients and optimizer state in a few flat buffers
      (one per dtype and mask group); ``loss_fn`` gets the params tree as
      views of them. Returns a `FlatTrainer` (see `flat_train_step`).

  Returns:
    A `Trainer` with ``init``, ``step``, ``step_fn``, ``unreplicate``.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> loss = lambda p, b: jnp.mean((b["x"] @ p - b["y"]) ** 2)
    >>> trainer = jopt.make_train_step(loss, jopt.sgd(0.1))
    >>> state = trainer.init(jnp.zeros(2))
    >>> state, metrics = trainer.step(state, {"x": jnp.eye(2), "y": jnp.ones(2)})
    >>> int(state.step), float(metrics["loss"])
    (1, 1.0)
  """
  fn = "make_train_step"
  if not callable(loss_fn):
    raise ValueError(f"{fn}: `loss_fn` must be callable, got {loss_fn!r}.")
  if not (hasattr(tx, "init") and hasattr(tx, "update")):
    raise ValueError(f"{fn}: `tx` must be a GradientTransformation, got {tx!r}.")
  if parallel not in PARALLEL_MODES:
    raise ValueError(f"{fn}: `parallel` must be one of {PARALLEL_MODES}, got {parallel!r}.")
  if mesh is not None and parallel != "mesh":
    raise ValueError(f"{fn}: `mesh` is only used with parallel='mesh', got parallel={parallel!r}.")
  if shard_opt_state and parallel != "mesh":
    raise ValueError(
        f"{fn}: `shard_opt_state=True` needs parallel='mesh', got parallel={parallel!r}."
    )
  if not isinstance(axis_name, str) or not axis_name:
    raise ValueError(f"{fn}: `axis_name` must be a non-empty string, got {axis_name!r}.")
  nan_lib.check_policy(fn, nan_policy, nan_check_every)
  if flat:  # params kept in flat buffers: jopt/_src/train/flat.py wraps loss_fn, tx and init.
    from jopt._src.train import flat as flat_lib  # pylint: disable=import-outside-toplevel
    return flat_lib.flat_train_step(
        make_train_step, loss_fn, tx, has_aux=has_aux, parallel=parallel, mesh=mesh,
        shard_opt_state=shard_opt_state, donate=donate, axis_name=axis_name,
        nan_policy=nan_policy, nan_check_every=nan_check_every)

  def body(axis=None):
    return step_lib.train_step_body(
        loss_fn, tx, has_aux=has_aux, axis_name=axis, nan_policy=nan_policy
    )

  step_fn = body()
  the_mesh = None
  if parallel == "jit":
    init_c, step_c = step_lib.jit_variant(step_fn, tx, donate)
    unrep, n = (lambda s: s), 1
  elif parallel == "pmap":
    init_c, step_c, unrep, n = pmap_lib.pmap_variant(body, tx, axis_name=axis_name, donate=donate)
  else:
    init_c, step_c, the_mesh = mesh_lib.mesh_variant(
        step_fn, tx, mesh=mesh, axis_name=axis_name, shard_opt_state=shard_opt_state,
        donate=donate,
    )
    unrep, n = (lambda s: s), the_mesh.shape[axis_name]

  def init(params, rng=None, model_state=None):
    return init_c(params, state_lib.as_key(rng), model_state)

  step, check_finite = step_c, lambda state: None
  if nan_policy == "raise":
    checker = nan_lib.Checker(fn, nan_check_every, nan_lib.first)
    check_finite = checker.flush

    def step(state, batch):
      new_state, metrics = step_c(state, batch)
      checker(new_state, metrics)
      return new_state, metrics

  return Trainer(
      init=init, step=step, step_fn=step_fn, unreplicate=unrep, parallel=parallel,
      num_devices=n, mesh=the_mesh, nan_policy=nan_policy, check_finite=check_finite,
  )
