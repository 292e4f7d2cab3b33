"""Argument checks that run when a transform is built or traced, never inside the compiled step.

Every check looks only at Python values, tree structures, shapes and dtypes. Values
that are tracers (a hyperparameter passed as a traced `jnp` array, e.g. inside
`vmap` over a sweep, or differentiated by `grad`) cannot be checked at build time
and are skipped, so passing hyperparameters as arrays never forces a recompile and
adds no operation to the compiled step. A schedule is checked once, abstractly
(`check_schedule`). Errors name the public function the user called (`public`),
the argument, the value and what is accepted: a wrong type is a `TypeError`, a
value outside the accepted range (NaN, an inf without a meaning) a `ValueError`.
"""

import collections.abc
import contextvars
import functools
import inspect
import types
import typing
import weakref
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np


def concrete_value(value: Any) -> Optional[np.ndarray]:
  """`value` as a NumPy array if it is known at build time, else `None` (schedules, tracers)."""
  if value is None or callable(value):
    return None
  if isinstance(value, jax.core.Tracer):
    return None
  try:
    return np.asarray(value)
  except (TypeError, ValueError):  # ragged lists and other objects NumPy cannot hold
    return None


_PUBLIC_NAME: contextvars.ContextVar = contextvars.ContextVar("jopt_public_name", default=None)


def public(fn: Callable[..., Any]) -> Callable[..., Any]:
  """Marks a public factory: argument errors raised while it builds name it, not its blocks.

  `adam(-1e-3)` builds `scale_by_learning_rate` inside; with `adam` marked, the error
  reads "adam: `learning_rate` must be ...". The outermost marked call wins.

  The outermost call also checks what its signature says, before the factory runs,
  naming the function and the argument:

  - `None` for an argument whose annotation does not admit it (e.g.
    `b1: ArrayLike = 0.9`; `Optional[...]` and a `None` default admit it, with the
    meaning optax documents) is a `TypeError` (also a `ValueError`: `NoneArgumentError`);
  - an argument annotated `bool` must be a bool (`nesterov="false"` is truthy): else
    a `TypeError`;
  - an argument annotated as a real scalar (`float`, `int`, `ArrayLike`,
    `ScalarOrSchedule`) must be a real scalar, a tracer or a schedule (see
    `check_numeric`: strings, bools, lists, arrays and complex numbers are a
    `TypeError`), and not NaN (a `ValueError`). Ranges, and whether inf has a
    meaning, are checked by each factory.

  Inner calls, made by jopt itself, are not re-checked.
  """
  public_name = _qualified(fn)
  rules = _signature_rules(fn)

  @functools.wraps(fn)
  def wrapper(*args, **kwargs):
    if _PUBLIC_NAME.get() is not None:
      return fn(*args, **kwargs)
    token = _PUBLIC_NAME.set(public_name)
    try:
      if rules is not None:
        _check_signature(public_name, rules, args, kwargs)
      return fn(*args, **kwargs)
    finally:
      _PUBLIC_NAME.reset(token)

  return wrapper


_NONE_TYPES = (type(None), Any, object, inspect.Parameter.empty)


def _admits_none(annotation: Any) -> bool:
  if annotation in _NONE_TYPES or isinstance(annotation, (str, typing.TypeVar)):
    return True  # unknown or unconstrained: never reject None on its account
  if typing.get_origin(annotation) in (typing.Union, types.UnionType):
    return any(_admits_none(a) for a in typing.get_args(annotation))
  return False


def _is_tree(annotation: Any) -> bool:
  """Whether `annotation` is a pytree type (`Params`, `Updates`): `None` is an empty tree there."""
  args = typing.get_args(annotation) if typing.get_origin(annotation) in (
      typing.Union, types.UnionType) else (annotation,)
  return any(typing.get_origin(a) in (collections.abc.Iterable, collections.abc.Mapping)
             for a in args)


_SCALAR_TYPES = (float, int, complex, bool, np.bool_, np.number, np.ndarray, jax.Array)


