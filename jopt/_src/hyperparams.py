"""Hyperparameter telemetry: `inject_hyperparams` and the reader `hyperparams(opt_state)`."""

import functools
import inspect
from typing import Any, Callable, Iterable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np

from jopt._src import base
from jopt._src import combine
from jopt._src import tree


class InjectHyperparamsState(NamedTuple):
  """State of a transform built by `inject_hyperparams`."""

  count: jax.Array  # shape=(), dtype=int32: the number of updates so far.
  hyperparams: dict[str, jax.Array]  # shape=() each; float32 (or hyperparam_dtype) / int32.
  inner_state: base.OptState  # the wrapped transform's state.


def _is_schedule(fn: Callable[..., Any]) -> bool:
  """Whether `fn` maps an int32 step count to one numeric (non-bool) scalar.

  Decided by abstract evaluation (`jax.eval_shape`, no computation), so a mask
  function, a loss function or any other callable that is not a function of the
  step count is never mistaken for a schedule.
  """
  try:
    out = jax.eval_shape(fn, jax.ShapeDtypeStruct((), jnp.int32))
  except Exception:  # pylint: disable=broad-except
    return False
  if isinstance(out, (bool, np.bool_)):
    return False
  if isinstance(out, (int, float)):
    return True
  shape, dtype = getattr(out, "shape", None), getattr(out, "dtype", None)
  return (
      shape == () and dtype is not None
      and (jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer))
  )


def _is_numeric_array(value: Any) -> bool:
  return (
      isinstance(value, (jax.Array, np.ndarray, np.generic))
      and not isinstance(value, (np.bool_,))
      and (jnp.issubdtype(value.dtype, jnp.floating) or jnp.issubdtype(value.dtype, jnp.integer))
  )


def _as_hyperparam(value: Any, dtype: jnp.dtype) -> jax.Array:
  """A float as a `dtype` array; an integer as an int32 array (never from the params' dtype)."""
  arr = jnp.asarray(value)
  if jnp.issubdtype(arr.dtype, jnp.floating) or isinstance(value, float):
    return jnp.asarray(value, dtype)
  return arr.astype(jnp.int32) if jnp.issubdtype(arr.dtype, jnp.integer) else arr


