"""Argument checks that run when a transform is built or traced, never inside the compiled step.

Every check looks only at Python values and tree structures. Values that are
tracers (a hyperparameter passed as a traced `jnp` array, e.g. inside `vmap` over
a sweep) or callables (schedules) cannot be checked at build time and are
skipped, so passing hyperparameters as arrays never forces a recompile.
"""

from typing import Any, Optional

import jax
import numpy as np


def concrete_value(value: Any) -> Optional[np.ndarray]:
  """`value` as a NumPy array if it is known at build time, else `None`."""
  if value is None or callable(value):
    return None
  if isinstance(value, jax.core.Tracer):
    return None
  try:
    return np.asarray(value)
  except Exception:  # pylint: disable=broad-except
    return None


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
  arr = concrete_value(value)
  if arr is None or arr.dtype == object:
    return
  if np.iscomplexobj(arr):
    raise ValueError(f"{fn}: `{name}` must be real, got {value!r}.")
  bad = np.isnan(arr)
  if low is not None:
    bad |= (arr < low) if low_inclusive else (arr <= low)
  if high is not None:
    bad |= (arr > high) if high_inclusive else (arr >= high)
  if np.any(bad):
    lo = "(-inf" if low is None else ("[" if low_inclusive else "(") + f"{low:g}"
    hi = "inf)" if high is None else f"{high:g}" + ("]" if high_inclusive else ")")
    raise ValueError(
        f"{fn}: `{name}` must be in {lo}, {hi}, got {value!r}."
    )


def check_nonnegative(fn: str, name: str, value: Any) -> None:
  """`value >= 0` (learning rates, eps, weight decay)."""
  check_range(fn, name, value, 0.0, None)


def check_decay(fn: str, name: str, value: Any) -> None:
  """`0 <= value < 1` (b1, b2, decay, momentum)."""
  check_range(fn, name, value, 0.0, 1.0, high_inclusive=False)


def check_positive_int(fn: str, name: str, value: Any) -> None:
  """A Python integer `>= 1` (block sizes, step counts, dimensions)."""
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise ValueError(f"{fn}: `{name}` must be a positive integer, got {value!r}.")
  if value < 1:
    raise ValueError(f"{fn}: `{name}` must be >= 1, got {value!r}.")


def check_finite(fn: str, name: str, value: Any) -> None:
  """A known `value` must be finite."""
  arr = concrete_value(value)
  if arr is not None and arr.dtype != object and not np.all(np.isfinite(arr)):
    raise ValueError(f"{fn}: `{name}` must be finite, got {value!r}.")


def require_params(fn: str, params: Any) -> None:
  """Raises a `ValueError` if a transform that needs `params` got none."""
  if params is None:
    raise ValueError(
        f"{fn} needs the current parameters: call `update(updates, state, params)`."
    )


def check_same_structure(fn: str, updates: Any, other: Any, what: str = "state") -> None:
  """Raises a `ValueError` if `updates` and `other` are not trees of the same structure.

  Compares tree definitions in Python at trace time; costs nothing in the
  compiled step.
  """
  u_def = jax.tree.structure(updates)
  o_def = jax.tree.structure(other)
  if u_def != o_def:
    raise ValueError(
        f"{fn}: the updates tree does not match the {what} tree.\n"
        f"  updates: {u_def}\n  {what}: {o_def}\n"
        f"Was the optimizer state initialised with different parameters?"
    )