def _is_number(name: str, annotation: Any) -> bool:
  """Whether the annotation is a real scalar (`float`, `int`, `ArrayLike`, `ScalarOrSchedule`)."""
  if name in ("key", "seed"):  # PRNG keys are arrays
    return False
  args = typing.get_args(annotation) if typing.get_origin(annotation) in (
      typing.Union, types.UnionType) else (annotation,)
  args = [a for a in args if a is not type(None)]
  return any(a in (float, int) for a in args) and all(
      a in _SCALAR_TYPES or typing.get_origin(a) is collections.abc.Callable for a in args)


def _signature_rules(fn: Callable[..., Any]) -> Optional[tuple[inspect.Signature, dict[str, str]]]:
  """The signature of `fn` and, per checked argument, its rule: "bool", "number",
  "required_number" (a number that must not be None) or "not_none"."""
  try:
    sig = inspect.signature(fn)
  except (TypeError, ValueError):
    return None
  rules = {}
  for p in sig.parameters.values():
    if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
      continue
    if p.annotation is bool:
      rules[p.name] = "bool"
      continue
    none_ok = p.default is None or _admits_none(p.annotation) or (
        p.default is p.empty and _is_tree(p.annotation))
    if _is_number(p.name, p.annotation):
      rules[p.name] = "number" if none_ok else "required_number"
    elif not none_ok:
      rules[p.name] = "not_none"
  return (sig, rules) if rules else None


def _check_signature(fn: str, rules: tuple[inspect.Signature, dict[str, str]], args, kwargs) -> None:
  sig, checked = rules
  try:
    bound = sig.bind(*args, **kwargs)
  except TypeError:
    return  # a missing or unknown argument: the call itself raises Python's own message
  for name, value in bound.arguments.items():
    rule = checked.get(name)
    if rule == "bool":
      check_bool(fn, name, value)
    elif rule in ("number", "required_number") and value is not None:
      arr = check_numeric(fn, name, value)
      if arr is not None and np.isnan(arr):
        raise ValueError(f"{fn}: `{name}` must be a number, got NaN.")
    elif rule in ("not_none", "required_number") and value is None:
      raise NoneArgumentError(
          f"{fn}: `{name}` must not be None (it has no meaning here): pass a value, or leave it "
          f"out for the default{_default_text(sig.parameters[name])}."
      )


class NoneArgumentError(TypeError, ValueError):
  """`None` for an argument that has no `None` meaning: a `TypeError`, and a `ValueError`
  as optax raises for some of them (e.g. `piecewise_interpolate_schedule(None, ...)`)."""


def _default_text(param: inspect.Parameter) -> str:
  if param.default is inspect.Parameter.empty:
    return " (there is none: it is required)"
  return f" {param.default!r}"


# Public namespaces whose names would be ambiguous without their prefix (`adam` is in several).
_NAMESPACES = {
    "jopt._src.torch.": "jopt.torch.", "jopt._src.keras.": "jopt.keras.",
    "jopt._src.hf.": "jopt.transformers.",
}


def _qualified(fn: Callable[..., Any]) -> str:
  module = getattr(fn, "__module__", "") or ""
  for prefix, public_prefix in _NAMESPACES.items():
    if module.startswith(prefix):
      return public_prefix + fn.__name__
  return fn.__name__


def _name(fn: str) -> str:
  """The name to put in an error: the public function the user called, else `fn`."""
  return _PUBLIC_NAME.get() or fn


def _describe(value: Any) -> str:
  return f"{value!r} ({type(value).__name__})"


def _default_float() -> np.dtype:
  """The dtype a Python float becomes in JAX: float32, or float64 with `jax_enable_x64`."""
  return np.dtype(jax.dtypes.canonicalize_dtype(np.float64))


