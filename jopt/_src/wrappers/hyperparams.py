"""Hyperparameter telemetry: `inject_hyperparams` and the reader `hyperparams(opt_state)`."""

import collections
import functools
import inspect
import warnings
from typing import Any, Callable, Iterable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np

from jopt._src import checks
from jopt._src import base
from jopt._src import combine
from jopt._src import numerics


class InjectHyperparamsState(NamedTuple):
  """optax's deprecated state class of `inject_hyperparams`, kept for code that names it.

  `inject_hyperparams` builds `InjectStatefulHyperparamsState`, as optax 0.2.8 does.
  """

  count: jax.Array  # shape=(), dtype=int32
  hyperparams: dict[str, jax.Array]
  inner_state: base.OptState


class InjectStatefulHyperparamsState(NamedTuple):
  """State of a transform built by `inject_hyperparams` (optax's class name and fields)."""

  count: jax.Array  # shape=(), dtype=int32: the number of updates so far.
  hyperparams: dict[str, jax.Array]  # shape=() each: the values the last update used.
  hyperparams_states: dict[str, Any]  # each schedule's own state (a step count for a plain one).
  inner_state: base.OptState  # the wrapped transform's state.


class WrappedScheduleState(NamedTuple):
  """State of a plain schedule run as a stateful one: its step count."""

  count: jax.Array  # shape=(), dtype=int32


class WrappedSchedule:
  """A plain schedule `count -> value` seen as a stateful schedule (optax's `WrappedSchedule`)."""

  def __init__(self, schedule_fn: base.Schedule):
    self.schedule_fn = schedule_fn

  def init(self) -> WrappedScheduleState:
    return WrappedScheduleState(count=numerics.init_count())

  def update(self, state: WrappedScheduleState, **extra_args) -> WrappedScheduleState:
    del extra_args
    return WrappedScheduleState(count=numerics.safe_increment(state.count))

  def __call__(self, state: WrappedScheduleState, **extra_args) -> jax.Array:
    del extra_args
    return self.schedule_fn(state.count)


def _is_stateful_schedule(value: Any) -> bool:
  return callable(value) and all(callable(getattr(value, m, None)) for m in ("init", "update"))


def _as_hyperparam(value: Any, dtype: jnp.dtype) -> Any:
  """A float hyperparameter in `dtype`; a strongly typed jax array keeps the dtype the user gave."""
  if isinstance(value, jax.Array) and not getattr(value, "weak_type", False):
    return value
  value_dtype = getattr(value, "dtype", None)
  if value_dtype is None:
    value_dtype = jnp.asarray(value).dtype
  if jnp.issubdtype(value_dtype, jnp.floating):
    return jnp.asarray(value, dtype)
  return jnp.asarray(value)


