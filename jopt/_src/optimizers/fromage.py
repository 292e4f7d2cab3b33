"""Fromage: steps of fixed relative size per layer, with the params shrunk to keep their norm."""

import jax

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src.transforms import regularization
from jopt._src import combine
from jopt._src.transforms import layerwise
from jopt._src.transforms import scaling


def _add_scaled_params(coefficient: base.ScalarOrSchedule) -> base.GradientTransformation:
  """`u <- u + c * params` for any real `c` (negative here), a constant or a schedule of the count.

  `add_decayed_weights` is the same update restricted to a weight decay `c >= 0`.
  """
  scheduled = callable(coefficient)

  def init_fn(params):
    del params
    return regularization.WeightDecaySchedule(count=numerics.init_count()) if scheduled else base.EmptyState()

  def update_fn(updates, state, params=None):
    checks.require_params("fromage", params)
    checks.check_same_structure("fromage", updates, params, "params", shapes=True)
    if scheduled:
      c = coefficient(state.count)
      state = regularization.WeightDecaySchedule(count=numerics.safe_increment(state.count))
    else:
      c = coefficient
    return numerics.tree_map(lambda u, p: (u + c * p).astype(u.dtype), updates, params), state

  return base.GradientTransformation(init_fn, update_fn)


@checks.public
def fromage(
    learning_rate: base.ScalarOrSchedule, min_norm: jax.typing.ArrayLike = 1e-6
) -> base.GradientTransformationExtraArgs:
  """The Fromage optimizer (Frobenius matched gradient descent).

  Per leaf (layer), with :math:`\\eta_t` = `learning_rate`,

  .. math::
    w_{t+1} = \\frac{1}{\\sqrt{1 + \\eta_t^2}} \\left(w_t - \\eta_t
    \\frac{\\max(\\|w_t\\|, n)}{\\max(\\|g_t\\|, n)} g_t\\right),

  a step of relative size :math:`\\eta_t` (the trust ratio of LARS) followed by
  a shrink that keeps the norm of the params from growing. As a chain:
  `scale_by_trust_ratio(min_norm)`, `scale_by_learning_rate(eta / sqrt(1 +
  eta^2))`, then `u + (1 / sqrt(1 + eta^2) - 1) w`. Bernstein et al., 2020
  (https://arxiv.org/abs/2002.03432).

  Args:
    learning_rate: :math:`\\eta_t`, a non-negative float, scalar array or schedule.
    min_norm: :math:`n`, the floor of both norms, >= 0.

  Returns:
    A `GradientTransformationExtraArgs`; `update` needs `params`.

  Example:
    >>> import jax, jax.numpy as jnp, jopt
    >>> tx = jopt.fromage(0.01)
    >>> params = {"w": jnp.ones((3, 2))}
    >>> state = tx.init(params)
    >>> updates, state = tx.update(jax.tree.map(jnp.ones_like, params), state, params)
  """
  checks.check_nonnegative("fromage", "learning_rate", learning_rate)
  if callable(learning_rate):
    shrink = lambda count: 1 / (1 + learning_rate(count) ** 2) ** 0.5
    step = lambda count: shrink(count) * learning_rate(count)
    coefficient = lambda count: shrink(count) - 1
  else:
    shrink = 1 / (1 + learning_rate**2) ** 0.5
    step = learning_rate * shrink
    coefficient = shrink - 1
  return combine.chain(
      layerwise.scale_by_trust_ratio(min_norm),
      scaling.scale_by_learning_rate(step),
      _add_scaled_params(coefficient),
  )