def check_numeric(
    fn: str, name: str, value: Any, *, required: bool = False
) -> Optional[np.ndarray]:
  """Raises a `TypeError` naming `fn` and `name` unless `value` is a real number, a scalar array,
  a schedule or a tracer; returns the known value as a NumPy array, or `None`.

  Strings, bools, lists and non-scalar arrays are rejected here, at build time, instead of
  failing later inside NumPy (`ufunc 'isnan' not supported`) or inside the jitted step.
  `None` means "not given" (an optional argument) unless `required`, where it is a `TypeError`.
  A schedule is checked once, abstractly, to return a real scalar (see `check_schedule`).
  """
  if value is None:
    if required:
      raise TypeError(
          f"{_name(fn)}: `{name}` is required: a real number or a schedule, got None."
      )
    return None
  if isinstance(value, jax.core.Tracer):
    return None  # known only at run time
  if callable(value):
    check_schedule(fn, name, value)
    return None
  if isinstance(value, (bool, np.bool_)) or isinstance(value, (str, bytes)):
    raise TypeError(
        f"{_name(fn)}: `{name}` must be a real number or a schedule, got {_describe(value)}."
    )
  arr = concrete_value(value)
  real = arr is not None and arr.dtype != object and (
      jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer))
  if not real:
    if arr is not None and arr.dtype != object and jnp.issubdtype(arr.dtype, jnp.complexfloating):
      raise TypeError(f"{_name(fn)}: `{name}` must be real, got {value!r}.")
    raise TypeError(
        f"{_name(fn)}: `{name}` must be a real number or a schedule, got {_describe(value)}."
    )
  if arr.shape != ():
    raise TypeError(
        f"{_name(fn)}: `{name}` must be a scalar (a number, a 0-d array or a schedule), got an array "
        f"of shape {arr.shape}."
    )
  return arr


# Schedules already checked (weakly held: a schedule built per call is not kept alive).
_CHECKED_SCHEDULES: "weakref.WeakSet[Any]" = weakref.WeakSet()

# What a schedule with Python control flow on the count raises when traced: it works only
# eagerly, as in optax, so it cannot be checked abstractly and is let through.
_TRACER_ERRORS = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerBoolConversionError,
    jax.errors.TracerIntegerConversionError,
    jax.errors.TracerArrayConversionError,
)


def check_schedule(fn: str, name: str, schedule: Callable[..., Any]) -> None:
  """Checks once, at build time, that `schedule(count)` returns a real scalar, finite at count 0.

  The shape and dtype come from `jax.eval_shape` (no computation); the value at
  count 0 is computed once (a few scalar operations). A schedule that fails when
  called with a step count has its error re-raised naming `fn` and `name`. A
  schedule that closes over traced values, or branches in Python on the count,
  is checked for what can be known and otherwise let through.

  Raises:
    TypeError: the schedule cannot be called with a count, or returns a non-scalar
      or non-real value.
    ValueError: the schedule returns NaN or ±inf at count 0.
  """
  if hasattr(schedule, "init") and hasattr(schedule, "update"):
    return  # a stateful schedule (`inject_stateful_hyperparams`): called with a state, not a count
  try:
    if schedule in _CHECKED_SCHEDULES:
      return
  except TypeError:  # unhashable callables are checked every time
    pass
  what = f"{_name(fn)}: `{name}` is a schedule (a function of the step count)"
  count = jax.ShapeDtypeStruct((), jnp.int32)
  try:
    out = jax.eval_shape(schedule, count)
  except _TRACER_ERRORS:
    return
  except (TypeError, ValueError, IndexError, KeyError, AttributeError, ArithmeticError) as e:
    kind = TypeError if isinstance(e, (TypeError, AttributeError)) else ValueError
    raise kind(f"{what} that fails when called with a count: {type(e).__name__}: {e}") from e
  leaves = jax.tree.leaves(out)
  if len(leaves) != 1 or not hasattr(leaves[0], "shape") or tuple(leaves[0].shape) != () or not (
      jnp.issubdtype(leaves[0].dtype, jnp.floating) or jnp.issubdtype(leaves[0].dtype, jnp.integer)):
    got = ", ".join(f"{getattr(x, 'dtype', type(x).__name__)}{list(getattr(x, 'shape', ()))}"
                    for x in leaves) or repr(out)
    raise TypeError(f"{what} that must return a real scalar; it returns {got}.")
  try:
    with jax.ensure_compile_time_eval():
      first = schedule(jnp.zeros((), jnp.int32))
  except _TRACER_ERRORS:
    first = None
  known = concrete_value(first)
  if known is not None and known.dtype != object and not np.all(np.isfinite(known)):
    raise ValueError(f"{what} that returns {known.item()!r} at count 0; it must be finite.")
  try:
    _CHECKED_SCHEDULES.add(schedule)
  except TypeError:
    pass


