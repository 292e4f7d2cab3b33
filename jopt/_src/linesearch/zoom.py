"""Zoom linesearch: a step meeting both the sufficient-decrease and the curvature (strong Wolfe) criteria."""

import functools
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src.linesearch import objective
from jopt._src.linesearch import zoom_steps

_GUESSES = ("one", "keep")


class ZoomLinesearchInfo(NamedTuple):
  """What the last zoom linesearch did, for debugging.

  A positive `decrease_error` means the objective may not have decreased; a
  positive `curvature_error` alone is harmless (often a `max_learning_rate`
  that is too small).
  """

  num_linesearch_steps: jax.Array  # shape=(), int: objective evaluations made.
  decrease_error: jax.Array  # shape=(), float: 0 if sufficient decrease holds.
  curvature_error: jax.Array  # shape=(), float: 0 if the curvature criterion holds.


class ScaleByZoomLinesearchState(NamedTuple):
  """State of `scale_by_zoom_linesearch`."""

  learning_rate: jax.Array  # shape=(), the params' real dtype: the step accepted last.
  value: jax.Array  # shape=(): the objective at the accepted step (inf before the first).
  grad: base.Updates  # its gradient, like params (reused by `value_and_grad_from_state`).
  info: ZoomLinesearchInfo


def _check_optional_positive(fn: str, name: str, value: Any) -> None:
  if value is not None:
    checks.check_range(fn, name, value, 0.0, None, low_inclusive=False)


