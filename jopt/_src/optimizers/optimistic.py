"""Optimistic gradient methods for min-max games: extrapolate with the previous gradient."""

from typing import Any, NamedTuple, Optional
import warnings

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src import combine
from jopt._src.transforms import adam
from jopt._src.transforms import scaling


class ScaleByOptimisticGradientState(NamedTuple):
  """State of `scale_by_optimistic_gradient`."""

  is_initial_step: jax.Array  # shape=(), bool: no previous gradient yet.
  previous_gradient: base.Updates  # the last incoming updates, like params.


def _check_constant(fn: str, name: str, value: Any) -> None:
  if callable(value):
    raise TypeError(f"{fn}: `{name}` must be a number, not a schedule.")
  checks.check_range(fn, name, value, finite=True)


@checks.public
def scale_by_optimistic_gradient(
    alpha: jax.typing.ArrayLike = 1.0, beta: jax.typing.ArrayLike = 1.0
) -> base.GradientTransformation:
  """Generalized optimistic gradient: `u_t = (alpha + beta) g_t - beta g_{t-1}`.

  At the first step :math:`g_0 = g_1`, so :math:`u_1 = \\alpha g_1`. With
  :math:`\\alpha = \\beta = 1` this is optimistic gradient descent's
  extrapolation :math:`2 g_t - g_{t-1}`. Mokhtari et al., 2019
  (https://arxiv.org/abs/1901.08511).

  Args:
    alpha: the weight of the current gradient (a number).
    beta: the weight of the gradient change, the negative momentum (a number).

  Returns:
    A `GradientTransformation` with state `ScaleByOptimisticGradientState`.
  """
  fn = "scale_by_optimistic_gradient"
  _check_constant(fn, "alpha", alpha)
  _check_constant(fn, "beta", beta)

  def init_fn(params):
    return ScaleByOptimisticGradientState(
        is_initial_step=jnp.asarray(True), previous_gradient=numerics.zeros_like(params)
    )

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.previous_gradient, shapes=True)

    def leaf(g, prev):
      prev = jnp.where(state.is_initial_step, g, prev)
      return ((alpha + beta) * g - beta * prev).astype(g.dtype)

    new_updates = numerics.tree_map(leaf, updates, state.previous_gradient)
    new_state = ScaleByOptimisticGradientState(
        is_initial_step=jnp.asarray(False),
        previous_gradient=numerics.cast_like(updates, state.previous_gradient),
    )
    return new_updates, new_state

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn),
      "elementwise", "scale_by_optimistic_gradient")


@checks.public
def optimistic_gradient_descent(
    learning_rate: base.ScalarOrSchedule,
    alpha: base.ScalarOrSchedule = 1.0,
    beta: base.ScalarOrSchedule = 1.0,
) -> base.GradientTransformationExtraArgs:
  """Optimistic gradient descent: `w_{t+1} = w_t - lr_t ((alpha + beta) g_t - beta g_{t-1})`.

  An approximation of extra-gradient with one gradient per step; converges in
  the last iterate on bilinear min-max games where gradient descent-ascent
  cycles. `chain(scale_by_optimistic_gradient(alpha, beta),
  scale_by_learning_rate(learning_rate))`. Mokhtari et al., 2019
  (https://arxiv.org/abs/1901.08511).

  Args:
    learning_rate: a non-negative float, scalar array or schedule.
    alpha: the weight of the current gradient (a number).
    beta: the weight of the gradient change (a number).

  Returns:
    A `GradientTransformationExtraArgs`.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> tx = jopt.optimistic_gradient_descent(0.1)
    >>> params = jnp.array([1.0, -1.0])
    >>> state = tx.init(params)
    >>> updates, state = tx.update(jnp.array([0.5, 0.5]), state)
  """
  return combine.chain(
      scale_by_optimistic_gradient(alpha=alpha, beta=beta),
      scaling.scale_by_learning_rate(learning_rate),
  )


