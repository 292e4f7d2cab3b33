"""Adan: adaptive Nesterov momentum from moments of gradients and of gradient differences."""

from typing import Any, Callable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src import combine
from jopt._src.transforms import regularization
from jopt._src.transforms import scaling


class ScaleByAdanState(NamedTuple):
  """State of `scale_by_adan`."""

  m: base.Updates  # EMA of gradients, like params.
  v: base.Updates  # EMA of gradient differences g_t - g_{t-1}, like params.
  n: base.Updates  # EMA of |g_t + (1 - b2)(g_t - g_{t-1})|^2, like params (real dtype).
  g: base.Updates  # the previous gradient, like params.
  t: jax.Array  # shape=(), int32: updates so far.


@checks.public
def scale_by_adan(
    b1: jax.typing.ArrayLike = 0.98,
    b2: jax.typing.ArrayLike = 0.92,
    b3: jax.typing.ArrayLike = 0.99,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
) -> base.GradientTransformation:
  """Adan's direction: bias-corrected moments of the gradient and of its change.

  With :math:`d_t = g_t - g_{t-1}` (:math:`d_1 = 0`) and EMAs started at 0,

  .. math::
    m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t, \\quad
    v_t = \\beta_2 v_{t-1} + (1-\\beta_2) d_t, \\quad
    n_t = \\beta_3 n_{t-1} + (1-\\beta_3) |g_t + (1-\\beta_2) d_t|^2,

  .. math::
    u_t = \\frac{\\hat m_t + (1-\\beta_2) \\hat v_t}{\\sqrt{\\hat n_t + \\epsilon_{root}} + \\epsilon},

  hats being Adam's bias corrections :math:`x / (1 - \\beta^t)`. Xie et al.,
  2022, algorithm 1 (https://arxiv.org/abs/2208.06677).

  Args:
    b1: :math:`\\beta_1`, decay of the gradient EMA, in [0, 1).
    b2: :math:`\\beta_2`, decay of the gradient-difference EMA, in [0, 1).
    b3: :math:`\\beta_3`, decay of the squared-term EMA, in [0, 1).
    eps: :math:`\\epsilon`, added to the denominator, >= 0.
    eps_root: :math:`\\epsilon_{root}`, added under the square root, >= 0.

  Returns:
    A `GradientTransformation` with state `ScaleByAdanState`. Updates keep each
    param's dtype.
  """
  fn = "scale_by_adan"
  for name, value in (("b1", b1), ("b2", b2), ("b3", b3)):
    checks.check_decay(fn, name, value)
  checks.check_nonnegative(fn, "eps", eps)
  checks.check_nonnegative(fn, "eps_root", eps_root)

  def init_fn(params):
    return ScaleByAdanState(
        m=numerics.zeros_like(params),
        v=numerics.zeros_like(params),
        n=numerics.real_full_like(params, 0.0),
        g=numerics.zeros_like(params),
        t=numerics.init_count(),
    )

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.m, shapes=True)
    first = state.t == 0
    diff = numerics.tree_map(lambda g, prev: jnp.where(first, jnp.zeros_like(g), g - prev), updates, state.g)
    m = numerics.update_moment(updates, state.m, b1, 1)
    v = numerics.update_moment(diff, state.v, b2, 1)
    mixed = numerics.tree_map(lambda g, d: g + (1 - b2) * d, updates, diff)
    n = numerics.update_moment_per_elem_norm(mixed, state.n, b3, 2)
    t = numerics.safe_increment(state.t)
    m_hat = numerics.bias_correction(m, b1, t)
    v_hat = numerics.bias_correction(v, b2, t)
    n_hat = numerics.bias_correction(n, b3, t)
    new_updates = numerics.tree_map(
        lambda mh, vh, nh, g: ((mh + (1 - b2) * vh) / (jnp.sqrt(nh + eps_root) + eps)).astype(g.dtype),
        m_hat, v_hat, n_hat, updates,
    )
    new_state = ScaleByAdanState(
        m=numerics.cast_like(m, state.m),
        v=numerics.cast_like(v, state.v),
        n=numerics.cast_like(n, state.n),
        g=updates,
        t=t,
    )
    return new_updates, new_state

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "elementwise", "scale_by_adan")


@checks.public
@base.declare_callable_args("mask")
def adan(
    learning_rate: base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.98,
    b2: jax.typing.ArrayLike = 0.92,
    b3: jax.typing.ArrayLike = 0.99,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 1e-8,
    weight_decay: base.ScalarOrSchedule = 0.0,
    mask: Optional[Union[Any, Callable[[base.Params], Any]]] = None,
) -> base.GradientTransformationExtraArgs:
  """The Adan optimizer: `scale_by_adan`, decoupled weight decay, then the learning rate.

  `chain(scale_by_adan(b1, b2, b3, eps, eps_root), add_decayed_weights(weight_decay,
  mask), scale_by_learning_rate(learning_rate))`:
  :math:`w_{t+1} = w_t - \\eta_t (u_t + \\lambda w_t)` with `u_t` from
  `scale_by_adan`. Xie et al., 2022 (https://arxiv.org/abs/2208.06677).

  Args:
    learning_rate: a non-negative float, scalar array or schedule.
    b1: decay of the gradient EMA, in [0, 1).
    b2: decay of the gradient-difference EMA, in [0, 1).
    b3: decay of the squared-term EMA, in [0, 1).
    eps: added to the denominator, >= 0.
    eps_root: added under the square root, >= 0 (1e-8 here, 0 in `scale_by_adan`).
    weight_decay: :math:`\\lambda`, >= 0, or a schedule.
    mask: a tree of bools (or a function of the params returning one) selecting
      the leaves to decay.

  Returns:
    A `GradientTransformationExtraArgs`.

  Example:
    >>> import jax, jax.numpy as jnp, jopt
    >>> tx = jopt.adan(1e-2, weight_decay=1e-4)
    >>> params = {"w": jnp.ones(3)}
    >>> state = tx.init(params)
    >>> updates, state = tx.update(jax.tree.map(jnp.ones_like, params), state, params)
  """
  return combine.chain(
      scale_by_adan(b1=b1, b2=b2, b3=b3, eps=eps, eps_root=eps_root),
      regularization.add_decayed_weights(weight_decay, mask),
      scaling.scale_by_learning_rate(learning_rate),
  )
