"""MADGRAD: momentumized, adaptive, dual-averaged gradient descent."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src import combine
from jopt._src.transforms import regularization


class MadgradState(NamedTuple):
  """State of `scale_by_madgrad`."""

  count: jax.Array  # shape=(), int32.
  grad_sum_sq: base.Updates  # G_k = sum_i lambda_i |g_i|^2, like params (real).
  s: base.Updates  # s_k = sum_i lambda_i g_i, like params.
  x0: base.Params  # the initial params.


@checks.public
def scale_by_madgrad(
    learning_rate: base.ScalarOrSchedule,
    momentum: float = 0.9,
    eps: float = 1e-6,
) -> base.GradientTransformation:
  """Returns MADGRAD's parameter change `x_{k+1} - x_k` (the learning rate included).

  .. math::
    \\lambda_k = (\\eta_k + \\epsilon) \\sqrt{k + 1}, \\quad
    s_{k+1} = s_k + \\lambda_k g_k, \\quad
    G_{k+1} = G_k + \\lambda_k g_k^2, \\\\
    z_{k+1} = x_0 - \\frac{s_{k+1}}{G_{k+1}^{1/3} + \\epsilon}, \\quad
    x_{k+1} = (1 - c)\\, z_{k+1} + c\\, x_k

  with `c` = `momentum`; `eps` is added to the learning rate as in the authors'
  PyTorch code. The returned update already moves downhill (no sign flip or
  learning-rate scaling should follow). Defazio & Jelassi, 2021, "Adaptivity
  without Compromise: A Momentumized, Adaptive, Dual Averaged Gradient Method
  for Stochastic Optimization" (https://arxiv.org/abs/2101.11075).

  Args:
    learning_rate: constant or schedule (evaluated at the step count from 0), >= 0.
    momentum: the averaging weight `c` of the previous iterate, in [0, 1].
    eps: added to the learning rate and to the cube root, >= 0.

  Returns:
    A `GradientTransformation` with state `MadgradState`; `update` needs `params`.
  """
  fn = "scale_by_madgrad"
  checks.check_nonnegative(fn, "learning_rate", learning_rate)
  checks.check_range(fn, "momentum", momentum, 0.0, 1.0)
  checks.check_nonnegative(fn, "eps", eps)

  def init_fn(params):
    return MadgradState(
        count=numerics.init_count(),
        grad_sum_sq=numerics.real_full_like(params, 0.0),
        s=numerics.zeros_like(params),
        x0=params,
    )

  def update_fn(updates, state, params=None):
    checks.require_params(fn, params)
    checks.check_same_structure(fn, updates, params, "params", shapes=True)
    lr = numerics.resolve(learning_rate, state.count)
    lamb = (lr + eps) * jnp.sqrt(state.count + 1)
    grad_sum_sq = numerics.tree_map(
        lambda acc, g: acc + (lamb * numerics.abs_sq(g)).astype(acc.dtype),
        state.grad_sum_sq, updates,
    )
    s = numerics.tree_map(lambda acc, g: acc + (lamb * g).astype(g.dtype), state.s, updates)
    z = numerics.tree_map(
        lambda x0, s_, acc: x0 - s_ / (jnp.cbrt(acc) + eps), state.x0, s, grad_sum_sq
    )
    new_updates = numerics.tree_map(
        lambda z_, x: ((1 - momentum) * z_ + momentum * x - x).astype(x.dtype), z, params
    )
    return new_updates, MadgradState(
        count=numerics.safe_increment(state.count), grad_sum_sq=grad_sum_sq, s=s, x0=state.x0
    )

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "elementwise", "scale_by_madgrad")


@checks.public
def madgrad(
    learning_rate: base.ScalarOrSchedule,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    eps: float = 1e-6,
) -> base.GradientTransformationExtraArgs:
  """The MADGRAD optimizer: coupled L2 weight decay, then `scale_by_madgrad`.

  .. math::
    x_{k+1} = \\text{MADGRAD}(g_k + \\lambda x_k)

  Matches SGD with momentum on vision and Adam on NLP tasks in the paper.
  Defazio & Jelassi, 2021 (https://arxiv.org/abs/2101.11075).

  Args:
    learning_rate: constant or schedule, >= 0.
    momentum: the averaging weight of the previous iterate, in [0, 1].
    weight_decay: L2 weight decay `lambda` added to the gradients, >= 0.
    eps: added to the learning rate and to the cube root.

  Returns:
    A `GradientTransformationExtraArgs`; `update` needs `params`.
  """
  return combine.chain(
      regularization.add_decayed_weights(weight_decay),
      scale_by_madgrad(learning_rate=learning_rate, momentum=momentum, eps=eps),
  )
