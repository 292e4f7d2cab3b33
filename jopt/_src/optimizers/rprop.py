"""Rprop: per-coordinate step sizes that grow while the gradient keeps its sign and shrink when it flips."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src import combine
from jopt._src.transforms import scaling


class ScaleByRpropState(NamedTuple):
  """State of `scale_by_rprop`."""

  step_sizes: base.Updates  # per-coordinate step sizes, like params.
  prev_updates: base.Updates  # the last update `step * sign(g)` (0 after a sign flip), like params.


def _check_real(fn: str, params: Any) -> None:
  for leaf in jax.tree.leaves(params):
    if jnp.iscomplexobj(leaf):
      raise ValueError(
          f"{fn}: complex parameters are not supported (a sign flip of a complex gradient is undefined)."
      )


def _check_step_sizes(fn: str, learning_rate, eta_minus, eta_plus, min_step_size, max_step_size) -> None:
  if callable(learning_rate):
    raise TypeError(
        f"{fn}: `learning_rate` is the initial step size of every coordinate and must be a number, "
        "not a schedule."
    )
  checks.check_nonnegative(fn, "learning_rate", learning_rate)
  checks.check_nonnegative(fn, "eta_minus", eta_minus)
  checks.check_nonnegative(fn, "eta_plus", eta_plus)
  checks.check_nonnegative(fn, "min_step_size", min_step_size)
  checks.check_nonnegative(fn, "max_step_size", max_step_size, finite=False)
  lo, hi = checks.concrete_value(min_step_size), checks.concrete_value(max_step_size)
  if lo is not None and hi is not None and lo > hi:
    raise ValueError(
        f"{fn}: `min_step_size` ({min_step_size!r}) must be <= `max_step_size` ({max_step_size!r})."
    )


@checks.public
def scale_by_rprop(
    learning_rate: jax.typing.ArrayLike,
    eta_minus: jax.typing.ArrayLike = 0.5,
    eta_plus: jax.typing.ArrayLike = 1.2,
    min_step_size: jax.typing.ArrayLike = 1e-6,
    max_step_size: jax.typing.ArrayLike = 50.0,
) -> base.GradientTransformation:
  """Rprop's update `step * sign(g)`, each coordinate's step adapted to sign agreement.

  With :math:`p = g_t \\cdot u_{t-1}` (the last update, 0 at the start),

  .. math::
    \\delta_t = \\begin{cases}
      \\mathrm{clip}(\\eta^+ \\delta_{t-1}, \\delta_{min}, \\delta_{max}) & p > 0 \\\\
      \\mathrm{clip}(\\eta^- \\delta_{t-1}, \\delta_{min}, \\delta_{max}) & p < 0 \\\\
      \\delta_{t-1} & p = 0
    \\end{cases}, \\qquad
    u_t = \\begin{cases} 0 & p < 0 \\\\ \\delta_t\\, \\mathrm{sign}(g_t) & \\text{otherwise} \\end{cases}

  with :math:`\\delta_0` = `learning_rate`: after a sign flip the coordinate
  pauses for one step (iRprop-). The output ascends; `rprop` negates it.
  Riedmiller & Braun, 1993 (https://doi.org/10.1109/ICNN.1993.298623); Igel &
  Huesken, 2003 (https://doi.org/10.1016/S0925-2312(01)00700-7).

  Args:
    learning_rate: :math:`\\delta_0`, the initial step size, >= 0 (a number).
    eta_minus: :math:`\\eta^-`, the factor after a sign flip, >= 0.
    eta_plus: :math:`\\eta^+`, the factor while the sign holds, >= 0.
    min_step_size: :math:`\\delta_{min}`, >= 0.
    max_step_size: :math:`\\delta_{max}`, >= `min_step_size`.

  Returns:
    A `GradientTransformation` with state `ScaleByRpropState` (real params only).

  Differs from optax: optax 0.2.8 emits each update one step late (its first
  update is 0; optax PR #1725); jopt emits the current one, as the paper and
  `torch.optim.Rprop` do. The state is optax's, value for value.
  """
  fn = "scale_by_rprop"
  _check_step_sizes(fn, learning_rate, eta_minus, eta_plus, min_step_size, max_step_size)

  def init_fn(params):
    _check_real(fn, params)
    return ScaleByRpropState(
        step_sizes=numerics.full_like(params, learning_rate),
        prev_updates=numerics.zeros_like(params),
    )

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.step_sizes, shapes=True)

    def new_step(g, step, prev):
      agreement = g * prev
      grown = jnp.clip(step * jnp.where(agreement > 0, eta_plus, eta_minus), min_step_size, max_step_size)
      return jnp.where(agreement == 0, step, grown).astype(step.dtype)

    def new_update(g, step, prev):
      return jnp.where(g * prev < 0, jnp.zeros_like(g), step * jnp.sign(g)).astype(g.dtype)

    step_sizes = numerics.tree_map(new_step, updates, state.step_sizes, state.prev_updates)
    new_updates = numerics.tree_map(new_update, updates, step_sizes, state.prev_updates)
    return new_updates, ScaleByRpropState(step_sizes=step_sizes, prev_updates=new_updates)

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "elementwise", "scale_by_rprop")


@checks.public
def rprop(
    learning_rate: jax.typing.ArrayLike,
    eta_minus: jax.typing.ArrayLike = 0.5,
    eta_plus: jax.typing.ArrayLike = 1.2,
    min_step_size: jax.typing.ArrayLike = 1e-6,
    max_step_size: jax.typing.ArrayLike = 50.0,
) -> base.GradientTransformationExtraArgs:
  """The Rprop optimizer: `chain(scale_by_rprop(...), scale(-1))`, descending by `step * sign(g)`.

  See `scale_by_rprop` for the step-size rule. Best with full-batch gradients:
  sign agreement is meaningless for noisy ones. Riedmiller & Braun, 1993
  (https://doi.org/10.1109/ICNN.1993.298623).

  Args:
    learning_rate: the initial step size of every coordinate, >= 0 (a number).
    eta_minus: the step factor after a sign flip, >= 0.
    eta_plus: the step factor while the sign holds, >= 0.
    min_step_size: the smallest step, >= 0.
    max_step_size: the largest step, >= `min_step_size`.

  Returns:
    A `GradientTransformationExtraArgs`.

  Differs from optax: the update of step `t` is applied at step `t` (optax
  applies it at `t + 1`); see `scale_by_rprop`.

  Example:
    >>> import jax, jax.numpy as jnp, jopt
    >>> tx = jopt.rprop(1e-2)
    >>> params = jnp.array([1.0, -2.0])
    >>> state = tx.init(params)
    >>> updates, state = tx.update(jax.grad(lambda x: jnp.sum(x ** 2))(params), state)
  """
  return combine.chain(
      scale_by_rprop(learning_rate, eta_minus, eta_plus, min_step_size, max_step_size),
      scaling.scale(-1.0),
  )
