"""One iteration of the zoom linesearch (Nocedal & Wright's algorithms 3.5 and 3.6) and its loop state."""

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import numerics
from jopt._src.linesearch import tree_math


class ZoomLinesearchState(NamedTuple):
  """Carry of the zoom linesearch loop (all scalars have shape ())."""

  count: jax.Array  # objective evaluations so far.
  # Fixed for one search.
  params: base.Params
  updates: base.Updates
  stepsize_guess: jax.Array
  # The last step tried.
  stepsize: jax.Array
  value: jax.Array
  grad: base.Updates
  slope: jax.Array  # derivative of eta -> f(w + eta u) at `stepsize`.
  # At stepsize 0.
  value_init: jax.Array
  slope_init: jax.Array
  # Criteria at the last step (0 means satisfied).
  decrease_error: jax.Array
  curvature_error: jax.Array
  error: jax.Array
  # Phase and termination.
  interval_found: jax.Array
  done: jax.Array
  failed: jax.Array
  # The bracket: an acceptable step lies between `low` and `high`, with
  # value(low) <= value(high) (so `low` may be the larger step).
  low: jax.Array
  value_low: jax.Array
  slope_low: jax.Array
  high: jax.Array
  value_high: jax.Array
  slope_high: jax.Array
  cubic_ref: jax.Array  # third point of the cubic interpolation.
  value_cubic_ref: jax.Array
  # Best step with sufficient decrease seen so far (0 if none), the fallback
  # when the curvature criterion cannot be met.
  safe_stepsize: jax.Array
  safe_value: jax.Array
  safe_grad: base.Updates


def cubic_minimizer(a, fa, fpa, b, fb, c, fc):
  """The local minimizer of the cubic through `(a, fa)`, `(b, fb)`, `(c, fc)` with slope `fpa` at `a`.

  With `p(x) = A (x-a)^3 + B (x-a)^2 + fpa (x-a) + fa`, solving the two
  interpolation conditions gives `A`, `B`; the minimizer is
  `a + (-B + sqrt(B^2 - 3 A fpa)) / (3 A)`, NaN when there is none (the caller
  then rejects it).
  """
  db, dc = b - a, c - a
  residuals = jnp.stack([fb - fa - fpa * db, fc - fa - fpa * dc])
  inverse = jnp.stack([jnp.stack([dc**2, -(db**2)]), jnp.stack([-(dc**3), db**3])])
  denom = (db * dc) ** 2 * (db - dc)
  cubic, quad = jnp.dot(inverse, residuals, precision=jax.lax.Precision.HIGHEST) / denom
  return a + (-quad + jnp.sqrt(quad * quad - 3.0 * cubic * fpa)) / (3.0 * cubic)


def quadratic_minimizer(a, fa, fpa, b, fb):
  """The critical point of the quadratic through `(a, fa)`, `(b, fb)` with slope `fpa` at `a`."""
  db = b - a
  curvature = (fb - fa - fpa * db) / (db**2)
  return a - fpa / (2.0 * curvature)