def inject_hyperparams(
    inner_factory: Callable[..., base.GradientTransformation],
    static_args: Union[str, Iterable[str]] = (),
    hyperparam_dtype: Optional[jnp.dtype] = None,
) -> Callable[..., base.GradientTransformationExtraArgs]:
  """Wraps an optimizer factory so its hyperparameters live in the state and may be schedules.

  `inject_hyperparams(jopt.adam)(learning_rate=sched)` builds a transform whose
  state is `InjectHyperparamsState(count, hyperparams, inner_state)`. At update
  `t` (the first is `t = 0`) every schedule argument is evaluated at `t` and
  the inner optimizer is rebuilt with those values; `state.hyperparams` holds
  the values that update used, so a training loop can log them
  (`jopt.hyperparams(state)` finds them in any nesting).

  How each argument of `inner_factory` is treated:

  * a schedule (a callable that abstractly maps an int32 step to a numeric
    scalar, checked with `jax.eval_shape`): evaluated every step, stored;
  * a numeric array (`jnp`/`np`): stored, and read back from the state every
    step, so it can be changed between steps (`state.hyperparams[k] = v`)
    without recompiling;
  * a Python `int`/`float`: stored for reading, and passed to the inner
    factory as the Python number itself, so the compiled math is exactly the
    unwrapped optimizer's (see below);
  * anything else (bools, None, dtypes, strings, masks, other callables and
    every name in `static_args`): passed through unchanged, never called.

  Float hyperparameters are stored as float32 (or `hyperparam_dtype`), never
  inferred from the params, so bf16 params do not round the learning rate.

  Differs from optax: (1) optax stores every number as an array and recomputes
  e.g. `1 - b1` in float32 from `float32(b1)`, which is not `float32(1 - b1)`:
  every step of `optax.inject_hyperparams(optax.adam)(1e-2)` differs from
  `optax.adam(1e-2)`. jopt's wrapped optimizer is bit-identical to the
  unwrapped one, also for bf16 params: a schedule's value reaches the inner
  optimizer exactly as the unwrapped optimizer would see it (only the stored
  copy is cast to float32), and an array hyperparameter enters as a float32
  array (a float32 array is passed unchanged). To change a
  hyperparameter through the state at run time, pass it as an array, e.g.
  `learning_rate=jnp.asarray(1e-3)`; a Python number is a compile-time
  constant. (2) optax calls every callable argument with the step count, so
  `adamw(..., mask=fn)` silently loses its weight decay unless
  `static_args='mask'`; jopt calls only schedules. (3) optax infers the
  hyperparameter dtype from the params (bf16 params -> bf16 learning rate).

  Args:
    inner_factory: a function returning a `GradientTransformation`, e.g.
      `jopt.adam`.
    static_args: names of arguments never to store or call (a string or an
      iterable of strings); must be parameters of `inner_factory`.
    hyperparam_dtype: dtype of stored float hyperparameters (default float32).

  Returns:
    A function with `inner_factory`'s signature returning a
    `GradientTransformationExtraArgs`.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> tx = jopt.inject_hyperparams(jopt.adam)(learning_rate=lambda t: 0.1 / (1 + t))
    >>> state = tx.init(jnp.zeros(2))
    >>> _, state = tx.update(jnp.ones(2), state)
    >>> jopt.hyperparams(state)["learning_rate"]
    Array(0.1, dtype=float32)
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
  dtype = jnp.float32 if hyperparam_dtype is None else tree.canonicalize_dtype(hyperparam_dtype)

  @functools.wraps(inner_factory)
  def wrapped(*args, **kwargs) -> base.GradientTransformationExtraArgs:
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    static, constants, arrays, schedules = {}, {}, {}, {}
    for name, value in bound.arguments.items():
      if (name in static_args or value is None or isinstance(value, (bool, np.bool_, type))):
        static[name] = value
      elif isinstance(value, (int, float)):
        constants[name] = value
      elif _is_numeric_array(value):
        arrays[name] = value
      elif callable(value) and "mask" not in name and _is_schedule(value):
        schedules[name] = value
      else:
        static[name] = value
    # Building once validates every argument at build time (bad input raises here).
    inner_factory(**static, **constants, **arrays,
                  **{k: v(tree.init_count()) for k, v in schedules.items()})

    def build(dynamic):
      return combine.with_extra_args(inner_factory(**static, **constants, **dynamic))

    def init_fn(params):
      count = tree.init_count()
      dynamic = {k: _as_hyperparam(v, dtype) for k, v in arrays.items()}
      dynamic.update({k: _as_hyperparam(f(count), dtype) for k, f in schedules.items()})
      stored = {k: _as_hyperparam(v, dtype) for k, v in constants.items()}
      return InjectHyperparamsState(
          count=count,
          hyperparams={**stored, **dynamic},
          inner_state=build(dynamic).init(params),
      )

    def update_fn(updates, state, params=None, **extra_args):
      dynamic = {k: _as_hyperparam(state.hyperparams[k], dtype) for k in arrays}
      # The inner optimizer gets each schedule's raw value, exactly as the unwrapped
      # optimizer would (a weak-typed float stays weak); the state stores it as float32.
      scheduled = {k: f(state.count) for k, f in schedules.items()}
      updates, inner_state = build({**dynamic, **scheduled}).update(
          updates, state.inner_state, params, **extra_args
      )
      stored = {k: _as_hyperparam(v, dtype) for k, v in scheduled.items()}
      return updates, InjectHyperparamsState(
          count=tree.safe_increment(state.count),
          hyperparams={**state.hyperparams, **dynamic, **stored},
          inner_state=inner_state,
      )

    return base.GradientTransformationExtraArgs(init_fn, update_fn)

  return wrapped


# State fields that only hold a wrapped transform's state: left out of paths.
_TRANSPARENT_FIELDS = frozenset(
    {"inner_state", "inner_states", "inner_opt_state", "fast_state"}
)


def _walk(state: Any, path: tuple[str, ...], out: dict[str, Any]) -> None:
  hps = getattr(state, "hyperparams", None)
  if isinstance(hps, dict) and hasattr(state, "inner_state"):
    for k, v in hps.items():
      out["/".join(path + (str(k),))] = v
    _walk(state.inner_state, path, out)
    return
  fields = getattr(state, "_fields", None)
  if fields is not None:  # a NamedTuple state
    if {"scale", "best_value", "plateau_count"} <= set(fields):  # reduce_on_plateau
      out["/".join(path + ("scale",))] = state.scale
      return
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
  any nesting of `chain` (path element: the index), `named_chain` and
  `multi_transform` (the name or label), `masked`, `MultiSteps`,
  `apply_if_finite`, `lookahead` and nested `inject_hyperparams`, plus the
  learning-rate multiplier `scale` of `reduce_on_plateau`. Path elements are
  joined with "/"; fields that only wrap an inner state add nothing, so
  `inject_hyperparams(adam)(...)` gives `{"learning_rate": ..., "b1": ...}` and
  `chain(clip, inject_hyperparams(adam)(...))` gives `{"1/learning_rate": ...}`.
  Works on concrete and traced states (inside `jit`).

  A schedule passed directly to an optimizer (not through
  `inject_hyperparams`) is not stored in the state, so it cannot be read back.

  Args:
    opt_state: an optimizer state.

  Returns:
    A dict `path -> scalar array`.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> tx = jopt.chain(jopt.identity(), jopt.inject_hyperparams(jopt.sgd)(learning_rate=0.1))
    >>> float(jopt.hyperparams(tx.init(jnp.zeros(3)))["1/learning_rate"])
    0.10000000149011612
  """
  out: dict[str, Any] = {}
  _walk(opt_state, (), out)
  return out