@checks.public
def optimistic_adam(
    learning_rate: jax.typing.ArrayLike,
    optimism: Optional[jax.typing.ArrayLike] = None,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-08,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = True,
) -> base.GradientTransformationExtraArgs:
  """Optimistic Adam (deprecated in optax, as here: use `optimistic_adam_v2`).

  With :math:`r_t` Adam's (Nesterov by default) normalized direction,
  :math:`u_t = -(\\alpha r_t + o (r_t - r_{t-1}))`, :math:`\\alpha` =
  `learning_rate`, :math:`o` = `optimism` (default: `learning_rate`). Equal
  to `optimistic_adam_v2(1.0, alpha=learning_rate, beta=optimism)`. Daskalakis
  et al., 2018 (https://arxiv.org/abs/1711.00141).

  Args:
    learning_rate: :math:`\\alpha`, a number (no schedules: use `optimistic_adam_v2`).
    optimism: :math:`o`, or None for `learning_rate`.
    b1: Adam's first-moment decay, in [0, 1).
    b2: Adam's second-moment decay, in [0, 1).
    eps: added to Adam's denominator, >= 0.
    eps_root: added under Adam's square root, >= 0.
    mu_dtype: dtype of Adam's first moment.
    nesterov: Nesterov momentum in Adam.

  Returns:
    A `GradientTransformationExtraArgs`. Warns `DeprecationWarning`.
  """
  warnings.warn(
      "`optimistic_adam` is deprecated (as in optax), please use `optimistic_adam_v2` instead.",
      DeprecationWarning, stacklevel=3,
  )
  if callable(learning_rate):
    raise ValueError(
        "optimistic_adam: `learning_rate` must be a number; optimistic_adam_v2 takes schedules."
    )
  checks.check_nonnegative("optimistic_adam", "learning_rate", learning_rate)
  checks.check_range("optimistic_adam", "optimism", optimism, finite=True)  # not as `beta`
  if optimism is None:
    optimism = learning_rate
  return combine.chain(
      adam.scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov),
      scale_by_optimistic_gradient(alpha=learning_rate, beta=optimism),
      scaling.scale_by_learning_rate(1.0),
  )


@checks.public
def optimistic_adam_v2(
    learning_rate: base.ScalarOrSchedule,
    *,
    alpha: jax.typing.ArrayLike = 1.0,
    beta: jax.typing.ArrayLike = 1.0,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-08,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Optional[Any] = None,
    nesterov: bool = True,
) -> base.GradientTransformationExtraArgs:
  """Optimistic Adam: Adam's direction extrapolated with the previous one.

  With :math:`r_t` Adam's normalized direction :math:`\\hat m_t / (\\sqrt{\\hat
  v_t + \\epsilon_{root}} + \\epsilon)` (Nesterov by default),

  .. math::
    w_{t+1} = w_t - \\eta_t \\left((\\alpha + \\beta) r_t - \\beta r_{t-1}\\right),

  i.e. `chain(scale_by_adam(...), scale_by_optimistic_gradient(alpha, beta),
  scale_by_learning_rate(learning_rate))`. Reduces the limit cycles of GAN
  training. Daskalakis et al., 2018 (https://arxiv.org/abs/1711.00141).

  Args:
    learning_rate: :math:`\\eta_t`, a non-negative float, scalar array or schedule.
    alpha: the weight of the current direction (a number).
    beta: the weight of the direction change (a number).
    b1: Adam's first-moment decay, in [0, 1).
    b2: Adam's second-moment decay, in [0, 1).
    eps: added to Adam's denominator, >= 0.
    eps_root: added under Adam's square root, >= 0.
    mu_dtype: dtype of Adam's first moment.
    nesterov: Nesterov momentum in Adam.

  Returns:
    A `GradientTransformationExtraArgs`.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> tx = jopt.optimistic_adam_v2(1e-3, beta=0.5)
    >>> params = jnp.zeros(2)
    >>> state = tx.init(params)
    >>> updates, state = tx.update(jnp.ones(2), state)
  """
  return combine.chain(
      adam.scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov),
      scale_by_optimistic_gradient(alpha=alpha, beta=beta),
      scaling.scale_by_learning_rate(learning_rate),
  )
