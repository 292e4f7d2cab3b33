"""L-BFGS: updates preconditioned by a limited-memory quasi-Newton inverse Hessian."""

from typing import Any, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src.linesearch import tree_math
from jopt._src.linesearch import zoom
from jopt._src import combine
from jopt._src.transforms import scaling


class ScaleByLBFGSState(NamedTuple):
  """State of `scale_by_lbfgs`; the memory is a ring buffer indexed by `count % memory_size`."""

  count: jax.Array  # shape=(), int32: updates so far.
  params: base.Params  # the params at the last update.
  updates: base.Updates  # the incoming updates (gradients) at the last update.
  diff_params_memory: Any  # like params with a leading axis memory_size: s_k = w_{k+1} - w_k.
  diff_updates_memory: Any  # like params with a leading axis memory_size: y_k = g_{k+1} - g_k.
  weights_memory: jax.Array  # shape=(memory_size,): rho_k = 1 / <y_k, s_k> (0 for empty slots).


def _slot(memory: Any, idx: jax.Array) -> Any:
  return jax.tree.map(lambda m: m[idx], memory)


# The loop bodies are module-level functions of their carries (no closures), so
# jax reuses their traces and eager updates do not recompile every step.
def _first_loop(carry, j):
  q, diff_params, diff_updates, weights = carry
  alpha = weights[j] * tree_math.real_vdot(_slot(diff_params, j), q)
  q = numerics.cast_like(tree_math.add_scale(q, -alpha, _slot(diff_updates, j)), q)
  return (q, diff_params, diff_updates, weights), alpha


def _second_loop(carry, j_alpha):
  r, diff_params, diff_updates, weights = carry
  j, alpha = j_alpha
  beta = weights[j] * tree_math.real_vdot(_slot(diff_updates, j), r)
  r = numerics.cast_like(tree_math.add_scale(r, alpha - beta, _slot(diff_params, j)), r)
  return (r, diff_params, diff_updates, weights), None


def precondition(updates, diff_params, diff_updates, weights, identity_scale, newest_idx):
  """`P u` by the two-loop recursion (Nocedal & Wright, algorithm 7.4).

  Slots are visited newest to oldest (first loop) and back; a slot with weight
  0 (not yet filled, or `<y, s> = 0`) leaves the vector unchanged.

  Args:
    updates: the vector `u` to precondition.
    diff_params: memory of `s_j`, leading axis `m`.
    diff_updates: memory of `y_j`, leading axis `m`.
    weights: `rho_j`, shape `(m,)`.
    identity_scale: `gamma`, the initial inverse Hessian `gamma I`.
    newest_idx: the slot after the newest one (`count % m`).

  Returns:
    `P u`, like `updates`.
  """
  m = weights.shape[0]
  order = (newest_idx + jnp.arange(m)) % m  # oldest first; the first loop runs it backwards
  memory = (diff_params, diff_updates, weights)
  (q, *_), alphas = jax.lax.scan(_first_loop, (updates, *memory), order, reverse=True)
  r = numerics.tree_map(lambda x: identity_scale * x, q)
  (r, *_), _ = jax.lax.scan(_second_loop, (r, *memory), (order, alphas))
  return numerics.cast_like(r, updates)