def check_range(
    fn: str,
    name: str,
    value: Any,
    low: Optional[float] = None,
    high: Optional[float] = None,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    finite: bool = False,
    required: bool = False,
) -> None:
  """Raises `ValueError` naming `fn` and `name` if a known `value` is outside the range.

  Args:
    fn: the public function being built, e.g. ``"adam"``.
    name: the argument's name, e.g. ``"b1"``.
    value: the value to check; schedules and tracers are skipped.
    low: lower bound, or None for no bound.
    high: upper bound, or None for no bound.
    low_inclusive: whether `low` itself is allowed.
    high_inclusive: whether `high` itself is allowed.
    finite: also reject ±inf, and values that overflow to inf in JAX's default float
      dtype (`1e300` is inf in float32). Leave False only where inf has a meaning
      (a threshold or bound that inf disables).
    required: reject `None` with a `TypeError` (else `None` means "not given").
  """
  arr = check_numeric(fn, name, value, required=required)
  if arr is None:
    return
  bad = np.isnan(arr)
  if low is not None:
    bad |= (arr < low) if low_inclusive else (arr <= low)
  if high is not None:
    bad |= (arr > high) if high_inclusive else (arr >= high)
  if np.any(bad):
    lo = "(-inf" if low is None else ("[" if low_inclusive else "(") + f"{low:g}"
    hi = "inf)" if high is None else f"{high:g}" + ("]" if high_inclusive else ")")
    raise ValueError(
        f"{_name(fn)}: `{name}` must be in {lo}, {hi}, got {value!r}."
    )
  if finite:
    _check_finite_value(fn, name, value, arr)


def _check_finite_value(fn: str, name: str, value: Any, arr: np.ndarray) -> None:
  if not np.all(np.isfinite(arr)):
    raise ValueError(f"{_name(fn)}: `{name}` must be finite, got {value!r}.")
  dtype = _default_float()
  if jnp.issubdtype(arr.dtype, jnp.floating) and arr.dtype.itemsize > dtype.itemsize:
    with np.errstate(over="ignore"):
      cast = arr.astype(dtype)
    if not np.all(np.isfinite(cast)):
      raise ValueError(
          f"{_name(fn)}: `{name}` must be finite, got {value!r}, which is inf in {dtype.name} "
          f"(JAX's default float; the largest is {np.finfo(dtype).max:.3g})."
      )


def check_nonnegative(
    fn: str, name: str, value: Any, *, finite: bool = True, required: bool = False
) -> None:
  """`0 <= value < inf` (learning rates, eps, weight decay, coefficients).

  Pass `finite=False` for a threshold or an upper bound, where inf means "no limit"
  (`clip_by_global_norm(max_norm=inf)` never clips).
  """
  check_range(fn, name, value, 0.0, None, finite=finite, required=required)


def check_decay(fn: str, name: str, value: Any, *, required: bool = False) -> None:
  """`0 <= value < 1` (b1, b2, decay, momentum)."""
  check_range(fn, name, value, 0.0, 1.0, high_inclusive=False, required=required)


def check_int(fn: str, name: str, value: Any, low: int = 1) -> int:
  """A Python (or NumPy) integer `>= low` (block sizes, step counts, patience, dimensions); returns it as an `int`.

  A non-number is a `TypeError`; a number that is not an integer (`2.5`, `2.0`, `True`) or is below
  `low` is a `ValueError`: a count that is not an integer is a bug.
  """
  what = {0: "a non-negative integer", 1: "a positive integer"}.get(low, f"an integer >= {low}")
  if isinstance(value, (str, bytes)) or value is None:
    raise TypeError(f"{_name(fn)}: `{name}` must be {what}, got {_describe(value)}.")
  if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < low:
    raise ValueError(f"{_name(fn)}: `{name}` must be {what}, got {_describe(value)}.")
  return int(value)


def check_positive_int(fn: str, name: str, value: Any) -> None:
  """A Python integer `>= 1` (block sizes, step counts, dimensions)."""
  check_int(fn, name, value, 1)


def check_bool(fn: str, name: str, value: Any) -> None:
  """A bool (flags such as `nesterov`): the string "false" is truthy, so it is rejected.

  Python and NumPy bools pass, and so do 0-d boolean arrays and tracers.
  """
  if isinstance(value, (bool, np.bool_)):
    return
  dtype = getattr(value, "dtype", None)
  if dtype is not None and getattr(value, "shape", None) == () and jnp.issubdtype(dtype, jnp.bool_):
    return
  raise TypeError(f"{_name(fn)}: `{name}` must be True or False, got {_describe(value)}.")


