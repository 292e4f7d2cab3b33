"""Polyak step sizes: the step that would reach a known optimal value on a linear model of the loss."""

from typing import Any, Optional

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src import combine
from jopt._src.optimizers import sgd as sgd_lib

_VARIANTS = ("sps", "sps+")
# Below this squared gradient norm the step is 0 (optax's threshold, float64 machine epsilon).
_TINY = float(jnp.finfo(float).eps)


@checks.public
def scale_by_polyak(
    f_min: jax.typing.ArrayLike = 0.0,
    max_learning_rate: jax.typing.ArrayLike = 1.0,
    eps: jax.typing.ArrayLike = 0.0,
    variant: str = "sps",
) -> base.GradientTransformationExtraArgs:
  """Scales the updates by the Polyak step `min((f(w) - f*) / (||u||^2 + eps), max_learning_rate)`.

  .. math::
    u \\leftarrow \\min\\left(\\frac{f(w) - f^\\star}{\\|u\\|^2 + \\epsilon},
    \\gamma_{max}\\right) u

  with :math:`f^\\star` = `f_min`, :math:`\\gamma_{max}` = `max_learning_rate`;
  the step is 0 when :math:`\\|u\\|^2 + \\epsilon` is below float64's machine
  epsilon. `variant="sps+"` uses :math:`\\max(f(w) - f^\\star, 0)`. Polyak,
  1987; Loizou et al., 2021 (https://arxiv.org/abs/2002.10542); Garrigos et
  al., 2023 (https://arxiv.org/abs/2307.14528).

  Args:
    f_min: :math:`f^\\star`, a lower bound on the objective (0 for models that
      interpolate the data).
    max_learning_rate: :math:`\\gamma_{max}`, >= 0.
    eps: added to the squared norm, >= 0.
    variant: "sps" or "sps+".

  Returns:
    A stateless `GradientTransformationExtraArgs` whose `update` needs the
    keyword argument `value`, the objective at the current params.
  """
  fn = "scale_by_polyak"
  checks.check_range(fn, "f_min", f_min, finite=True)
  checks.check_nonnegative(fn, "max_learning_rate", max_learning_rate, finite=False)
  checks.check_nonnegative(fn, "eps", eps)
  if variant not in _VARIANTS:
    raise ValueError(f"{fn}: `variant` must be one of {_VARIANTS}, got {variant!r}.")

  def update_fn(
      updates: base.Updates,
      state: base.EmptyState,
      params: Optional[base.Params] = None,
      *,
      value: jax.typing.ArrayLike,
      **extra_args: Any,
  ):
    del params, extra_args
    sq_norm = numerics.sum_of_squares(updates)
    gap = jnp.asarray(value - f_min).astype(sq_norm.dtype)
    if variant == "sps+":
      gap = jnp.maximum(gap, 0.0)
    denom = sq_norm + eps
    step = jnp.where(denom <= _TINY, 0.0, jnp.minimum(gap / denom, max_learning_rate))
    return numerics.tree_map(lambda u: (step * u).astype(u.dtype), updates), state

  return base.declare_fusion(
      base.GradientTransformationExtraArgs(base.init_empty_state, update_fn),
      "global", "scale_by_polyak")


@checks.public
def polyak_sgd(
    max_learning_rate: jax.typing.ArrayLike = 1.0,
    scaling: base.ScalarOrSchedule = 1.0,
    f_min: jax.typing.ArrayLike = 0.0,
    eps: jax.typing.ArrayLike = 0.0,
    variant: str = "sps",
) -> base.GradientTransformationExtraArgs:
  """SGD with the Polyak step size: `chain(sgd(scaling), scale_by_polyak(...))`.

  .. math::
    w_{t+1} = w_t - s_t \\min\\left(\\frac{f(w_t) - f^\\star}{s_t^2 \\|g_t\\|^2 + \\epsilon},
    \\gamma_{max}\\right) g_t

  (the norm is of the scaled gradient :math:`s_t g_t`, :math:`s_t` =
  `scaling`). Needs a good `f_min`: a wrong lower bound diverges or stalls.
  Loizou et al., 2021 (https://arxiv.org/abs/2002.10542); Berrada et al., 2020
  (https://arxiv.org/abs/1906.05661); Garrigos et al., 2023
  (https://arxiv.org/abs/2307.14528).

  Args:
    max_learning_rate: the largest step, >= 0.
    scaling: :math:`s_t`, a non-negative float or schedule.
    f_min: :math:`f^\\star`, a lower bound on the objective.
    eps: added to the squared norm, >= 0.
    variant: "sps" or "sps+" (gap clipped at 0).

  Returns:
    A `GradientTransformationExtraArgs` whose `update` needs `value=loss`.

  Example:
    >>> import jax, jax.numpy as jnp, jopt
    >>> fn = lambda x: jnp.sum(x ** 2)
    >>> tx = jopt.polyak_sgd()
    >>> x = jnp.array([1.0, 2.0])
    >>> state = tx.init(x)
    >>> value, grad = jax.value_and_grad(fn)(x)
    >>> updates, state = tx.update(grad, state, x, value=value)
  """
  checks.check_nonnegative("polyak_sgd", "scaling", scaling)  # named here, not as sgd's
  return combine.chain(
      sgd_lib.sgd(learning_rate=scaling),
      scale_by_polyak(max_learning_rate=max_learning_rate, f_min=f_min, eps=eps, variant=variant),
  )