@checks.public
def inject_hyperparams(
    inner_factory: Callable[..., base.GradientTransformation],
    static_args: Union[str, Iterable[str]] = (),
    hyperparam_dtype: Optional[jnp.dtype] = None,
) -> Callable[..., base.GradientTransformationExtraArgs]:
  """Wraps an optimizer factory so its numeric hyperparameters live in the state.

  `inject_hyperparams(jopt.adam)(learning_rate=0.1)` builds a transform whose
  state is `InjectStatefulHyperparamsState(count, hyperparams, hyperparams_states,
  inner_state)`. **The state is the truth**: every numeric hyperparameter (Python
  numbers included) is stored in `state.hyperparams` and read back from it at
  every update, so a loop that writes `state.hyperparams["learning_rate"] = 0.01`
  changes the next update (manual decay, warm restarts). A schedule (a callable
  argument, or a stateful schedule with `init`/`update`) is evaluated at every
  update and its value stored, so `jopt.hyperparams(state)` can log it.

  How each argument of `inner_factory` is treated, as in optax:

  * bools, `None`, strings, dtypes, every name in `static_args` and the callable
    arguments the factory declares (its masks): passed through unchanged;
  * other callables: schedules;
  * numbers and numeric arrays: stored in the state.

  Differs from optax: (1) `jopt.adamw(..., mask=fn)` keeps its mask (optax calls
  the mask as a schedule unless `static_args="mask"`, silently dropping weight
  decay); (2) float hyperparameters are stored as float32 (or
  `hyperparam_dtype`), where optax takes the params' widest dtype, so bf16 params
  would round the learning rate to 3 significant digits. An array the user gives
  with a strong dtype (e.g. `jnp.bfloat16(0.1)`) keeps it, as in optax.

  Args:
    inner_factory: a function returning a `GradientTransformation`, e.g. `jopt.adam`.
    static_args: names of arguments never to store or call (a string or an
      iterable of strings); must be parameters of `inner_factory`.
    hyperparam_dtype: dtype of stored float hyperparameters (default float32).

  Returns:
    A function with `inner_factory`'s signature returning a
    `GradientTransformationExtraArgs`.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> tx = jopt.inject_hyperparams(jopt.sgd)(learning_rate=0.1)
    >>> state = tx.init(jnp.zeros(2))
    >>> state.hyperparams["learning_rate"] = jnp.asarray(0.5)
    >>> updates, state = tx.update(jnp.ones(2), state)
    >>> updates
    Array([-0.5, -0.5], dtype=float32)
  """
  static_args = {static_args} if isinstance(static_args, str) else set(static_args)
  signature = inspect.signature(inner_factory)
  unknown = static_args - set(signature.parameters)
  if unknown:
    raise ValueError(
        f"inject_hyperparams: `static_args` must name parameters of "
        f"{getattr(inner_factory, '__name__', inner_factory)!s}; got {sorted(unknown)}, "
        f"parameters are {list(signature.parameters)}."
    )
  not_schedules = static_args | base.declared_callable_args(inner_factory)
  dtype = jnp.float32 if hyperparam_dtype is None else numerics.canonicalize_dtype(hyperparam_dtype)

  @functools.wraps(inner_factory)
  def wrapped(*args, **kwargs) -> base.GradientTransformationExtraArgs:
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    other, numeric, schedules = {}, {}, {}
    for name, value in bound.arguments.items():
      if name in not_schedules or value is None or isinstance(value, (bool, np.bool_, type, str)):
        other[name] = value
      elif _is_stateful_schedule(value):
        schedules[name] = value
      elif callable(value):
        schedules[name] = WrappedSchedule(value)
      elif isinstance(value, (int, float, jax.Array, np.ndarray, np.number)):
        numeric[name] = value
      else:
        other[name] = value
    # Building once validates every argument at build time (bad input raises here, naming
    # the optimizer the user called).
    probe = inner_factory(**other, **numeric, **{k: s(s.init()) for k, s in schedules.items()})

    def build(values):
      return combine.with_extra_args_support(inner_factory(**other, **values))

    def init_fn(params):
      values = {k: _as_hyperparam(v, dtype) for k, v in numeric.items()}
      schedule_states = {k: s.init() for k, s in schedules.items()}
      values.update({k: _as_hyperparam(s(schedule_states[k]), dtype) for k, s in schedules.items()})
      return InjectStatefulHyperparamsState(
          count=numerics.init_count(),
          hyperparams=values,
          hyperparams_states=schedule_states,
          inner_state=build(values).init(params),
      )

    def update_fn(updates, state, params=None, **extra_args):
      values = {k: _as_hyperparam(v, dtype) for k, v in state.hyperparams.items()}
      values.update({
          k: _as_hyperparam(s(state.hyperparams_states[k], **extra_args), dtype)
          for k, s in schedules.items()
      })
      schedule_states = {
          k: s.update(state.hyperparams_states[k], **extra_args) for k, s in schedules.items()
      }
      updates, inner_state = build(values).update(updates, state.inner_state, params, **extra_args)
      return updates, InjectStatefulHyperparamsState(
          count=numerics.safe_increment(state.count),
          hyperparams=values,
          hyperparams_states=schedule_states,
          inner_state=inner_state,
      )

    def rebuild(kids, remask):  # the same call with each mask `m` replaced by `remask(m)`.
      del kids  # the inner transform is built again at every update.
      again = signature.bind(*bound.args, **bound.kwargs)
      again.arguments.update({k: remask(v) for k, v in again.arguments.items()})
      return wrapped(*again.args, **again.kwargs)

    # Built at every update from the same arguments: `probe` shows what it is made of.
    return base.declare_fusion(
        base.GradientTransformationExtraArgs(init_fn, update_fn), "composite",
        f"inject_hyperparams({getattr(inner_factory, '__name__', 'factory')})",
        children=(probe,), rebuild=rebuild)

  return wrapped


