"""Sweeps: K trials that differ only in hyperparameter values, trained in lock-step as one jitted program."""

import functools
import inspect
from typing import Any, Callable, Mapping, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jopt._src import base
from jopt._src.wrappers import hyperparams as hyperparams_lib
from jopt._src.train import state as state_lib
from jopt._src.train import step as step_lib


class SweepResult(NamedTuple):
  """What `sweep` returns; every array has a leading trial axis of size K."""

  hyperparams: dict[str, np.ndarray]  # name -> float32[K]: each trial's swept values.
  state: state_lib.TrainState  # the final training states, stacked: leaves [K, ...].
  train_loss: jax.Array  # float32[K, T]: the training loss of every step (before its update).
  metrics: dict[str, jax.Array]  # name -> [K]: `eval_fn` of the final params ({} without it).


def _check_sweep_args(
    fn: str, optimizer: Callable[..., Any], hyperparams: Mapping[str, Any], fixed: Mapping[str, Any]
) -> dict[str, np.ndarray]:
  """Validates the swept values and returns them as float32 vectors of one common length K."""
  if not callable(optimizer):
    raise ValueError(f"{fn}: `optimizer` must be an optimizer factory such as jopt.adamw, got {optimizer!r}.")
  if not hyperparams:
    raise ValueError(f"{fn}: `hyperparams` must name at least one swept hyperparameter, got {{}}.")
  params = inspect.signature(optimizer).parameters
  name = getattr(optimizer, "__name__", repr(optimizer))
  values, sizes = {}, set()
  for key, value in hyperparams.items():
    if key not in params:
      raise ValueError(
          f"{fn}: `hyperparams` key {key!r} is not an argument of {name}; its arguments are "
          f"{list(params)}."
      )
    if key in fixed:
      raise ValueError(f"{fn}: {key!r} is both swept (`hyperparams`) and fixed (`fixed`).")
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.number):
      raise ValueError(
          f"{fn}: `hyperparams[{key!r}]` must be a non-empty 1-D sequence of numbers (one per "
          f"trial), got {value!r}."
      )
    values[key] = arr.astype(np.float32)
    sizes.add(arr.size)
  if len(sizes) != 1:
    raise ValueError(
        f"{fn}: every swept hyperparameter needs the same number of trials, got "
        f"{ {k: v.size for k, v in values.items()} }."
    )
  # Build once per trial (Python only, no compilation): the optimizer's own argument checks see
  # every trial's value and name the optimizer.
  for i in range(sizes.pop()):
    optimizer(**fixed, **{k: v[i] for k, v in values.items()})
  return values


def _trial_program(loss_fn, optimizer, fixed, swept, has_aux, eval_fn):
  """`(init, run)` for ONE trial; `sweep` vmaps both over the trial axis (or calls them per trial)."""
  dtype = jnp.float32

  def make_tx(hp):
    # Every argument but the swept ones is the same in every trial: static, so the math is the
    # unwrapped optimizer's (e.g. `1 - b2` from the Python float); only swept values live in the state.
    static = tuple(n for n in inspect.signature(optimizer).parameters if n not in hp)
    return hyperparams_lib.inject_hyperparams(optimizer, static_args=static)(**fixed, **hp)

  def init(hp, params, rng):
    # Built from this trial's (possibly traced) values, so the state stores them.
    return state_lib.init_train_state(params, make_tx(hp), rng)

  def run(state, batches):
    # The state holds the hyperparameters; any tx of the same structure reads them from it.
    hp = {k: v for k, v in state.opt_state.hyperparams.items() if k in swept}
    body = step_lib.train_step_body(loss_fn, make_tx(hp), has_aux=has_aux)

    def one_step(s, batch):
      s, metrics = body(s, batch)
      return s, metrics["loss"].astype(dtype)

    state, losses = jax.lax.scan(one_step, state, batches)
    metrics = {}
    if eval_fn is not None:
      out = eval_fn(state.params)
      metrics = dict(out) if isinstance(out, Mapping) else {"loss": out}
    return state, losses, metrics

  return init, run


def _build_programs(loss_fn, optimizer, fixed, swept, has_aux, eval_fn, per_trial_params):
  """The jitted vmapped program (all K trials) and the jitted single-trial program."""
  init, run = _trial_program(loss_fn, optimizer, fixed, swept, has_aux, eval_fn)
  p_axis = 0 if per_trial_params else None

  def vmapped(hp, params, key, batches):
    states = jax.vmap(init, in_axes=(0, p_axis, None))(hp, params, key)
    return jax.vmap(run, in_axes=(0, None))(states, batches)

  single = lambda hp, params, key, batches: run(init(hp, params, key), batches)
  return jax.jit(vmapped), jax.jit(single)


_cached_programs = functools.lru_cache(maxsize=64)(
    lambda loss_fn, optimizer, fixed_items, *rest: _build_programs(
        loss_fn, optimizer, dict(fixed_items), *rest)
)


def _programs(loss_fn, optimizer, fixed, swept, has_aux, eval_fn, per_trial_params):
  """Reuses the compiled programs of an earlier call with the same functions and fixed arguments."""
  try:
    items = tuple(sorted(fixed.items()))
    hash(items)
  except TypeError:  # unhashable fixed arguments (e.g. a mask tree): build afresh.
    return _build_programs(loss_fn, optimizer, fixed, swept, has_aux, eval_fn, per_trial_params)
  return _cached_programs(loss_fn, optimizer, items, swept, has_aux, eval_fn, per_trial_params)


