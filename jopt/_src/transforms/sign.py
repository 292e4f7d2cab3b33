"""Sign-based scaling: `scale_by_sign` (signSGD) and `scale_by_lion` (Lion)."""

from typing import Any, Literal, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics


@checks.public
def scale_by_sign() -> base.GradientTransformation:
  """Replaces every update by its sign: `u <- sign(u)` (`u / |u|` for complex).

  Bernstein et al., 2018, "signSGD: Compressed Optimisation for Non-Convex
  Problems" (https://arxiv.org/abs/1802.04434).

  Returns:
    A stateless `GradientTransformation`.

  Differs from optax: a `params` tree that does not match the updates raises.
  """

  def update_fn(updates, state, params=None):
    checks.check_params_structure("scale_by_sign", updates, params)
    return numerics.tree_map(jnp.sign, updates), state

  return base.declare_fusion(
      base.GradientTransformation(base.init_empty_state, update_fn), "elementwise", "scale_by_sign")


class ScaleByLionState(NamedTuple):
  """State of `scale_by_lion`."""

  count: jax.Array  # shape=(), dtype=int32.
  mu: base.Updates  # momentum, like params (dtype: mu_dtype or the param's).


_LION_MODES = ("hard", "smooth", "refined")


@checks.public
def scale_by_lion(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.99,
    mu_dtype: Optional[Any] = None,
    *,
    mode: Literal["hard", "smooth", "refined"] = "hard",
    smooth_beta: float = 1.0,
) -> base.GradientTransformation:
  """Lion's update: the sign of an interpolation of momentum and gradient.

  .. math::
    c_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t, \\quad
    u_t = \\mathrm{sign}(c_t), \\quad
    m_t = \\beta_2 m_{t-1} + (1-\\beta_2) g_t

  `mode="smooth"` uses `tanh(smooth_beta * c)` and `mode="refined"` keeps
  `|c| < 1` linear (`c`) and takes the sign beyond. Chen et al., 2023,
  "Symbolic Discovery of Optimization Algorithms"
  (https://arxiv.org/abs/2302.06675).

  Args:
    b1: weight of the momentum in the update direction, in [0, 1].
    b2: decay of the momentum, in [0, 1).
    mu_dtype: dtype of the momentum (default: the param's).
    mode: "hard", "smooth" or "refined".
    smooth_beta: the tanh slope for `mode="smooth"`.

  Returns:
    A `GradientTransformation` with state `ScaleByLionState`. Updates keep each
    param's dtype.
  """
  checks.check_range("scale_by_lion", "b1", b1, 0.0, 1.0)
  checks.check_decay("scale_by_lion", "b2", b2)
  checks.check_range("scale_by_lion", "smooth_beta", smooth_beta, finite=True)
  if mode not in _LION_MODES:
    raise ValueError(f"scale_by_lion: `mode` must be one of {_LION_MODES}, got {mode!r}.")
  mu_dtype = numerics.canonicalize_dtype(mu_dtype)

  def direction(g, m):
    c = (1.0 - b1) * g + b1 * m
    if mode == "hard":
      d = jnp.sign(c)
    elif mode == "smooth":
      d = jnp.tanh(smooth_beta * c)
    else:
      d = jnp.where(jnp.abs(c) < 1.0, c, jnp.sign(c))
    return d.astype(g.dtype)

  def init_fn(params):
    return ScaleByLionState(count=numerics.init_count(), mu=numerics.zeros_like(params, dtype=mu_dtype))

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure("scale_by_lion", updates, state.mu, shapes=True)
    new_updates = numerics.tree_map(direction, updates, state.mu)
    mu = numerics.cast_like(numerics.update_moment(updates, state.mu, b2, 1), state.mu)
    return new_updates, ScaleByLionState(count=numerics.safe_increment(state.count), mu=mu)

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "elementwise", "scale_by_lion")