@checks.public
def scale_by_zoom_linesearch(
    max_linesearch_steps: jax.typing.ArrayLike,
    max_learning_rate: Optional[jax.typing.ArrayLike] = None,
    tol: jax.typing.ArrayLike = 0.0,
    increase_factor: jax.typing.ArrayLike = 2.0,
    slope_rtol: jax.typing.ArrayLike = 1e-4,
    curv_rtol: jax.typing.ArrayLike = 0.9,
    approx_dec_rtol: Optional[jax.typing.ArrayLike] = 1e-6,
    stepsize_precision: jax.typing.ArrayLike = 1e-5,
    initial_guess_strategy: str = "keep",
    verbose: bool = False,
) -> base.GradientTransformationExtraArgs:
  """Scales the update direction `u` by a step `eta` meeting the strong Wolfe conditions.

  With :math:`\\phi(\\eta) = f(w + \\eta u)`, the step satisfies sufficient
  decrease and small curvature,

  .. math::
    \\phi(\\eta) \\le \\phi(0) + c_1 \\eta \\phi'(0) + \\epsilon, \\qquad
    |\\phi'(\\eta)| \\le c_2 |\\phi'(0)| + \\epsilon,

  with :math:`c_1` = `slope_rtol`, :math:`c_2` = `curv_rtol`, :math:`\\epsilon`
  = `tol`. Near a minimum, where :math:`\\phi(\\eta) - \\phi(0)` is lost to
  rounding, sufficient decrease is also accepted as
  :math:`\\phi'(\\eta) \\le (2 c_1 - 1) \\phi'(0)` once
  :math:`\\phi(\\eta) \\le \\phi(0) + c_3 |\\phi(0)|` (:math:`c_3` =
  `approx_dec_rtol`; None turns this off). The search grows the step by
  `increase_factor` until an acceptable step is bracketed, then shrinks the
  bracket by cubic / quadratic interpolation or bisection. If it runs out of
  evaluations (or the bracket is shorter than `stepsize_precision`), it returns
  the best step with sufficient decrease seen, if any. The update returned is
  `eta * u`. Nocedal & Wright, "Numerical Optimization", 2006, algorithms 3.5
  and 3.6; Hager & Zhang, 2006 (https://doi.org/10.1145/1132973.1132979).
  `curv_rtol=jnp.inf` drops the curvature criterion (an interpolating
  backtracking search).

  Args:
    max_linesearch_steps: the most objective evaluations per update.
    max_learning_rate: the largest step, > 0, or None for no bound.
    tol: :math:`\\epsilon`, >= 0.
    increase_factor: growth of the step while bracketing, > 0.
    slope_rtol: :math:`c_1`, >= 0.
    curv_rtol: :math:`c_2`, >= 0.
    approx_dec_rtol: :math:`c_3`, >= 0, or None.
    stepsize_precision: the bracket length below which a step with sufficient
      decrease is accepted without the curvature criterion, >= 0.
    initial_guess_strategy: "one" (first step tried is 1: Newton and
      quasi-Newton directions such as L-BFGS) or "keep" (the previous step:
      gradient directions).
    verbose: print the criteria when the search fails.

  Returns:
    A `GradientTransformationExtraArgs` with state `ScaleByZoomLinesearchState`,
    whose `update(updates, state, params, *, value, grad, value_fn, **kwargs)`
    needs the objective's `value` and `grad` at `params` and
    `value_fn(params, **kwargs)`; keyword arguments that `value_fn` takes are
    passed on to it. The state keeps the value and gradient at the accepted
    step for `value_and_grad_from_state`.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> fn = lambda w: jnp.sum((w - 1.0) ** 2)
    >>> tx = jopt.chain(jopt.sgd(1.0), jopt.scale_by_zoom_linesearch(max_linesearch_steps=15))
    >>> w = jnp.zeros(3)
    >>> state = tx.init(w)
    >>> value_and_grad = jopt.value_and_grad_from_state(fn)
    >>> value, grad = value_and_grad(w, state=state)
    >>> updates, state = tx.update(grad, state, w, value=value, grad=grad, value_fn=fn)
    >>> jopt.apply_updates(w, updates)
    Array([1., 1., 1.], dtype=float32)

  Differs from optax: for complex parameters the slope at step 0 is
  `Re sum(grad * u)`, the same formula as at every other step (optax uses
  `Re sum(conj(u) * grad)` there, which is not the derivative along `u`).
  """
  fn = "scale_by_zoom_linesearch"
  objective.check_step_count(fn, "max_linesearch_steps", max_linesearch_steps)
  _check_optional_positive(fn, "max_learning_rate", max_learning_rate)
  checks.check_nonnegative(fn, "tol", tol, finite=False)
  checks.check_range(fn, "increase_factor", increase_factor, 0.0, None, low_inclusive=False)
  checks.check_nonnegative(fn, "slope_rtol", slope_rtol, finite=False)
  checks.check_nonnegative(fn, "curv_rtol", curv_rtol, finite=False)
  if approx_dec_rtol is not None:
    checks.check_nonnegative(fn, "approx_dec_rtol", approx_dec_rtol, finite=False)
  checks.check_nonnegative(fn, "stepsize_precision", stepsize_precision)
  if initial_guess_strategy not in _GUESSES:
    raise ValueError(
        f"{fn}: `initial_guess_strategy` must be one of {_GUESSES}, got {initial_guess_strategy!r}."
    )
  checks.check_bool(fn, "verbose", verbose)
  search = zoom_steps.ZoomSearch(
      max_steps=max_linesearch_steps, max_stepsize=max_learning_rate, tol=tol,
      increase_factor=increase_factor, slope_rtol=slope_rtol, curv_rtol=curv_rtol,
      approx_dec_rtol=approx_dec_rtol, interval_threshold=stepsize_precision,
  )

  def init_fn(params):
    leaves = jax.tree.leaves(params)
    dtype = jnp.real(jnp.zeros((), leaves[0].dtype if leaves else jnp.float32)).dtype
    return ScaleByZoomLinesearchState(
        learning_rate=jnp.asarray(1.0, dtype),
        value=jnp.asarray(jnp.inf, dtype),
        grad=numerics.zeros_like(params),
        info=ZoomLinesearchInfo(
            num_linesearch_steps=jnp.asarray(0, jnp.int32),
            decrease_error=jnp.asarray(jnp.inf),
            curvature_error=jnp.asarray(jnp.inf),
        ),
    )

  def update_fn(
      updates: base.Updates,
      state: ScaleByZoomLinesearchState,
      params: Optional[base.Params] = None,
      *,
      value: jax.typing.ArrayLike,
      grad: base.Updates,
      value_fn: Callable[..., jax.typing.ArrayLike],
      **extra_args: Any,
  ):
    checks.require_params(fn, params)
    checks.check_same_structure(fn, updates, params, "params", shapes=True)
    kwargs = objective.split_objective_kwargs(fn, value_fn, extra_args)
    value_and_grad_fn = functools.partial(jax.value_and_grad(value_fn), **kwargs)
    guess = jnp.asarray(1.0) if initial_guess_strategy == "one" else state.learning_rate
    start = search.init(updates, params, value, grad, guess)
    final = jax.lax.while_loop(
        search.keep_going, lambda s: search.step(s, value_and_grad_fn), start
    )
    if verbose:
      zoom_steps.print_failure(final)
    learning_rate = final.stepsize
    new_updates = numerics.tree_map(lambda u: (learning_rate * u).astype(u.dtype), updates)
    new_state = ScaleByZoomLinesearchState(
        learning_rate=learning_rate,
        value=final.value,
        grad=final.grad,
        info=ZoomLinesearchInfo(final.count, final.decrease_error, final.curvature_error),
    )
    return new_updates, numerics.cast_like(new_state, state)

  return base.GradientTransformationExtraArgs(init_fn, update_fn)
