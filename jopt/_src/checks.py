"""Argument checks that run when a transform is built or traced, never inside the compiled step.

Every check looks only at Python values and tree structures. Values that are
tracers (a hyperparameter passed as a traced `jnp` array, e.g. inside `vmap` over
a sweep) or callables (schedules) cannot be checked at build time and are
skipped, so passing hyperparameters as arrays never forces a recompile.
"""

import contextvars
import functools
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
  """

  @functools.wraps(fn)
  def wrapper(*args, **kwargs):
    if _PUBLIC_NAME.get() is not None:
      return fn(*args, **kwargs)
    token = _PUBLIC_NAME.set(_qualified(fn))
    try:
      return fn(*args, **kwargs)
    finally:
      _PUBLIC_NAME.reset(token)

  return wrapper


# Public namespaces whose names would be ambiguous without their prefix (`adam` is in several).
_NAMESPACES = {
    "jopt._src.torch.": "jopt.torch.", "jopt._src.keras.": "jopt.keras.",
    "jopt._src.hf.": "jopt.transformers.", "jopt._src.contrib.": "jopt.contrib.",
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


def check_numeric(fn: str, name: str, value: Any) -> Optional[np.ndarray]:
  """Raises a `TypeError` naming `fn` and `name` unless `value` is a real number, a scalar array,
  a schedule, a tracer or `None` (not given); returns the known value as a NumPy array, or `None`.

  Strings, bools, `None`, lists and non-scalar arrays are rejected here, at build time, instead of
  failing later inside NumPy (`ufunc 'isnan' not supported`) or inside the jitted step.
  """
  if value is None or callable(value) or isinstance(value, jax.core.Tracer):
    return None  # not given (optional arguments), or known only at run time
  if isinstance(value, (bool, np.bool_)) or isinstance(value, (str, bytes)):
    raise TypeError(
        f"{_name(fn)}: `{name}` must be a real number or a schedule, got {_describe(value)}."
    )
  arr = concrete_value(value)
  real = arr is not None and arr.dtype != object and (
      jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer))
  if not real:
    if arr is not None and arr.dtype != object and jnp.issubdtype(arr.dtype, jnp.complexfloating):
      raise ValueError(f"{_name(fn)}: `{name}` must be real, got {value!r}.")
    raise TypeError(
        f"{_name(fn)}: `{name}` must be a real number or a schedule, got {_describe(value)}."
    )
  if arr.shape != ():
    raise TypeError(
        f"{_name(fn)}: `{name}` must be a scalar (a number, a 0-d array or a schedule), got an array "
        f"of shape {arr.shape}."
    )
  return arr


def check_range(
    fn: str,
    name: str,
    value: Any,
    low: Optional[float] = None,
    high: Optional[float] = None,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
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
  """
  arr = check_numeric(fn, name, value)
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


def check_nonnegative(fn: str, name: str, value: Any) -> None:
  """`value >= 0` (learning rates, eps, weight decay)."""
  check_range(fn, name, value, 0.0, None)


def check_decay(fn: str, name: str, value: Any) -> None:
  """`0 <= value < 1` (b1, b2, decay, momentum)."""
  check_range(fn, name, value, 0.0, 1.0, high_inclusive=False)


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
  """A Python bool (flags such as `nesterov`): the string "false" is truthy, so it is rejected."""
  if not isinstance(value, (bool, np.bool_)):
    raise TypeError(f"{_name(fn)}: `{name}` must be True or False, got {_describe(value)}.")


def check_finite(fn: str, name: str, value: Any) -> None:
  """A known `value` must be finite."""
  arr = concrete_value(value)
  if arr is not None and arr.dtype != object and not np.all(np.isfinite(arr)):
    raise ValueError(f"{_name(fn)}: `{name}` must be finite, got {value!r}.")


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

  Compares tree definitions (and, with `shapes=True`, the shape of every leaf, so a
  gradient of shape (3, 4) for a param of shape (4,) is never silently broadcast) in
  Python at trace time; costs nothing in the compiled step.
  """
  u_def = jax.tree.structure(updates)
  o_def = jax.tree.structure(other)
  if u_def != o_def:
    where = _first_difference(updates, other).format(what=what)
    raise ValueError(
        f"{_name(fn)}: the updates tree does not match the {what} tree: {where}. "
        f"Was the optimizer state initialised with different parameters?"
    )
  if shapes:
    pairs = zip(jax.tree_util.tree_flatten_with_path(updates)[0], jax.tree.leaves(other))
    for (path, u), o in pairs:
      if u is None or o is None:
        continue
      if np.shape(u) != np.shape(o):
        raise ValueError(
            f"{_name(fn)}: the update at `{jax.tree_util.keystr(path)}` has shape {np.shape(u)} but "
            f"the {what} there has shape {np.shape(o)}; jopt never broadcasts one to the other."
        )


def check_params_structure(fn: str, updates: Any, params: Any) -> None:
  """When `params` is given, its tree and leaf shapes must be the updates' (stateless transforms)."""
  if params is not None:
    check_same_structure(fn, updates, params, "params", shapes=True)