def check_key(fn: str, name: str, key: Any) -> None:
  """`None`, an integer seed, or a PRNG key (typed, or raw `uint32` data); else a `TypeError`.

  A float, a bool or a string seed would fail only at `init`, inside JAX.
  """
  if key is None or isinstance(key, jax.core.Tracer):
    return
  if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
    return
  dtype = getattr(key, "dtype", None)
  if dtype is not None and (jnp.issubdtype(dtype, jax.dtypes.prng_key) or (
      dtype == np.uint32 and np.ndim(key) >= 1) or (
      jnp.issubdtype(dtype, jnp.integer) and np.shape(key) == ())):
    return
  raise TypeError(
      f"{_name(fn)}: `{name}` must be an integer seed or a PRNG key (`jax.random.key(0)`), "
      f"got {_describe(key)}."
  )


def check_axis(fn: str, name: str, axis: Any) -> None:
  """`None`, an int or a sequence of ints (reduction axes); else a `TypeError`."""
  if axis is None or (isinstance(axis, (int, np.integer)) and not isinstance(axis, (bool, np.bool_))):
    return
  if isinstance(axis, (tuple, list)) and all(
      isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_)) for a in axis):
    return
  raise TypeError(
      f"{_name(fn)}: `{name}` must be None, an int or a sequence of ints, got {_describe(axis)}."
  )


def check_finite(fn: str, name: str, value: Any) -> None:
  """A known `value` must be a real scalar, finite in JAX's default float dtype."""
  arr = check_numeric(fn, name, value)
  if arr is not None:
    _check_finite_value(fn, name, value, arr)


def require_params(fn: str, params: Any) -> None:
  """Raises a `ValueError` if a transform that needs `params` got none."""
  if params is None:
    raise ValueError(
        f"{_name(fn)} needs the current parameters: call `update(updates, state, params)`."
    )


def _first_difference(a: Any, b: Any) -> str:
  """The first path at which trees `a` and `b` differ, in words."""
  a_paths = dict(jax.tree_util.tree_flatten_with_path(a)[0])
  b_paths = dict(jax.tree_util.tree_flatten_with_path(b)[0])
  for path in a_paths:
    if path not in b_paths:
      return f"`{jax.tree_util.keystr(path)}` is in the updates but not in the {{what}}"
  for path in b_paths:
    if path not in a_paths:
      return f"`{jax.tree_util.keystr(path)}` is in the {{what}} but not in the updates"
  return "the two trees have the same leaves in a different container structure"


def check_same_structure(
    fn: str, updates: Any, other: Any, what: str = "state", shapes: bool = False
) -> None:
  """Raises a `ValueError` naming the first path where `updates` and `other` differ.

  Compares tree definitions in Python at trace time; costs nothing in the compiled
  step. With `shapes=True` (where `other` holds one leaf per param, of the param's
  shape: params, moments), also every leaf's shape, so a gradient of shape (3, 4) for
  a param of shape (4,) is a `ValueError` instead of a silent broadcast, and its kind
  of dtype: an integer or boolean update for a floating leaf, or a floating update for
  an integer leaf (integer params, or state built from them), is a `TypeError`
  instead of a silent truncation.
  """
  u_leaves, u_def = jax.tree.flatten(updates)
  o_leaves, o_def = jax.tree.flatten(other)
  if u_def != o_def:
    where = _first_difference(updates, other).format(what=what)
    raise ValueError(
        f"{_name(fn)}: the updates tree does not match the {what} tree: {where}. "
        f"Was the optimizer state initialised with different parameters?"
    )
  if not shapes:
    return
  for i, (u, o) in enumerate(zip(u_leaves, o_leaves)):
    if np.shape(u) != np.shape(o):
      raise ValueError(
          f"{_name(fn)}: the update at `{_path(updates, i)}` has shape {np.shape(u)} but "
          f"the {what} leaf there has shape {np.shape(o)}; jopt never broadcasts one to the other."
      )
    u_kind, o_kind = _kind(u), _kind(o)
    if u_kind != o_kind and "int" in (u_kind, o_kind) and "other" not in (u_kind, o_kind):
      if o_kind == "int":
        fix = ("an optimizer never truncates an update to integers: make the parameter floating, "
               "or keep it out of the optimizer (`jopt.masked`, or `set_to_zero` in `multi_transform`)")
      else:
        fix = "gradients of floating parameters must be floating"
      raise TypeError(
          f"{_name(fn)}: the update at `{_path(updates, i)}` has dtype {jnp.result_type(u)} but "
          f"the {what} leaf there has dtype {jnp.result_type(o)}; {fix}."
      )


