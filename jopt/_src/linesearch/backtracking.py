"""Backtracking linesearch: shrink the step until the objective decreases enough (Armijo)."""

import functools
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src.linesearch import objective
from jopt._src.linesearch import tree_math


class BacktrackingLinesearchInfo(NamedTuple):
  """What the last backtracking linesearch did, for debugging."""

  num_linesearch_steps: jax.Array  # shape=(), int: objective evaluations made.
  decrease_error: jax.Array  # shape=(), float: > 0 if no step decreased the objective enough.


class ScaleByBacktrackingLinesearchState(NamedTuple):
  """State of `scale_by_backtracking_linesearch`."""

  learning_rate: jax.Array  # shape=(), the params' real dtype: the step accepted last.
  value: jax.Array  # shape=(): the objective at the accepted step (inf before the first).
  grad: Optional[base.Updates]  # its gradient with `store_grad=True`, else None.
  info: BacktrackingLinesearchInfo


class _Search(NamedTuple):
  """Carry of the backtracking loop."""

  learning_rate: jax.Array
  new_value: jax.Array
  new_grad: base.Updates
  decrease_error: jax.Array
  iter_num: jax.Array


def _real_dtype(params: Any) -> jnp.dtype:
  leaves = jax.tree.leaves(params)
  dtype = leaves[0].dtype if leaves else jnp.float32
  return jnp.real(jnp.zeros((), dtype)).dtype


