"""The objective inside a linesearch: routing extra arguments to it, reusing its last value and gradient."""

import inspect
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics


def check_step_count(fn: str, name: str, value: Any) -> None:
  """A linesearch's evaluation budget: a whole number >= 0 (int, whole float or array; tracers pass)."""
  checks.check_range(fn, name, value, 0.0, None)
  known = checks.concrete_value(value)
  if known is not None and np.isfinite(known) and float(known) != np.floor(float(known)):
    raise ValueError(f"{fn}: `{name}` must be a whole number of steps, got {value!r}.")


def split_objective_kwargs(fn: str, value_fn: Callable[..., Any], extra_args: dict) -> dict:
  """The keyword arguments of `extra_args` that `value_fn` takes (data batches, targets ...).

  A linesearch's `update` receives every extra argument of a `chain`; those that
  `value_fn` names are passed to it. If `value_fn` takes `**kwargs` every extra
  argument goes to it. Any other extra argument is an error: it was meant for
  the objective but would be silently dropped.

  Args:
    fn: the public name of the linesearch, for the error message.
    value_fn: the objective `value_fn(params, **kwargs) -> scalar`.
    extra_args: the extra keyword arguments given to `update`.

  Returns:
    The dict of keyword arguments for `value_fn`.
  """
  try:
    parameters = inspect.signature(value_fn).parameters
  except (TypeError, ValueError):  # builtins and some C callables have no signature
    return dict(extra_args)
  if any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
    return dict(extra_args)
  names = {n for n, p in parameters.items() if p.kind != p.POSITIONAL_ONLY}
  unused = sorted(k for k in extra_args if k not in names)
  if unused:
    raise TypeError(
        f"{fn}.update: Unexpected keyword arguments {unused}: they are not parameters of "
        f"`value_fn` (which takes {sorted(parameters)}); pass only arguments the objective accepts."
    )
  return dict(extra_args)


def _is_namedtuple(x: Any) -> bool:
  return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _find_fields(state: Any, name: str) -> list:
  """Every value stored in a NamedTuple field called `name` anywhere in `state`.

  Only NamedTuple fields (optimizer states) are searched, and a matched value is
  not searched further, so parameter trees kept in a state (whose dict keys may
  well be "value" or "grad") never match.
  """
  found = []
  if _is_namedtuple(state):
    for field, value in zip(state._fields, state):
      if field == name:
        found.append(value)
      else:
        found += _find_fields(value, name)
  elif isinstance(state, (tuple, list)):
    for value in state:
      found += _find_fields(value, name)
  elif isinstance(state, dict):
    for value in state.values():
      found += _find_fields(value, name)
  return found


class AmbiguousFieldError(ValueError, KeyError):
  """Two or more state fields of the name looked up: a `ValueError`, and a `KeyError` as in optax."""

  __str__ = ValueError.__str__  # the plain message, not KeyError's quoted repr


def _stored_field(state: Any, name: str) -> Any:
  found = _find_fields(state, name)
  if len(found) > 1:
    raise AmbiguousFieldError(
        f"value_and_grad_from_state: the optimizer state holds {len(found)} fields named "
        f"`{name}` (two linesearches in one chain?); it must hold exactly one."
    )
  if not found or found[0] is None:
    raise ValueError(
        f"value_and_grad_from_state: no `{name}` stored in the optimizer state. Chain a "
        "linesearch that stores it: `scale_by_zoom_linesearch`, or "
        "`scale_by_backtracking_linesearch(..., store_grad=True)`."
    )
  return found[0]


def value_and_grad_from_state(
    value_fn: Callable[..., jax.typing.ArrayLike],
) -> Callable[..., tuple[jax.typing.ArrayLike, base.Updates]]:
  """`jax.value_and_grad(value_fn)` that reuses the value and gradient a linesearch left in the state.

  A linesearch evaluates the objective (and its gradient) at the step it
  accepts, which are the next iterate's value and gradient. The returned
  function `value_and_grad(params, *args, state=opt_state, **kwargs)` returns
  the `value` and `grad` stored in `opt_state` when the stored value is finite,
  and otherwise (the first step, where the state holds `inf`) computes
  `jax.value_and_grad(value_fn)(params, *args, **kwargs)`. Only deterministic
  objectives should reuse values: with a new batch every step, call
  `jax.value_and_grad` instead.

  Args:
    value_fn: a differentiable objective returning a scalar.

  Returns:
    `value_and_grad(params, *args, state, **kwargs) -> (value, grad)`; `state`
    is keyword-only. The stored value and gradient are found in the NamedTuple
    fields `value` and `grad` of the state (exactly one of each); a `ValueError`
    says which is missing or duplicated (a duplicate is also a `KeyError`, as in optax).

  Differs from optax: only NamedTuple fields are searched (optax also matches
  dict keys anywhere, so params with a key named "value" or "grad" break it),
  and a recomputed value and gradient are cast to the stored dtypes.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> fn = lambda x: jnp.sum(x ** 2)
    >>> tx = jopt.lbfgs()
    >>> params = jnp.array([1.0, 2.0, 3.0])
    >>> state = tx.init(params)
    >>> value_and_grad = jopt.value_and_grad_from_state(fn)
    >>> for _ in range(2):
    ...   value, grad = value_and_grad(params, state=state)
    ...   updates, state = tx.update(grad, state, params, value=value, grad=grad, value_fn=fn)
    ...   params = jopt.apply_updates(params, updates)
  """
  if not callable(value_fn):
    raise TypeError(f"value_and_grad_from_state: `value_fn` must be callable, got {value_fn!r}.")
  compute = jax.value_and_grad(value_fn)

  # Branches built once, so eager calls hit jax's cache instead of retracing.
  def reuse(stored, params, args, kwargs):
    del params, args, kwargs
    return stored

  def recompute(stored, params, args, kwargs):
    return numerics.cast_like(compute(params, *args, **kwargs), stored)

  def value_and_grad(params: base.Params, *fn_args: Any, state: base.OptState, **fn_kwargs: Any):
    stored = (_stored_field(state, "value"), _stored_field(state, "grad"))
    value = stored[0]
    return jax.lax.cond(
        jnp.isfinite(value), reuse, recompute, stored, params, fn_args, fn_kwargs
    )

  return value_and_grad