def _kind(x: Any) -> str:
  """"int" (integers and bools), "inexact" (floats, complex) or "other" (float0, ...)."""
  try:
    dtype = jnp.result_type(x)
  except TypeError:
    return "other"
  if jnp.issubdtype(dtype, jnp.inexact):
    return "inexact"
  if jnp.issubdtype(dtype, jnp.integer) or jnp.issubdtype(dtype, jnp.bool_):
    return "int"
  return "other"


def _path(tree: Any, index: int) -> str:
  """The key path of the `index`-th leaf of `tree` (computed only for an error message)."""
  return jax.tree_util.keystr(jax.tree_util.tree_flatten_with_path(tree)[0][index][0])


def check_representable(fn: str, values: dict[str, Any], *trees: Any) -> None:
  """Raises `ValueError` if every positive stabilizer in `values` rounds to 0 in the dtype of the
  computation: the result dtype of the corresponding leaves of `trees` (e.g. `mu` and `nu`).

  `eps=1e-8` is 0 in float16 (whose smallest positive value is 6e-8), so an Adam step
  on a zero gradient would divide 0 by 0. Runs at trace time on dtypes only.

  Args:
    fn: the transform, for the message.
    values: the stabilizers, e.g. ``{"eps": eps, "eps_root": eps_root}``; unknown
      (traced, scheduled) or zero values are not checked.
    *trees: trees of the same structure whose leaf dtypes combine into the
      dtype the stabilizers are added in.
  """
  known = {}
  for name, value in values.items():
    arr = concrete_value(value)
    if arr is None or arr.dtype == object or arr.shape != ():
      return  # unknown: cannot tell
    if arr > 0:
      known[name] = arr
  if not known or not trees:
    return
  leaves = [jax.tree.leaves(t) for t in trees]
  seen = set()
  for i, group in enumerate(zip(*leaves)):
    try:
      dtype = jnp.result_type(*group)
    except TypeError:
      continue
    if dtype in seen or not jnp.issubdtype(dtype, jnp.floating):
      continue
    seen.add(dtype)
    if all(np.asarray(v, dtype) == 0 for v in known.values()):
      names = " and ".join(f"`{n}`={float(v):g}" for n, v in known.items())
      tiny = float(np.finfo(dtype).smallest_subnormal)
      raise ValueError(
          f"{_name(fn)}: {names} round{'s' if len(known) == 1 else ''} to 0 in {dtype.name} (the "
          f"dtype of the moments at `{_path(trees[0], i)}`), so a zero gradient would give 0/0 = NaN; "
          f"pass a stabilizer >= {tiny:.2g} (e.g. 1e-4 for {dtype.name}), or keep the moments in "
          f"float32 (float32 params, or `mu_dtype`/`nu_dtype` where the transform takes them)."
      )


def check_params_structure(fn: str, updates: Any, params: Any) -> None:
  """When `params` is given, its tree and leaf shapes must be the updates' (stateless transforms)."""
  if params is not None:
    check_same_structure(fn, updates, params, "params", shapes=True)


# --- helpers for the framework namespaces (jopt.keras, jopt.transformers, jopt.torch) and the losses ---


def check_choice(fn: str, name: str, value: Any, choices: "collections.abc.Sequence[str]") -> str:
  """One of the strings `choices` (a mode such as "min"/"max"); returns it.

  A non-string is a `TypeError` and an unknown string a `ValueError`, both listing the choices.
  """
  listed = ", ".join(repr(c) for c in choices)
  if not isinstance(value, str):
    raise TypeError(f"{_name(fn)}: `{name}` must be one of {listed}, got {_describe(value)}.")
  if value not in choices:
    raise ValueError(f"{_name(fn)}: `{name}` must be one of {listed}, got {value!r}.")
  return value


