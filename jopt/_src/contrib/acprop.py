"""ACProp: AdaBelief's centred second moment used asynchronously (the denominator lags one step)."""

from typing import Any, Callable, Optional, Union

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src import combine
from jopt._src.transforms import adam
from jopt._src.transforms import regularization
from jopt._src.transforms import scaling


@checks.public
def scale_by_acprop(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-16,
    eps_root: jax.typing.ArrayLike = 1e-16,
) -> base.GradientTransformation:
  """Rescales the gradient by the previous step's centred second moment (ACProp).

  .. math::
    m_t = \\beta_1 m_{t-1} + (1 - \\beta_1) g_t, \\quad
    s_t = \\beta_2 s_{t-1} + (1 - \\beta_2) |g_t - m_{t-1}|^2 + \\epsilon_{root}, \\\\
    u_t = \\frac{g_t}{\\sqrt{s_{t-1} / (1 - \\beta_2^{t-1})} + \\epsilon}
    \\ (t > 1), \\qquad u_1 = \\frac{g_1}{1 + \\epsilon}

  The denominator uses only information up to step `t - 1` (the asynchronous
  update) and the prediction error is taken against the previous first moment,
  as in optax. Zhuang et al., 2021, "Momentum Centering and Asynchronous Update
  for Adaptive Gradient Methods" (https://arxiv.org/abs/2110.05454).

  Args:
    b1: decay of the first moment, in [0, 1).
    b2: decay of the centred second moment, in [0, 1).
    eps: added to the denominator, >= 0.
    eps_root: added to the second moment every step, >= 0.

  Returns:
    A `GradientTransformation` with state `ScaleByBeliefState`.
  """
  fn = "scale_by_acprop"
  checks.check_decay(fn, "b1", b1)
  checks.check_decay(fn, "b2", b2)
  checks.check_nonnegative(fn, "eps", eps)
  checks.check_nonnegative(fn, "eps_root", eps_root)

  def init_fn(params):
    return adam.ScaleByBeliefState(
        count=numerics.init_count(),
        mu=numerics.zeros_like(params),
        nu=numerics.real_full_like(params, 0.0),
    )

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.mu, shapes=True)
    mu = numerics.update_moment(updates, state.mu, b1, 1)
    prediction_error = numerics.tree_map(lambda g, m: g - m, updates, state.mu)
    nu = numerics.update_moment_per_elem_norm(prediction_error, state.nu, b2, 2)
    nu = numerics.tree_map(lambda v: v + eps_root, nu)
    count = numerics.safe_increment(state.count)
    first = state.count == 0
    # At the first step there is no previous second moment: the denominator is 1 + eps.
    nu_hat = numerics.bias_correction(state.nu, b2, jnp.where(first, count, state.count))
    new_updates = numerics.tree_map(
        lambda g, v: (g / (jnp.sqrt(jnp.where(first, 1, v)) + eps)).astype(g.dtype),
        updates, nu_hat,
    )
    return new_updates, adam.ScaleByBeliefState(
        count=count,
        mu=numerics.cast_like(mu, state.mu),
        nu=numerics.cast_like(nu, state.nu),
    )

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "elementwise", "scale_by_acprop")


@checks.public
def acprop(
    learning_rate: base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-16,
    eps_root: jax.typing.ArrayLike = 1e-16,
    weight_decay: jax.typing.ArrayLike = 0.0,
    mask: Optional[Union[Any, Callable[[base.Params], Any]]] = None,
) -> base.GradientTransformationExtraArgs:
  """The ACProp optimizer: `scale_by_acprop`, decoupled weight decay, learning rate.

  .. math::
    x_{t+1} = x_t - \\alpha_t (u_t + \\lambda x_t)

  with :math:`u_t` from `scale_by_acprop`; the weight decay is multiplied by the
  learning rate (as in PyTorch's AdamW). Zhuang et al., 2021
  (https://arxiv.org/abs/2110.05454); reference code
  https://github.com/juntang-zhuang/ACProp-Optimizer.

  Args:
    learning_rate: constant or schedule, >= 0.
    b1: decay of the first moment.
    b2: decay of the centred second moment.
    eps: added to the denominator.
    eps_root: added to the second moment every step.
    weight_decay: decoupled weight decay `lambda`, >= 0.
    mask: which leaves get weight decay (tree of bools or function of params).

  Returns:
    A `GradientTransformationExtraArgs`.
  """
  return combine.chain(
      scale_by_acprop(b1=b1, b2=b2, eps=eps, eps_root=eps_root),
      regularization.add_decayed_weights(weight_decay, mask),
      scaling.scale_by_learning_rate(learning_rate),
  )