def sweep(
    loss_fn: step_lib.LossFn,
    optimizer: Callable[..., base.GradientTransformation],
    hyperparams: Mapping[str, Any],
    params: base.Params,
    batches: Any,
    *,
    fixed: Optional[Mapping[str, Any]] = None,
    eval_fn: Optional[Callable[[base.Params], Any]] = None,
    has_aux: bool = False,
    rng: Any = None,
    per_trial_params: bool = False,
    vmap: bool = True,
    shard_trials: bool = True,
) -> SweepResult:
  """Trains K trials of `optimizer` that differ only in the values of `hyperparams`.

  Trial `k` trains `optimizer(**fixed, **{name: hyperparams[name][k]})` from
  `params` on the same `batches` (leading axis: the T steps), one
  `jopt.train_step_body` step per batch:

  .. math::
    \\theta^{(k)}_{t+1} = \\theta^{(k)}_t + \\mathrm{tx}_k.\\mathrm{update}(\\nabla L(\\theta^{(k)}_t, b_t), s^{(k)}_t, \\theta^{(k)}_t)

  The optimizer is wrapped in `inject_hyperparams`, so each trial's values live
  in its optimizer state. With `vmap=True` the whole sweep (init, T steps in a
  `lax.scan`, and the final `eval_fn`) is ONE jitted program vmapped over a
  leading trial axis of params, optimizer state and hyperparameters; the K trials
  train in lock-step. With `vmap=False` the same single-trial program is jitted
  once and called K times (the values are arrays, so nothing recompiles); the
  results are the same up to floating-point reassociation in batched matmuls.
  The compiled programs are cached: a second sweep with the same `loss_fn`,
  `optimizer`, `fixed`, `eval_fn` and shapes (any values) does not recompile.

  Args:
    loss_fn: ``loss_fn(params, batch[, rng]) -> loss`` (or ``(loss, aux)`` with
      `has_aux`), as for `jopt.train_step_body`.
    optimizer: an optimizer factory, e.g. `jopt.adamw`.
    hyperparams: argument name -> K values (a 1-D sequence), the swept
      hyperparameters; every entry has the same length K.
    params: the initial parameters, shared by every trial (or, with
      `per_trial_params`, already stacked with a leading axis of size K).
    batches: a pytree of arrays with leading axes ``[T, batch, ...]``: the T
      training batches, the same for every trial.
    fixed: other arguments of `optimizer`, the same for every trial.
    eval_fn: ``eval_fn(params) -> scalar or dict of scalars`` (e.g. a validation
      loss), evaluated on each trial's final params.
    has_aux: whether `loss_fn` returns ``(loss, aux)``.
    rng: None, an int seed or a key for `loss_fn`'s per-step randomness (the same
      for every trial).
    per_trial_params: whether `params` leaves have a leading trial axis.
    vmap: train the K trials in one vmapped program (True) or one by one (False).
    shard_trials: with `vmap`, split the trial axis over the local devices when
      there are several and K is divisible by their number (each device trains
      its K / n trials; no communication). On a CPU host exposed as n devices
      (``XLA_FLAGS=--xla_force_host_platform_device_count=n``) this puts the
      trials on n cores.

  Returns:
    A `SweepResult`.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> loss = lambda p, b: jnp.mean((b["x"] @ p - b["y"]) ** 2)
    >>> batches = {"x": jnp.ones((5, 4, 2)), "y": jnp.ones((5, 4))}
    >>> res = jopt.sweep(loss, jopt.sgd, {"learning_rate": [0.01, 0.1]}, jnp.zeros(2), batches)
    >>> res.train_loss.shape
    (2, 5)
  """
  fn = "sweep"
  fixed = dict(fixed or {})
  values = _check_sweep_args(fn, optimizer, hyperparams, fixed)
  k = next(iter(values.values())).size
  leaves = jax.tree.leaves(batches)
  if not leaves or any(jnp.ndim(x) < 1 for x in leaves):
    raise ValueError(f"{fn}: `batches` must be a pytree of arrays with a leading step axis [T, ...].")
  if len({jnp.shape(x)[0] for x in leaves}) != 1:
    raise ValueError(
        f"{fn}: every `batches` leaf needs the same leading step axis, got "
        f"{[jnp.shape(x)[0] for x in leaves]}."
    )
  if per_trial_params:
    sizes = {jnp.shape(x)[0] if jnp.ndim(x) else None for x in jax.tree.leaves(params)}
    if sizes != {k}:
      raise ValueError(
          f"{fn}: with per_trial_params=True every params leaf needs a leading axis of size "
          f"{k} (the number of trials), got {sorted(map(str, sizes))}."
      )
  key = state_lib.as_key(rng)
  hp = {name: jnp.asarray(v) for name, v in values.items()}
  vmapped, single = _programs(loss_fn, optimizer, fixed, frozenset(values), has_aux, eval_fn,
                              per_trial_params)
  if vmap:
    devices = jax.local_devices()
    if shard_trials and len(devices) > 1 and k % len(devices) == 0:
      mesh = Mesh(np.asarray(devices), ("trials",))
      by_trial, replicated = NamedSharding(mesh, P("trials")), NamedSharding(mesh, P())
      hp = jax.device_put(hp, by_trial)
      params = jax.device_put(params, by_trial if per_trial_params else replicated)
      batches = jax.device_put(batches, replicated)
      key = None if key is None else jax.device_put(key, replicated)
    states, losses, metrics = vmapped(hp, params, key, batches)
  else:
    outs = []
    for i in range(k):
      p_i = jax.tree.map(lambda x: x[i], params) if per_trial_params else params
      outs.append(single({n: v[i] for n, v in hp.items()}, p_i, key, batches))
    states, losses, metrics = jax.tree.map(lambda *xs: jnp.stack(xs), *outs)
  return SweepResult(hyperparams=values, state=states, train_loss=losses, metrics=metrics)
