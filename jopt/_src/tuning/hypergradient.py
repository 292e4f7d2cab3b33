"""Hypergradient descent (Baydin et al. 2018): online adaptation of a global learning rate."""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jopt._src.transforms import adam as adam_lib
from jopt._src import base
from jopt._src import checks
from jopt._src import combine
from jopt._src.transforms import momentum as momentum_lib
from jopt._src.transforms import scaling
from jopt._src import numerics


class HypergradientState(NamedTuple):
  """State of `hypergradient_descent` (and `hd_sgd`, `hd_adam`)."""

  count: jax.Array  # shape=(), dtype=int32: the number of updates so far.
  hyperparams: dict[str, jax.Array]  # {"learning_rate": float32[]}: the rate used by the last update.
  prev_direction: base.Updates  # like params: d_{t-1}, the inner direction of the previous step.
  inner_state: base.OptState  # the direction transform's state.


def _inner_product(a: Any, b: Any) -> jax.Array:
  """`sum_i Re(conj(a_i) * b_i)` over every leaf, accumulated in float32 (or wider)."""
  total = jnp.zeros([], jnp.float32)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    acc = jnp.promote_types(jnp.result_type(x), jnp.float32)
    total = total + jnp.real(jnp.vdot(x.astype(acc), y.astype(acc))).astype(total.dtype)
  return total


@checks.public
def hypergradient_descent(
    direction: base.GradientTransformation,
    learning_rate: jax.typing.ArrayLike,
    hypergrad_lr: jax.typing.ArrayLike,
) -> base.GradientTransformationExtraArgs:
  """Wraps a learning-rate-free direction `d_t` into a step whose rate adapts by hypergradient descent.

  With `g_t` the gradient at `theta_{t-1}` and `d_t = direction(g_t)` (for SGD
  `d_t = g_t`, for Adam `m_hat_t / (sqrt(v_hat_t) + eps)`), the previous update
  `u_{t-1} = -alpha_{t-1} d_{t-1}` has `d u_{t-1} / d alpha = -d_{t-1}`, so the
  derivative of the current loss with respect to the rate is
  `h_t = g_t . (-d_{t-1})`, and one step is

  .. math::
    \\alpha_t = \\alpha_{t-1} - \\beta h_t = \\alpha_{t-1} + \\beta\\, g_t \\cdot d_{t-1},
    \\qquad u_t = -\\alpha_t\\, d_t

  with `d_0 = 0` (the first step uses the initial rate unchanged). The dot
  product runs over all parameters together: one global rate. The current rate
  is in the state (`jopt.hyperparams(state)["learning_rate"]`, the rate the last
  update used).

  Baydin, Cornish, Martinez Rubio, Schmidt & Wood, 2018, "Online Learning Rate
  Adaptation with Hypergradient Descent" (https://arxiv.org/abs/1703.04782),
  Algorithms 4-6. optax has no hypergradient descent.

  Args:
    direction: a transform producing the descent direction without a learning
      rate and without the minus sign (e.g. `identity()`, `trace(...)`,
      `scale_by_adam()`).
    learning_rate: the initial rate `alpha_0`, a non-negative float (not a
      schedule: the rate is what this transform adapts).
    hypergrad_lr: the hypergradient step size `beta`, >= 0 (`0` recovers the
      base optimizer with a constant rate).

  Returns:
    A `GradientTransformationExtraArgs` with state `HypergradientState`. Updates
    keep each param's dtype.
  """
  fn = "hypergradient_descent"
  for name, value in (("learning_rate", learning_rate), ("hypergrad_lr", hypergrad_lr)):
    if callable(value):
      raise ValueError(
          f"{fn}: `{name}` must be a number, got a callable; the learning rate is adapted "
          "online and cannot also follow a schedule."
      )
    checks.check_nonnegative(fn, name, value)
    checks.check_finite(fn, name, value)
  direction = combine.with_extra_args_support(direction)

  def init_fn(params):
    return HypergradientState(
        count=numerics.init_count(),
        hyperparams={"learning_rate": jnp.asarray(learning_rate, jnp.float32)},
        prev_direction=numerics.zeros_like(params),
        inner_state=direction.init(params),
    )

  def update_fn(updates, state, params=None, **extra_args):
    checks.check_same_structure(fn, updates, state.prev_direction, shapes=True)
    # h_t = g_t . (-d_{t-1});  alpha_t = alpha_{t-1} - beta * h_t.
    alpha = state.hyperparams["learning_rate"] + jnp.asarray(hypergrad_lr, jnp.float32) * (
        _inner_product(updates, state.prev_direction)
    )
    d, inner_state = direction.update(updates, state.inner_state, params, **extra_args)
    new_updates = numerics.tree_map(lambda x, g: (-alpha * x).astype(g.dtype), d, updates)
    return new_updates, HypergradientState(
        count=numerics.safe_increment(state.count),
        hyperparams={"learning_rate": alpha},
        prev_direction=numerics.cast_like(d, state.prev_direction),
        inner_state=inner_state,
    )

  return base.GradientTransformationExtraArgs(init_fn, update_fn)