def inject_stateful_hyperparams(
    inner_factory: Callable[..., base.GradientTransformation],
    static_args: Union[str, Iterable[str]] = (),
    hyperparam_dtype: Optional[jnp.dtype] = None,
) -> Callable[..., base.GradientTransformationExtraArgs]:
  """Deprecated, as in optax 0.2.8: `inject_hyperparams` takes stateful schedules itself."""
  warnings.warn(
      "inject_stateful_hyperparams is deprecated, use inject_hyperparams instead",
      DeprecationWarning,
  )
  return inject_hyperparams(inner_factory, static_args, hyperparam_dtype)


# State fields that only hold a wrapped transform's state: left out of paths.
_TRANSPARENT_FIELDS = frozenset({"inner_state", "inner_states", "inner_opt_state", "fast_state"})


def _walk(state: Any, path: tuple[str, ...], out: list) -> None:
  """Appends `(path, name, value)` for every hyperparameter found in `state`."""
  hps = getattr(state, "hyperparams", None)
  if isinstance(hps, dict) and hasattr(state, "inner_state"):  # inject_hyperparams (jopt or optax)
    out.extend((path, str(k), v) for k, v in hps.items())
    _walk(state.inner_state, path, out)
    return
  out.extend((path, k, v) for k, v in base.declared_hyperparams(state).items())
  fields = getattr(state, "_fields", None)
  if fields is not None:  # a NamedTuple state
    for name in fields:
      sub = path if name in _TRANSPARENT_FIELDS else path + (name,)
      _walk(getattr(state, name), sub, out)
  elif isinstance(state, (tuple, list)):
    for i, s in enumerate(state):
      _walk(s, path + (str(i),), out)
  elif isinstance(state, dict):
    for k, s in state.items():
      _walk(s, path + (str(k),), out)


def hyperparams(opt_state: base.OptState) -> dict[str, jax.Array]:
  """The current hyperparameter values found anywhere in an optimizer state, keyed by path.

  Finds the values stored by `inject_hyperparams` (jopt's or optax's) inside
  any nesting of `chain`, `named_chain`, `multi_transform`, `masked`,
  `MultiSteps`, `apply_if_finite`, `lookahead` and nested `inject_hyperparams`,
  plus what a state class declares in its `jopt_hyperparams` attribute (the
  multiplier `scale` of `reduce_on_plateau`, the `lr` of
  `jopt.torch.reduce_lr_on_plateau`). A name found once is its own key
  (`chain(clip, inject_hyperparams(adam)(...))` gives `{"learning_rate": ...}`);
  a name found several times is keyed by its path, elements joined with "/"
  (the chain index, the `named_chain` name or `multi_transform` label, the
  state field). Works on concrete and traced states (inside `jit`).

  A schedule passed directly to an optimizer (not through
  `inject_hyperparams`) is not stored in the state, so it cannot be read back.

  Args:
    opt_state: an optimizer state.

  Returns:
    A dict `path -> scalar array`.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> tx = jopt.chain(jopt.identity(), jopt.inject_hyperparams(jopt.sgd)(learning_rate=0.1))
    >>> float(jopt.hyperparams(tx.init(jnp.zeros(3)))["learning_rate"])
    0.10000000149011612
  """
  found: list = []
  _walk(opt_state, (), found)
  counts = collections.Counter(name for _, name, _ in found)
  return {
      name if counts[name] == 1 else "/".join(path + (name,)): value
      for path, name, value in found
  }
