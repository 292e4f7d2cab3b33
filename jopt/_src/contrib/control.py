"""`cond` that branches in Python when the predicate is concrete, so eager loops do not recompile."""

from typing import Any, Callable

import jax


def cond(pred: Any, true_fn: Callable[..., Any], false_fn: Callable[..., Any], *operands: Any) -> Any:
  """`jax.lax.cond(pred, true_fn, false_fn, *operands)`, or a Python `if` for a concrete `pred`.

  Outside `jit` the predicate (e.g. `count % k == 0`) is a concrete array;
  `lax.cond` would then compile both branches on every call when they are fresh
  closures (optax's Sophia and GaLore recompile at each eager step). Under
  tracing this is `lax.cond`, so only the taken branch runs.
  """
  if isinstance(pred, jax.core.Tracer):
    return jax.lax.cond(pred, true_fn, false_fn, *operands)
  return true_fn(*operands) if bool(pred) else false_fn(*operands)
