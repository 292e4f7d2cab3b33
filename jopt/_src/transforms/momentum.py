"""Heavy-ball and Nesterov momentum: `trace`."""

from typing import Any, NamedTuple, Optional

import jax

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics


class TraceState(NamedTuple):
  """State of `trace`."""

  trace: base.Updates  # like params (dtype: accumulator_dtype or the param's).


@checks.public
def trace(
    decay: jax.typing.ArrayLike,
    nesterov: bool = False,
    accumulator_dtype: Optional[Any] = None,
) -> base.GradientTransformation:
  """Momentum: accumulates a trace of past updates.

  .. math::
    t_k = g_k + \\beta\\, t_{k-1}, \\qquad
    u_k = t_k \\ (\\text{heavy ball}) \\quad\\text{or}\\quad u_k = g_k + \\beta\\, t_k \\ (\\text{Nesterov})

  Polyak, 1964; Sutskever et al., 2013, "On the importance of initialization and
  momentum in deep learning" (http://proceedings.mlr.press/v28/sutskever13.pdf).

  Args:
    decay: the momentum coefficient beta, in [0, 1] (1 accumulates the
      gradients without decay, as optax allows).
    nesterov: use Nesterov's look-ahead form.
    accumulator_dtype: dtype of the trace (default: the param's dtype).

  Returns:
    A `GradientTransformation` with state `TraceState`.
  """
  checks.check_range("trace", "decay", decay, 0.0, 1.0)
  accumulator_dtype = numerics.canonicalize_dtype(accumulator_dtype)

  def init_fn(params):
    return TraceState(trace=numerics.zeros_like(params, dtype=accumulator_dtype))

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure("trace", updates, state.trace, shapes=True)
    step = lambda g, t: g + decay * t
    new_trace = numerics.tree_map(step, updates, state.trace)
    out = numerics.tree_map(step, updates, new_trace) if nesterov else new_trace
    out = numerics.cast_like(out, updates)
    return out, TraceState(trace=numerics.cast(new_trace, accumulator_dtype))

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "elementwise", "trace")
