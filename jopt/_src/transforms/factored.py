"""Adafactor's factored second moment: `scale_by_factored_rms`."""

from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics


def decay_rate_pow(step: jax.typing.ArrayLike, exponent: jax.typing.ArrayLike = 0.8) -> jax.Array:
  """Adafactor's second-moment decay at step `step` (0-based): `1 - (step + 1) ** -exponent`."""
  t = jnp.asarray(step + 1, jnp.float32)
  return 1.0 - t ** (-exponent)


def factored_dims(shape: tuple, factored: bool, min_dim_size_to_factor: int) -> Optional[tuple[int, int]]:
  """The two largest axes `(d1, d0)` (d0 the largest) of a leaf to factor over, or None.

  A leaf is factored when `factored` is set, it has at least 2 axes, and its
  second-largest axis has at least `min_dim_size_to_factor` elements.
  """
  if not factored or len(shape) < 2:
    return None
  order = np.argsort(shape)
  if shape[order[-2]] < min_dim_size_to_factor:
    return None
  return int(order[-2]), int(order[-1])


class FactoredState(NamedTuple):
  """State of `scale_by_factored_rms`; the same fields and shapes as optax's."""

  count: jax.Array  # shape=(), dtype=int32.
  v_row: base.Updates  # factored leaves: the EMA of mean |g|^2 over axis d0 (the param's dtype); else shape (1,).
  v_col: base.Updates  # factored leaves: the EMA of mean |g|^2 over axis d1; else shape (1,).
  v: base.Updates  # unfactored leaves: the EMA of |g|^2, like the param; else shape (1,).