@checks.public
def hd_sgd(
    learning_rate: jax.typing.ArrayLike,
    hypergrad_lr: jax.typing.ArrayLike = 1e-3,
    momentum: Optional[jax.typing.ArrayLike] = None,
    nesterov: bool = False,
) -> base.GradientTransformationExtraArgs:
  """SGD-HD, and with `momentum=mu, nesterov=True` SGDN-HD (Baydin et al. 2018, Algorithms 4-5).

  SGD-HD: `alpha_t = alpha_{t-1} + beta g_t . g_{t-1}`, `theta_t = theta_{t-1} - alpha_t g_t`.
  SGDN-HD: `v_t = mu v_{t-1} + g_t`, `d_t = g_t + mu v_t`,
  `alpha_t = alpha_{t-1} + beta g_t . d_{t-1}`, `theta_t = theta_{t-1} - alpha_t d_t`.
  See `hypergradient_descent`; https://arxiv.org/abs/1703.04782.

  Args:
    learning_rate: the initial rate `alpha_0` (>= 0).
    hypergrad_lr: the hypergradient step size `beta` (>= 0).
    momentum: the momentum `mu` in [0, 1), or None for plain SGD-HD.
    nesterov: Nesterov momentum (the paper's SGDN).

  Returns:
    `hypergradient_descent(identity() or trace(momentum, nesterov), learning_rate, hypergrad_lr)`.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> tx = jopt.hd_sgd(0.1, hypergrad_lr=0.01)
    >>> state = tx.init(jnp.ones(2))
    >>> _, state = tx.update(jnp.ones(2), state)
    >>> _, state = tx.update(jnp.ones(2), state)
    >>> float(jopt.hyperparams(state)["learning_rate"])  # 0.1 + 0.01 * (1*1 + 1*1)
    0.12000000476837158
  """
  checks.check_decay("hd_sgd", "momentum", momentum)
  if momentum is None:
    direction = scaling.identity()
  else:
    direction = momentum_lib.trace(decay=momentum, nesterov=nesterov)
  return hypergradient_descent(direction, learning_rate, hypergrad_lr)


@checks.public
def hd_adam(
    learning_rate: jax.typing.ArrayLike,
    hypergrad_lr: jax.typing.ArrayLike = 1e-7,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
) -> base.GradientTransformationExtraArgs:
  """Adam-HD (Baydin et al. 2018, Algorithm 6): Adam whose global rate follows its hypergradient.

  .. math::
    d_t = \\hat m_t / (\\sqrt{\\hat v_t + \\epsilon_{root}} + \\epsilon), \\quad
    \\alpha_t = \\alpha_{t-1} + \\beta\\, g_t \\cdot d_{t-1}, \\quad
    \\theta_t = \\theta_{t-1} - \\alpha_t d_t

  with Adam's bias-corrected moments (see `scale_by_adam`). The direction is
  normalised per coordinate, so useful `beta` are much smaller than for SGD-HD.
  https://arxiv.org/abs/1703.04782.

  Args:
    learning_rate: the initial rate `alpha_0` (>= 0).
    hypergrad_lr: the hypergradient step size `beta` (>= 0).
    b1: decay of the first moment, in [0, 1).
    b2: decay of the second moment, in [0, 1).
    eps: added to the denominator, >= 0.
    eps_root: added inside the square root, >= 0.

  Returns:
    `hypergradient_descent(scale_by_adam(b1, b2, eps, eps_root), learning_rate, hypergrad_lr)`.
  """
  return hypergradient_descent(
      adam_lib.scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root),
      learning_rate, hypergrad_lr,
  )
