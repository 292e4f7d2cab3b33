"""Recording measurements of the updates in the state: `snapshot`, `monitor`, `measure_with_ema`."""

from typing import Any, Callable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import combine
from jopt._src.transforms import ema
from jopt._src.transforms import stateless

Measure = Callable[[base.Updates], Any]


class SnapshotState(NamedTuple):
  """State of `snapshot`."""

  measurement: dict[str, Any]  # {measure_name: measure(updates)} of the last update.


class MonitorState(NamedTuple):
  """State of `monitor`."""

  measurements: dict[str, Any]  # name -> the last measurement.
  measure_states: tuple[base.OptState, ...]  # each measure's state, in `measures` order.


def snapshot(measure_name: str, measure: Measure) -> base.GradientTransformation:
  """Stores `measure(updates)` in the state under `measure_name`; the updates pass through unchanged.

  In a chain it sees the updates as transformed so far, e.g. the norm before
  clipping. The initial state holds `measure(params)`.

  Args:
    measure_name: the key of the measurement in `SnapshotState.measurement`.
    measure: `measure(updates) -> tree of arrays`.

  Returns:
    A `GradientTransformation` with state `SnapshotState`.

  Example:
    >>> import jopt
    >>> tx = jopt.chain(jopt.sgd(0.1), jopt.snapshot("norm", jopt.global_norm),
    ...                 jopt.clip_by_global_norm(1.0))  # doctest: +SKIP
  """

  def init_fn(params):
    return SnapshotState({measure_name: measure(params)})

  def update_fn(updates, state, params=None):
    del state, params
    return updates, SnapshotState({measure_name: measure(updates)})

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn),
      "unknown", "snapshot",
      why="its measure sees the whole updates tree")


def _as_transform(measure: Union[base.GradientTransformation, Measure]):
  if isinstance(measure, base.GradientTransformation):
    return combine.with_extra_args_support(measure)
  if callable(measure):
    return combine.with_extra_args_support(stateless.stateless(lambda u, _: measure(u)))
  raise TypeError(
      f"monitor: every measure must be a function of the updates or a "
      f"GradientTransformation, got {type(measure).__name__}."
  )


def _initial_measurement(tx, params: Any, measure_state: Any) -> Optional[Any]:
  """Zeros shaped like `tx`'s measurement of `params`, found abstractly; None if it needs extra args."""
  try:
    shapes = jax.eval_shape(lambda p, s: tx.update(p, s, p)[0], params, measure_state)
  except TypeError:
    return None
  return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


def monitor(measures: dict[str, Union[base.GradientTransformationExtraArgs, Measure]]):
  """Records several measurements of the updates, some of them stateful; the updates pass through unchanged.

  Each entry is a function `measure(updates)` (as in `snapshot`) or a transform
  whose output is the measurement, e.g. `measure_with_ema(...)`.
  `MonitorState.measurements[name]` holds the last measurement and
  `MonitorState.measure_states` the transforms' states.

  Differs from optax: the initial state already holds every measurement (zeros
  of the right shape and dtype), so the state keeps one structure from `init`
  on (`lax.scan` loops, checkpoints restored into `init`'s state, buffer
  donation). optax starts from an empty dict. A measure transform whose
  `update` needs extra arguments is the exception: it appears after the first
  `update`.

  Args:
    measures: name -> measure function or transform.

  Returns:
    A `GradientTransformationExtraArgs` with state `MonitorState`.

  Example:
    >>> import jopt
    >>> tx = jopt.chain(
    ...     jopt.sgd(0.1),
    ...     jopt.monitor({"norm": jopt.global_norm,
    ...                   "clipped_ema": jopt.measure_with_ema(lambda u: jopt.global_norm(u) > 1.0, 0.9)}),
    ...     jopt.clip_by_global_norm(1.0))  # doctest: +SKIP
  """
  transforms = {name: _as_transform(m) for name, m in measures.items()}
  names = tuple(transforms)

  def init_fn(params):
    states = tuple(transforms[n].init(params) for n in names)
    measurements = {}
    for n, s in zip(names, states):
      initial = _initial_measurement(transforms[n], params, s)
      if initial is not None:
        measurements[n] = initial
    return MonitorState(measurements, states)

  def update_fn(updates, state, params=None, **extra_args):
    measurements, states = {}, []
    for n, s in zip(names, state.measure_states):
      measurements[n], s = transforms[n].update(updates, s, params, **extra_args)
      states.append(s)
    return updates, MonitorState(measurements, tuple(states))

  return base.declare_fusion(
      base.GradientTransformationExtraArgs(init_fn, update_fn),
      "unknown", "monitor",
      why="its measures see the whole updates tree")


def _inexact(tree: Any) -> Any:
  """Bool and integer leaves as float32 (an average of them is a float); others unchanged."""
  return jax.tree.map(
      lambda x: x if jnp.issubdtype(jnp.result_type(x), jnp.inexact) else jnp.asarray(x, jnp.float32),
      tree,
  )


def measure_with_ema(
    measure: Measure,
    decay: jax.typing.ArrayLike,
    debias: bool = True,
    accumulator_dtype: Optional[Any] = None,
) -> base.GradientTransformationExtraArgs:
  """An exponential moving average of `measure(updates)`, for `monitor`; its output is the average.

  .. math::
    e_t = \\beta e_{t-1} + (1 - \\beta) m(u_t), \\qquad
    \\text{out}_t = e_t / (1 - \\beta^t) \\ \\text{(debias)} \\ \\text{or}\\ e_t

  with :math:`e_0 = 0` (the moving average of `ema`). Bool and integer
  measurements (e.g. "was the norm clipped") are averaged as float32; the
  state keeps that dtype from `init` on (optax starts it in the measurement's
  dtype and changes it at the first update).

  Args:
    measure: `measure(updates) -> tree of arrays`.
    decay: :math:`\\beta`, in [0, 1).
    debias: divide by :math:`1 - \\beta^t`.
    accumulator_dtype: dtype of the stored average (default: the
      measurement's).

  Returns:
    A `GradientTransformationExtraArgs` (a chain: the measurement, then `ema`)
    whose update outputs the average.
  """
  average = ema.ema(decay, debias, accumulator_dtype)
  take = lambda tree: _inexact(measure(tree))
  measured_average = average._replace(init=lambda params: average.init(take(params)))
  return combine.chain(stateless.stateless(lambda updates, _: take(updates)), measured_average)