@checks.public
def scale_by_factored_rms(
    factored: bool = True,
    decay_rate: jax.typing.ArrayLike = 0.8,
    step_offset: jax.typing.ArrayLike = 0,
    min_dim_size_to_factor: int = 128,
    epsilon: jax.typing.ArrayLike = 1e-30,
    decay_rate_fn: Callable[[jax.typing.ArrayLike, jax.typing.ArrayLike], jax.typing.ArrayLike] = decay_rate_pow,
) -> base.GradientTransformation:
  """Divides updates by a factored estimate of their root mean square (Adafactor).

  With :math:`\\hat\\beta_t` = `decay_rate_fn(max(t - step_offset, 0), decay_rate)`
  (default :math:`1 - (t+1)^{-0.8}`, :math:`t = 0, 1, \\dots`) and
  :math:`G = |g|^2 + \\epsilon`, a leaf whose two largest axes :math:`d_1, d_0`
  both have at least `min_dim_size_to_factor` elements keeps only a row and a
  column statistic:

  .. math::
    R_t = \\hat\\beta_t R_{t-1} + (1-\\hat\\beta_t)\\, \\mathrm{mean}_{d_0} G, \\quad
    C_t = \\hat\\beta_t C_{t-1} + (1-\\hat\\beta_t)\\, \\mathrm{mean}_{d_1} G, \\quad
    u = g \\,/\\, \\sqrt{R_t C_t / \\mathrm{mean}(R_t)}

  and any other leaf the full :math:`V_t = \\hat\\beta_t V_{t-1} + (1-\\hat\\beta_t) G`,
  :math:`u = g / \\sqrt{V_t}`. Shazeer & Stern, 2018, "Adafactor: Adaptive
  Learning Rates with Sublinear Memory Cost" (https://arxiv.org/abs/1804.04235);
  Zhai et al., 2021 (https://arxiv.org/abs/2106.04560) for capped decay schedules.

  Differs from optax: the step given to `decay_rate_fn` is clamped at 0, so
  `step_offset > 0` from a fresh state starts like step 0 (decay 0) until the
  count reaches `step_offset`; optax computes `0 ** -0.8` (and negative bases)
  there and its second moment is NaN forever. From `count >= step_offset` both
  agree.

  Args:
    factored: factor the second moment of leaves with two large axes.
    decay_rate: the exponent (or other parameter) passed to `decay_rate_fn`.
    step_offset: the step the schedule counts from (the start of fine-tuning), >= 0.
    min_dim_size_to_factor: factor only when the second-largest axis has at
      least this many elements, an integer >= 1.
    epsilon: added to `|g|^2`, >= 0.
    decay_rate_fn: `(step, decay_rate) -> decay` for the second moment.

  Returns:
    A `GradientTransformation` with state `FactoredState` that needs `params`
    (as optax). Updates and statistics keep each param's dtype.
  """
  fn = "scale_by_factored_rms"
  checks.check_positive_int(fn, "min_dim_size_to_factor", min_dim_size_to_factor)
  checks.check_nonnegative(fn, "step_offset", step_offset)
  checks.check_nonnegative(fn, "epsilon", epsilon)
  if decay_rate_fn is decay_rate_pow:  # 1 - t^(-decay_rate): a decay in [0, 1) needs decay_rate >= 0
    checks.check_nonnegative(fn, "decay_rate", decay_rate)
  else:
    checks.check_finite(fn, "decay_rate", decay_rate)
  if not callable(decay_rate_fn):
    raise ValueError(f"{fn}: `decay_rate_fn` must be callable, got {decay_rate_fn!r}.")

  def dims(x):
    return factored_dims(jnp.shape(x), factored, min_dim_size_to_factor)

  def placeholder(p):
    return jnp.zeros((1,), p.dtype)

  def init_fn(params):
    def v_row(p):
      d = dims(p)
      return placeholder(p) if d is None else jnp.zeros(np.delete(p.shape, d[1]), p.dtype)

    def v_col(p):
      d = dims(p)
      return placeholder(p) if d is None else jnp.zeros(np.delete(p.shape, d[0]), p.dtype)

    def v(p):
      return jnp.zeros_like(p) if dims(p) is None else placeholder(p)

    return FactoredState(
        count=numerics.init_count(),
        v_row=jax.tree.map(v_row, params),
        v_col=jax.tree.map(v_col, params),
        v=jax.tree.map(v, params),
    )

  def update_fn(updates, state, params=None):
    checks.require_params(fn, params)
    checks.check_same_structure(fn, updates, state.v)
    checks.check_same_structure(fn, updates, params, "params", shapes=True)
    step = jnp.maximum(state.count - step_offset, 0)
    beta = decay_rate_fn(step, decay_rate)

    def leaf(g, row, col, v, p):
      dtype = p.dtype
      sq = numerics.abs_sq(g) + epsilon
      d = dims(p)
      if d is None:
        new_v = (beta * v + (1.0 - beta) * sq).astype(dtype)
        return (g * new_v**-0.5).astype(g.dtype), row, col, new_v
      d1, d0 = d
      new_row = (beta * row + (1.0 - beta) * jnp.mean(sq, axis=d0)).astype(dtype)
      new_col = (beta * col + (1.0 - beta) * jnp.mean(sq, axis=d1)).astype(dtype)
      row_axis = d1 - 1 if d1 > d0 else d1
      row_factor = (new_row / jnp.mean(new_row, axis=row_axis, keepdims=True)) ** -0.5
      col_factor = new_col**-0.5
      u = g * jnp.expand_dims(row_factor, d0) * jnp.expand_dims(col_factor, d1)
      return u.astype(g.dtype), new_row, new_col, v

    leaves, treedef = jax.tree.flatten(updates)
    flat = [jax.tree.leaves(t) for t in (state.v_row, state.v_col, state.v, params)]
    out = [leaf(*args) for args in zip(leaves, *flat)]
    unflat = lambda i: jax.tree.unflatten(treedef, [o[i] for o in out])
    new_state = FactoredState(
        count=numerics.safe_increment(state.count), v_row=unflat(1), v_col=unflat(2), v=unflat(3)
    )
    return unflat(0), new_state

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn),
      "per_leaf", "scale_by_factored_rms",
      why="row and column second moments of each matrix")