class ZoomSearch:
  """The zoom linesearch's criteria and iteration for fixed hyperparameters.

  `scale_by_zoom_linesearch` runs `step` in a `while_loop`: first the step grows
  until an interval containing an acceptable step is bracketed (`_bracket`),
  then the interval is shrunk by cubic, quadratic or bisection interpolation
  (`_zoom`) until a step satisfies both the sufficient-decrease and the
  curvature (strong Wolfe) criteria.

  Args:
    max_steps: the most objective evaluations.
    max_stepsize: the largest step, or None.
    tol: slack on both criteria.
    increase_factor: growth of the step while bracketing.
    slope_rtol: `c1`, sufficient decrease `f(eta) <= f(0) + c1 eta f'(0)`.
    curv_rtol: `c2`, curvature `|f'(eta)| <= c2 |f'(0)|`.
    approx_dec_rtol: enables Hager & Zhang's approximate decrease criterion
      near the minimum (None: Armijo only).
    interval_threshold: a bracket shorter than this ends the search once a
      step with sufficient decrease is known.
  """

  def __init__(self, max_steps, max_stepsize, tol, increase_factor, slope_rtol, curv_rtol,
               approx_dec_rtol, interval_threshold):
    self.max_steps = max_steps
    self.max_stepsize = max_stepsize
    self.tol = tol
    self.increase_factor = increase_factor
    self.slope_rtol = slope_rtol
    self.curv_rtol = curv_rtol
    self.approx_dec_rtol = approx_dec_rtol
    self.interval_threshold = interval_threshold

  # --- criteria ---

  def decrease_error(self, stepsize, value, slope, value_init, slope_init):
    """Violation of sufficient decrease (0 if met, inf for NaN).

    Armijo: `f(eta) - f(0) - c1 eta f'(0)`. Close to a minimum `f(eta) - f(0)`
    is lost to rounding, so, as Hager & Zhang (2006, eq. 23), the criterion is
    also met by `f'(eta) <= (2 c1 - 1) f'(0)` when `f(eta) <= f(0) + eps |f(0)|`.
    """
    err = value - value_init - self.slope_rtol * stepsize * slope_init
    if self.approx_dec_rtol is not None:
      approx = slope - (2 * self.slope_rtol - 1.0) * slope_init
      above = value - value_init - self.approx_dec_rtol * jnp.abs(value_init)
      err = jnp.minimum(jnp.maximum(approx, above), err)
    err = jnp.maximum(err, 0.0)
    return jnp.where(jnp.isnan(err), jnp.inf, err)

  def curvature_error(self, slope, slope_init):
    """Violation of the strong Wolfe curvature criterion `|f'(eta)| <= c2 |f'(0)|` (inf for NaN)."""
    err = jnp.maximum(jnp.abs(slope) - self.curv_rtol * jnp.abs(slope_init), 0.0)
    return jnp.where(jnp.isnan(err), jnp.inf, err)

  # --- loop ---

  def init(self, updates, params, value, grad, stepsize_guess) -> ZoomLinesearchState:
    """The loop state before the first evaluation."""
    leaves = jax.tree.leaves(params)
    dtype = jnp.real(jnp.zeros((), leaves[0].dtype if leaves else jnp.float32)).dtype
    slope = tree_math.directional_derivative(grad, updates)
    zero = jnp.asarray(0.0)
    inf = jnp.asarray(jnp.inf)
    false = jnp.asarray(False)
    return ZoomLinesearchState(
        count=jnp.asarray(0, jnp.int32),
        params=params, updates=updates, stepsize_guess=stepsize_guess,
        stepsize=jnp.asarray(0.0, dtype), value=jnp.asarray(value, dtype), grad=grad, slope=slope,
        value_init=value, slope_init=slope,
        decrease_error=inf, curvature_error=inf, error=inf,
        interval_found=false, done=false, failed=false,
        low=zero, value_low=value, slope_low=slope,
        high=zero, value_high=value, slope_high=slope,
        cubic_ref=zero, value_cubic_ref=value,
        safe_stepsize=zero, safe_value=value, safe_grad=grad,
    )

  def keep_going(self, state: ZoomLinesearchState) -> jax.Array:
    return ~(state.done | state.failed)

  def step(self, state: ZoomLinesearchState, value_and_grad_fn: Callable[..., Any]) -> ZoomLinesearchState:
    """One evaluation: bracketing until an interval is found, zooming after."""
    # Each branch keeps the state's dtypes (a value of another dtype than the
    # params, e.g. a bf16 loss for float16 params, would otherwise differ between them).
    new = jax.lax.cond(
        state.interval_found,
        lambda s: numerics.cast_like(self._zoom(s, value_and_grad_fn), s),
        lambda s: numerics.cast_like(self._bracket(s, value_and_grad_fn), s),
        state,
    )
    new = jax.lax.cond(new.failed, self._fall_back, lambda s: s, new)
    return numerics.cast_like(new, state)

  def _evaluate(self, state, stepsize, value_and_grad_fn):
    """Value, gradient, criteria and slope at `params + stepsize * updates`."""
    trial = tree_math.add_scale(state.params, stepsize, state.updates)
    value, grad = value_and_grad_fn(trial)
    slope = tree_math.directional_derivative(grad, state.updates)
    dec = self.decrease_error(stepsize, value, slope, state.value_init, state.slope_init)
    curv = self.curvature_error(slope, state.slope_init)
    return value, grad, slope, dec, curv

  def _bracket(self, state, value_and_grad_fn):
    """Grows the step until it brackets an acceptable one (Nocedal & Wright, algorithm 3.5)."""
    new_step = jnp.where(state.count == 0, state.stepsize_guess, self.increase_factor * state.stepsize)
    if self.max_stepsize is None:
      at_max = jnp.asarray(False)
    else:
      at_max = new_step >= self.max_stepsize
      new_step = jnp.minimum(new_step, self.max_stepsize)
    value, grad, slope, dec, curv = self._evaluate(state, new_step, value_and_grad_fn)
    error = jnp.maximum(dec, curv)

    safe = tree_math.select(
        dec <= self.tol,
        (new_step, value, grad),
        (state.safe_stepsize, state.safe_value, state.safe_grad),
    )
    # Too far (no sufficient decrease, or worse than the previous step): the
    # acceptable step lies below. Past the minimum along the line (slope >= 0):
    # it lies between the new step and the previous one.
    high_is_new = (dec > 0.0) | ((value >= state.value) & (state.count > 0))
    low_is_new = (slope >= 0.0) & ~high_is_new
    prev = (state.stepsize, state.value, state.slope)
    new = (new_step, value, slope)
    low, high = tree_math.select(low_is_new, (new, prev), (prev, new))
    interval_found = high_is_new | low_is_new | (error <= self.tol)
    # At the largest step with no bracket, no larger step can be tried: accept
    # it (sufficient decrease holds, curvature does not).
    done = (error <= self.tol) | (at_max & ~interval_found)
    failed = (state.count + 1 >= self.max_steps) & ~done
    return ZoomLinesearchState(
        count=numerics.safe_increment(state.count),
        params=state.params, updates=state.updates, stepsize_guess=state.stepsize_guess,
        stepsize=new_step, value=value, grad=grad, slope=slope,
        value_init=state.value_init, slope_init=state.slope_init,
        decrease_error=dec, curvature_error=curv, error=error,
        interval_found=jnp.asarray(interval_found), done=jnp.asarray(done),
        failed=jnp.asarray(failed),
        low=low[0], value_low=low[1], slope_low=low[2],
        high=high[0], value_high=high[1], slope_high=high[2],
        cubic_ref=low[0], value_cubic_ref=low[1],
        safe_stepsize=safe[0], safe_value=safe[1], safe_grad=safe[2],
    )

  def _zoom(self, state, value_and_grad_fn):
    """Shrinks the bracket by interpolation (Nocedal & Wright, algorithm 3.6)."""
    low, high = state.low, state.high
    width = jnp.abs(high - low)
    left, right = jnp.minimum(low, high), jnp.maximum(low, high)
    # Interpolated points too close to an end are rejected (as in scipy).
    cubic = cubic_minimizer(low, state.value_low, state.slope_low, high, state.value_high,
                            state.cubic_ref, state.value_cubic_ref)
    use_cubic = (cubic > left + 0.2 * width) & (cubic < right - 0.2 * width)
    quad = quadratic_minimizer(low, state.value_low, state.slope_low, high, state.value_high)
    use_quad = ~use_cubic & (quad > left + 0.1 * width) & (quad < right - 0.1 * width)
    middle = jnp.where(use_cubic, cubic, state.cubic_ref)
    middle = jnp.where(use_quad, quad, middle)
    middle = jnp.where(~use_cubic & ~use_quad, (low + high) / 2.0, middle)

    value, grad, slope, dec, curv = self._evaluate(state, middle, value_and_grad_fn)
    error = jnp.maximum(dec, curv)
    safe = tree_math.select(
        (dec <= self.tol) & (value < state.safe_value),
        (middle, value, grad),
        (state.safe_stepsize, state.safe_value, state.safe_grad),
    )
    done = error <= self.tol

    high_is_middle = (dec > 0.0) | (value >= state.value_low)
    high_is_low = (slope * (high - low) >= 0.0) & ~high_is_middle
    old_low = (low, state.value_low, state.slope_low)
    old_high = (high, state.value_high, state.slope_high)
    mid = (middle, value, slope)
    new_high = tree_math.select(high_is_middle, mid, old_high)
    new_high = tree_math.select(high_is_low, old_low, new_high)
    new_low = tree_math.select(high_is_middle, old_low, mid)
    # The point that left the bracket becomes the cubic's third point.
    ref = tree_math.select(high_is_middle | high_is_low, old_high[:2], old_low[:2])

    too_narrow = width <= self.interval_threshold
    out_of_steps = state.count + 1 >= self.max_steps
    failed = (out_of_steps | (too_narrow & (safe[0] > 0.0))) & ~done
    return ZoomLinesearchState(
        count=numerics.safe_increment(state.count),
        params=state.params, updates=state.updates, stepsize_guess=state.stepsize_guess,
        stepsize=middle, value=value, grad=grad, slope=slope,
        value_init=state.value_init, slope_init=state.slope_init,
        decrease_error=dec, curvature_error=curv, error=error,
        interval_found=state.interval_found, done=done, failed=failed,
        low=new_low[0], value_low=new_low[1], slope_low=new_low[2],
        high=new_high[0], value_high=new_high[1], slope_high=new_high[2],
        cubic_ref=ref[0], value_cubic_ref=ref[1],
        safe_stepsize=safe[0], safe_value=safe[1], safe_grad=safe[2],
    )

  def _fall_back(self, state):
    """At failure, the best step with sufficient decrease if any (or 0 when the objective was inf/NaN)."""
    use_safe = (state.safe_stepsize > 0.0) | jnp.isinf(state.decrease_error)
    stepsize, value, grad = tree_math.select(
        use_safe,
        (state.safe_stepsize, state.safe_value, state.safe_grad),
        (state.stepsize, state.value, state.grad),
    )
    return numerics.cast_like(state._replace(stepsize=stepsize, value=value, grad=grad), state)


def print_failure(state: ZoomLinesearchState) -> None:
  """Prints why the search ended without a step meeting both criteria (under `verbose=True`)."""

  def report():
    jax.debug.print(
        "jopt.scale_by_zoom_linesearch: no step met both criteria after {count} evaluations "
        "(f(w)={value_init}, slope={slope_init}, step={stepsize}, decrease error={dec}, "
        "curvature error={curv}). A slope >= 0 means the update is not a descent direction; "
        "a step of 0 means the objective was inf/NaN at every step tried.",
        count=state.count, value_init=state.value_init, slope_init=state.slope_init,
        stepsize=state.stepsize, dec=state.decrease_error, curv=state.curvature_error,
        ordered=True,
    )

  jax.lax.cond(state.error > 0.0, report, lambda: None)