@checks.public
def scale_by_backtracking_linesearch(
    max_backtracking_steps: jax.typing.ArrayLike,
    slope_rtol: jax.typing.ArrayLike = 1e-4,
    decrease_factor: jax.typing.ArrayLike = 0.8,
    increase_factor: jax.typing.ArrayLike = 1.5,
    max_learning_rate: jax.typing.ArrayLike = 1.0,
    atol: jax.typing.ArrayLike = 0.0,
    rtol: jax.typing.ArrayLike = 0.0,
    store_grad: bool = False,
    verbose: bool = False,
) -> base.GradientTransformationExtraArgs:
  """Scales the update direction `u` by a step `eta` found by backtracking (Armijo's rule).

  Starting from `eta_0 = min(increase_factor * eta_prev, max_learning_rate)`,
  the step is multiplied by `decrease_factor` until

  .. math::
    f(w + \\eta u) \\le (1 + r) f(w) + c\\, \\eta\\, \\partial_u f(w) + a

  with :math:`c` = `slope_rtol`, :math:`r` = `rtol`, :math:`a` = `atol` and
  :math:`\\partial_u f(w)` the derivative of `f` along `u` (negative for a
  descent direction). At most `max_backtracking_steps + 1` steps are tried; if
  the last one is still not accepted it is used anyway, unless the objective
  was `inf`/NaN there, in which case the step is 0 (and the next search starts
  again from `max_learning_rate`). The update returned is
  `eta * u` (chain after a direction such as `sgd(1.0)`). Armijo, 1966;
  Nocedal & Wright, "Numerical Optimization", 2006, section 3.1; Vaswani et
  al., 2019 (https://arxiv.org/abs/1905.09997).

  Args:
    max_backtracking_steps: the most decreases of the step per update, >= 0.
    slope_rtol: :math:`c`, the fraction of the linear decrease required, >= 0.
    decrease_factor: the factor shrinking the step, > 0 (usually < 1).
    increase_factor: the factor on the previous step to start from, > 0;
      `math.inf` starts from `max_learning_rate` every time.
    max_learning_rate: the largest step tried, > 0.
    atol: :math:`a`, absolute slack in the criterion, >= 0.
    rtol: :math:`r`, slack relative to `f(w)`, >= 0.
    store_grad: also compute the gradient at the accepted step and keep it in
      the state with its value, for `value_and_grad_from_state`.
    verbose: print the criterion when the search fails.

  Returns:
    A `GradientTransformationExtraArgs` with state
    `ScaleByBacktrackingLinesearchState`, whose `update(updates, state, params,
    *, value, grad, value_fn, **kwargs)` needs the objective's `value` and
    `grad` at `params` and `value_fn(params, **kwargs)`; keyword arguments that
    `value_fn` takes (data batches) are passed on to it.

  Example:
    >>> import jax, jax.numpy as jnp, jopt
    >>> fn = lambda w: jnp.sum((w - 1.0) ** 2)
    >>> tx = jopt.chain(jopt.sgd(1.0), jopt.scale_by_backtracking_linesearch(15))
    >>> w = jnp.zeros(3)
    >>> state = tx.init(w)
    >>> value, grad = jax.value_and_grad(fn)(w)
    >>> updates, state = tx.update(grad, state, w, value=value, grad=grad, value_fn=fn)

  Differs from optax: after a step of 0 optax grows 0 and never moves again;
  jopt restarts from `max_learning_rate`.
  """
  fn = "scale_by_backtracking_linesearch"
  objective.check_step_count(fn, "max_backtracking_steps", max_backtracking_steps)
  checks.check_nonnegative(fn, "slope_rtol", slope_rtol, finite=False)
  checks.check_range(fn, "decrease_factor", decrease_factor, 0.0, None, low_inclusive=False)
  checks.check_range(fn, "increase_factor", increase_factor, 0.0, None, low_inclusive=False)
  checks.check_range(fn, "max_learning_rate", max_learning_rate, 0.0, None, low_inclusive=False)
  checks.check_nonnegative(fn, "atol", atol, finite=False)
  checks.check_nonnegative(fn, "rtol", rtol, finite=False)
  checks.check_bool(fn, "store_grad", store_grad)
  checks.check_bool(fn, "verbose", verbose)

  def init_fn(params):
    dtype = _real_dtype(params)
    return ScaleByBacktrackingLinesearchState(
        learning_rate=jnp.asarray(1.0, dtype),
        value=jnp.asarray(jnp.inf, dtype),
        grad=numerics.zeros_like(params) if store_grad else None,
        info=BacktrackingLinesearchInfo(
            num_linesearch_steps=jnp.asarray(0, jnp.int32),
            decrease_error=jnp.asarray(jnp.inf, dtype),
        ),
    )

  def decrease_error(stepsize, slope, value, new_value):
    """How far `new_value` is above the accepted level (0 when accepted, inf for NaN)."""
    err = new_value - (1.0 + rtol) * value - stepsize * slope_rtol * slope
    err = jnp.where(jnp.isnan(err), jnp.inf, err)
    return jnp.maximum(err, 0.0)

  def update_fn(
      updates: base.Updates,
      state: ScaleByBacktrackingLinesearchState,
      params: Optional[base.Params] = None,
      *,
      value: jax.typing.ArrayLike,
      grad: base.Updates,
      value_fn: Callable[..., jax.typing.ArrayLike],
      **extra_args: Any,
  ):
    checks.require_params(fn, params)
    checks.check_same_structure(fn, updates, params, "params", shapes=True)
    objective_fn = functools.partial(
        value_fn, **objective.split_objective_kwargs(fn, value_fn, extra_args)
    )
    slope = tree_math.directional_derivative(grad, updates)

    def keep_going(search: _Search):
      return (~(search.decrease_error <= atol)) & (search.iter_num <= max_backtracking_steps)

    def try_step(search: _Search) -> _Search:
      # The first trial uses the starting step; every later one shrinks it.
      lr = jnp.where(search.iter_num > 0, decrease_factor * search.learning_rate, search.learning_rate)
      trial = tree_math.add_scale(params, lr, updates)
      if store_grad:
        new_value, pullback = jax.vjp(objective_fn, trial)
        err = decrease_error(lr, slope, value, new_value)
        last = (err <= atol) | (search.iter_num == max_backtracking_steps)
        # Differentiate only at the step that will be returned.
        new_grad = jax.lax.cond(
            last,
            lambda: pullback(jnp.ones_like(new_value))[0],
            lambda: search.new_grad,
        )
      else:
        new_value = objective_fn(trial)
        err = decrease_error(lr, slope, value, new_value)
        new_grad = search.new_grad
      new = _Search(lr, new_value, new_grad, err, search.iter_num + 1)
      return numerics.cast_like(new, search)

    # After a step of 0 (an objective that was inf/NaN everywhere tried) restart
    # from the largest step: growing 0 would stay 0 for good.
    prev = state.learning_rate
    start = _Search(
        learning_rate=jnp.where(
            prev > 0, jnp.minimum(increase_factor * prev, max_learning_rate), max_learning_rate
        ).astype(prev.dtype),
        new_value=jnp.asarray(value),
        new_grad=numerics.zeros_like(params),
        decrease_error=jnp.asarray(jnp.inf, jnp.float32),
        iter_num=jnp.asarray(0, jnp.int32),
    )
    search = jax.lax.while_loop(keep_going, try_step, start)
    # An objective that is inf/NaN at every trial step: do not move.
    learning_rate = jnp.where(jnp.isinf(search.decrease_error), 0.0, search.learning_rate)
    if verbose:
      jax.lax.cond(
          search.decrease_error > atol,
          lambda: jax.debug.print(
              "jopt.scale_by_backtracking_linesearch: no step decreased the objective enough "
              "(f(w)={value}, slope={slope}, last step={lr}, decrease error={err}); "
              "using step {used}.",
              value=value, slope=slope, lr=search.learning_rate, err=search.decrease_error,
              used=learning_rate, ordered=True,
          ),
          lambda: None,
      )
    new_updates = numerics.tree_map(lambda u: (learning_rate * u).astype(u.dtype), updates)
    new_state = ScaleByBacktrackingLinesearchState(
        learning_rate=learning_rate,
        value=search.new_value,
        grad=search.new_grad if store_grad else None,
        info=BacktrackingLinesearchInfo(search.iter_num, search.decrease_error),
    )
    return new_updates, numerics.cast_like(new_state, state)

  return base.GradientTransformationExtraArgs(init_fn, update_fn)