@checks.public
def scale_by_lbfgs(
    memory_size: int = 10,
    scale_init_precond: bool = True,
) -> base.GradientTransformation:
  """Multiplies the updates by the L-BFGS approximation of the inverse Hessian.

  From the last `m` = `memory_size` differences :math:`s_j = w_{j+1} - w_j`,
  :math:`y_j = u_{j+1} - u_j` of params and incoming updates (gradients), with
  :math:`\\rho_j = 1 / \\langle y_j, s_j \\rangle`,

  .. math::
    P_{k,j+1} = V_j^\\top P_{k,j} V_j + \\rho_j s_j s_j^\\top, \\quad
    V_j = I - \\rho_j y_j s_j^\\top, \\quad P_{k,k-m} = \\gamma_k I,

  and the update is :math:`P_k u_k`, computed by the two-loop recursion.
  :math:`\\gamma_k = \\langle s_{k-1}, y_{k-1}\\rangle / \\|y_{k-1}\\|^2` with
  `scale_init_precond` (else 1); at the first step
  :math:`\\gamma_0 = \\min(1, 1/\\|u_0\\|)`, so the first step has length at most
  1. The memory is updated from the params and updates passed in, before the
  direction is computed, so chained with a linesearch it only records accepted
  steps. Nocedal & Wright, "Numerical Optimization", 2006, algorithms 7.4 and
  7.5; Liu & Nocedal, 1989 (https://doi.org/10.1007/BF01589116).

  Args:
    memory_size: `m`, the number of difference pairs kept, >= 1.
    scale_init_precond: use :math:`\\gamma_k` above instead of 1.

  Returns:
    A `GradientTransformation` with state `ScaleByLBFGSState` (memory
    `2 m + 2` copies of the params); `update` needs `params`. Its output is the
    direction `P u` (not negated).
  """
  fn = "scale_by_lbfgs"
  checks.check_positive_int(fn, "memory_size", memory_size)
  checks.check_bool(fn, "scale_init_precond", scale_init_precond)

  def init_fn(params):
    # `result_type`, not `asarray(p).dtype`: abstract params (`jax.ShapeDtypeStruct`) work too.
    stacked = jax.tree.map(
        lambda p: jnp.zeros((memory_size,) + jnp.shape(p), jnp.result_type(p)), params)
    return ScaleByLBFGSState(
        count=numerics.init_count(),
        params=numerics.zeros_like(params),
        updates=numerics.zeros_like(params),
        diff_params_memory=stacked,
        diff_updates_memory=stacked,
        weights_memory=jnp.zeros(memory_size),
    )

  def update_fn(updates, state, params=None):
    checks.require_params(fn, params)
    checks.check_same_structure(fn, updates, params, "params", shapes=True)
    checks.check_same_structure(fn, updates, state.updates)
    newest = state.count % memory_size
    previous = (state.count - 1) % memory_size
    started = state.count > 0

    # Record the pair from the last step (nothing before the first one).
    s = numerics.tree_map(lambda a, b: a - b, params, state.params)
    y = numerics.tree_map(lambda a, b: a - b, updates, state.updates)
    sy = tree_math.real_vdot(y, s)
    rho = jnp.where(sy == 0.0, 0.0, 1.0 / sy)
    s, y, rho = jax.tree.map(lambda x: jnp.where(started, x, jnp.zeros_like(x)), (s, y, rho))
    diff_params, diff_updates, weights = jax.tree.map(
        lambda memory, new: memory.at[previous].set(new),
        (state.diff_params_memory, state.diff_updates_memory, state.weights_memory),
        (s, y, rho),
    )

    if scale_init_precond:
      yy = numerics.sum_of_squares(y)
      gamma = jnp.where(yy > 0.0, tree_math.real_vdot(y, s) / yy, 1.0)
      first_gamma = jnp.minimum(1.0, 1.0 / numerics.global_norm(jax.lax.stop_gradient(updates)))
      gamma = jnp.where(started, gamma, first_gamma)
    else:
      gamma = 1.0

    direction = precondition(updates, diff_params, diff_updates, weights, gamma, newest)
    return direction, ScaleByLBFGSState(
        count=numerics.safe_increment(state.count),
        params=params,
        updates=updates,
        diff_params_memory=diff_params,
        diff_updates_memory=diff_updates,
        weights_memory=weights,
    )

  return base.GradientTransformation(init_fn, update_fn)


@checks.public
def lbfgs(
    learning_rate: Optional[base.ScalarOrSchedule] = None,
    memory_size: int = 10,
    scale_init_precond: bool = True,
    linesearch: Optional[
        Union[base.GradientTransformationExtraArgs, base.GradientTransformation]
    ] = zoom.scale_by_zoom_linesearch(max_linesearch_steps=20, initial_guess_strategy="one"),
) -> base.GradientTransformationExtraArgs:
  """L-BFGS: the quasi-Newton direction `-P_k g_k` (see `scale_by_lbfgs`), its step set by a linesearch.

  `chain(scale_by_lbfgs(memory_size, scale_init_precond), scale(-1) or
  scale_by_learning_rate(learning_rate), linesearch)`. With the default zoom
  linesearch, `update` needs `value`, `grad` and `value_fn` keyword arguments;
  for a deterministic objective `value_and_grad_from_state(value_fn)` reuses the
  linesearch's last evaluation instead of a new one each step. Liu & Nocedal,
  1989 (https://doi.org/10.1007/BF01589116); Nocedal & Wright, "Numerical
  Optimization", 2006, chapter 7.

  Args:
    learning_rate: a fixed step or schedule on the direction; None (default)
      leaves the step to the linesearch.
    memory_size: the number of difference pairs kept, >= 1.
    scale_init_precond: scale the initial inverse Hessian (see `scale_by_lbfgs`).
    linesearch: the transform choosing the step, e.g. `scale_by_zoom_linesearch`
      (default: at most 20 evaluations, first trial step 1) or
      `scale_by_backtracking_linesearch`; None for no linesearch.

  Returns:
    A `GradientTransformationExtraArgs`; its state holds `2 m + 2` copies of
    the params. Best for small and medium deterministic problems.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> fn = lambda x: jnp.sum((x - 2.0) ** 2)
    >>> tx = jopt.lbfgs()
    >>> x = jnp.zeros(3)
    >>> state = tx.init(x)
    >>> value_and_grad = jopt.value_and_grad_from_state(fn)
    >>> for _ in range(3):
    ...   value, grad = value_and_grad(x, state=state)
    ...   updates, state = tx.update(grad, state, x, value=value, grad=grad, value_fn=fn)
    ...   x = jopt.apply_updates(x, updates)
  """
  if learning_rate is None:
    base_scaling = scaling.scale(-1.0)
  else:
    base_scaling = scaling.scale_by_learning_rate(learning_rate)
  if linesearch is None:
    linesearch = scaling.identity()
  elif not (hasattr(linesearch, "init") and hasattr(linesearch, "update")):
    raise TypeError(
        f"lbfgs: `linesearch` must be a GradientTransformation (e.g. "
        f"scale_by_zoom_linesearch(...)) or None, got {type(linesearch).__name__}."
    )
  return combine.chain(
      scale_by_lbfgs(memory_size=memory_size, scale_init_precond=scale_init_precond),
      base_scaling,
      linesearch,
  )
