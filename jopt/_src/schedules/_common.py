"""Shared pieces of the schedules: build-time argument checks, step arithmetic and interpolation."""

import logging
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jopt._src import checks


def check_steps(fn: str, name: str, value: Any, *, allow_zero: bool) -> None:
  """A step count (`transition_steps`, `warmup_steps`, ...) must be a whole number `> 0` (or `>= 0`).

  A whole float (`10.0`, e.g. a computed `epochs * steps_per_epoch`) is accepted; `2.5` is not.
  """
  checks.check_finite(fn, name, value)
  checks.check_range(fn, name, value, 0.0, None, low_inclusive=allow_zero)
  known = checks.concrete_value(value)
  if known is not None and known.dtype != object and known.shape == () and known != np.floor(known):
    raise ValueError(f"{fn}: `{name}` must be a whole number of steps, got {value!r}.")


_log = logging.getLogger("jopt")


def no_transition(fn: str, name: str, value: Any) -> bool:
  """Whether a known step count `value` (`transition_steps`) is `<= 0`.

  optax documents that case as a constant schedule at the start value (and logs it at
  INFO level); callers then return `constant_schedule(init_value)`. Configs reach it
  with e.g. `warmup_steps=0`.
  """
  checks.check_finite(fn, name, value)
  known = checks.concrete_value(value)
  if known is None or known.shape != () or known.dtype.kind not in "biuf" or known > 0:
    return False
  log_constant(fn, name, value)
  return True


def log_constant(fn: str, name: str, value: Any) -> None:
  """Logs (INFO, logger "jopt") that `name=value` makes `fn` a constant schedule, as optax logs it."""
  _log.info("%s: `%s`=%r gives a constant schedule at the start value.", fn, name, value)


def begin_or_zero(fn: str, name: str, value: Any) -> Any:
  """A known negative `transition_begin` is 0 (optax's documented fallback, logged); else checked."""
  known = checks.concrete_value(value)
  if (known is not None and known.shape == () and known.dtype.kind in "biuf"
      and np.isfinite(known) and known < 0):
    _log.info("%s: `%s`=%r < 0 is taken as 0.", fn, name, value)
    return 0
  check_steps(fn, name, value, allow_zero=True)
  return value


def check_values(fn: str, **values: Any) -> None:
  """The values a schedule moves between (`init_value`, `end_value`, ...) must be finite real scalars."""
  for name, value in values.items():
    checks.check_finite(fn, name, value)


def check_positive(fn: str, name: str, value: Any) -> None:
  """A factor that divides or is raised to a fractional power must be `> 0` and finite."""
  checks.check_range(fn, name, value, 0.0, None, low_inclusive=False, finite=True)


def check_increasing(fn: str, name: str, values: Sequence[Any]) -> None:
  """Known step boundaries must be non-negative and strictly increasing."""
  known = [checks.concrete_value(v) for v in values]
  if any(k is None for k in known):
    return
  for v in values:
    check_steps(fn, name, v, allow_zero=True)
  for a, b in zip(known[:-1], known[1:]):
    if not b > a:
      raise ValueError(
          f"{fn}: `{name}` must be strictly increasing, got {list(values)!r}."
      )


def is_known(value: Any) -> bool:
  """Whether `value` is a Python/NumPy value (not a tracer or schedule)."""
  return checks.concrete_value(value) is not None


def floor_div(count: Any, steps: Any) -> jax.Array:
  """`floor(count / steps)`, exact for integer counts.

  Integer counts use integer division: under `jit`, XLA rewrites a float
  `count / steps` as `count * (1 / steps)`, which can land just below an
  integer (e.g. `97 * (1 / 97) = 0.99999994`) and floor to one less.
  """
  count = jnp.asarray(count)
  known = checks.concrete_value(steps)
  if (jnp.issubdtype(count.dtype, jnp.integer) and known is not None
      and known.shape == () and float(known) == int(known)):
    return count // int(known)
  return jnp.floor(count / steps)


def linear_interpolate(start: Any, end: Any, pct: Any) -> jax.Array:
  """`start + pct * (end - start)`, written as optax writes it so the numbers agree."""
  return (end - start) * pct + start


def cosine_interpolate(start: Any, end: Any, pct: Any) -> jax.Array:
  """Half a cosine from `start` (pct=0) to `end` (pct=1): `end + (start-end)/2 * (1 + cos(pi pct))`."""
  return end + (start - end) / 2.0 * (jnp.cos(jnp.pi * pct) + 1)