def check_sequence(fn: str, name: str, value: Any, length: Optional[int] = None) -> list:
  """A list, tuple or 1-d array (`milestones`, `betas`); returns its items as a list.

  A string, a scalar, a mapping or `None` is a `TypeError`; a wrong `length` a `ValueError`.
  """
  ok = isinstance(value, (list, tuple)) or (isinstance(value, (np.ndarray, jax.Array))
                                            and np.ndim(value) == 1)
  if not ok:
    what = "a pair" if length == 2 else (f"a sequence of {length}" if length else "a list or tuple")
    raise TypeError(f"{_name(fn)}: `{name}` must be {what}, got {_describe(value)}.")
  items = list(value)
  if length is not None and len(items) != length:
    raise ValueError(
        f"{_name(fn)}: `{name}` must have {length} elements, got {len(items)}: {value!r}.")
  return items


def check_whole(fn: str, name: str, value: Any, low: Optional[int] = 0) -> int:
  """A whole number `>= low` (an int, or a float such as `3.0`) below 2**31 (an int32 step count)
  as an `int`; `2.5`, NaN, inf or a bool is a `ValueError`, a non-number a `TypeError`."""
  if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
    whole = int(value)
  else:
    arr = check_numeric(fn, name, value, required=True)
    if arr is None:
      raise TypeError(f"{_name(fn)}: `{name}` must be a whole number known when the schedule is "
                      f"built, got {_describe(value)}.")
    if not np.isfinite(arr) or float(arr) != np.floor(arr):
      raise ValueError(f"{_name(fn)}: `{name}` must be a whole number, got {value!r}.")
    whole = int(arr)
  if low is not None and whole < low:
    raise ValueError(f"{_name(fn)}: `{name}` must be >= {low}, got {value!r}.")
  if whole > np.iinfo(np.int32).max:
    raise ValueError(f"{_name(fn)}: `{name}` must be a step count below 2**31 (step counts are "
                     f"int32), got {value!r}.")
  return whole


def check_function(fn: str, name: str, value: Any, *, at: Any = 0, dtype: Any = jnp.int32) -> None:
  """A callable returning a real scalar, finite at `at` (`lr_lambda`, `scale_fn`); else a
  `TypeError` (not callable, not a scalar) or a `ValueError` (NaN or inf at `at`).

  Checked once, abstractly (`jax.eval_shape`) and with one evaluation at `at`; a function that
  branches in Python on its traced argument is let through, as by `check_schedule`.
  """
  if not callable(value) or isinstance(value, type):
    raise TypeError(f"{_name(fn)}: `{name}` must be a function, got {_describe(value)}.")
  what = f"{_name(fn)}: `{name}`"
  try:
    out = jax.eval_shape(value, jax.ShapeDtypeStruct((), dtype))
  except _TRACER_ERRORS:
    return
  except (TypeError, ValueError, IndexError, KeyError, AttributeError, ArithmeticError) as e:
    kind = TypeError if isinstance(e, (TypeError, AttributeError)) else ValueError
    raise kind(f"{what} fails when called with a traced scalar: {type(e).__name__}: {e}") from e
  leaves = jax.tree.leaves(out)
  if len(leaves) != 1 or tuple(getattr(leaves[0], "shape", (None,))) != () or not (
      jnp.issubdtype(leaves[0].dtype, jnp.floating) or jnp.issubdtype(leaves[0].dtype, jnp.integer)):
    got = ", ".join(f"{getattr(x, 'dtype', type(x).__name__)}{list(getattr(x, 'shape', ()))}"
                    for x in leaves) or repr(out)
    raise TypeError(f"{what} must return a real scalar; it returns {got}.")
  try:
    with jax.ensure_compile_time_eval():
      first = value(jnp.asarray(at, dtype))
  except _TRACER_ERRORS:
    return
  known = concrete_value(first)
  if known is not None and known.dtype != object and not np.all(np.isfinite(known)):
    raise ValueError(f"{what} returns {known.item()!r} at {at!r}; it must be finite.")
