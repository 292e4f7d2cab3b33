"""COCOB-Backprop: learning-rate-free training by continuous coin betting."""

from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src import combine
from jopt._src.transforms import regularization
from jopt._src.transforms import scaling


class COCOBState(NamedTuple):
  """State of `scale_by_cocob`; every field is a tree like params."""

  init_particles: base.Updates  # the params at `init` (the betting origin).
  cumulative_gradients: base.Updates  # -sum of gradients.
  scale: base.Updates  # running max of |g| (starts at eps).
  subgradients: base.Updates  # sum of |g|.
  reward: base.Updates  # the bettor's wealth, max(R - g (theta - theta_0), 0).


@checks.public
def scale_by_cocob(
    alpha: jax.typing.ArrayLike = 100.0, eps: jax.typing.ArrayLike = 1e-8
) -> base.GradientTransformation:
  r"""Rescales updates by COCOB-Backprop's coin-betting rule (Algorithm 2 of the paper).

  Per coordinate, with :math:`\theta_0` the initial params:

  .. math::
    L_t = \max(L_{t-1}, |g_t|), \quad G_t = G_{t-1} + |g_t|, \quad
    R_t = \max(R_{t-1} - g_t (\theta_t - \theta_0), 0), \quad C_t = C_{t-1} - g_t, \\
    \theta_{t+1} = \theta_0 + \frac{C_t}{L_t \max(G_t + L_t, \alpha L_t)} (L_t + R_t),

  and the update is :math:`\theta_{t+1} - \theta_t`. :math:`L_0 = \epsilon`.
  The incoming updates are the gradients (not negated), so this goes last in a
  chain, after any learning-rate scaling with `flip_sign=False`.

  Orabona & Tommasi, 2017, "Training Deep Networks without Learning Rates
  Through Coin Betting" (https://arxiv.org/abs/1705.07795).

  Args:
    alpha: bounds the bet fraction early in training, >= 0.
    eps: the initial `L`, so the first division is defined, >= 0.

  Returns:
    A `GradientTransformation` with state `COCOBState`; `update` needs `params`.
  """
  fn = "scale_by_cocob"
  checks.check_nonnegative(fn, "alpha", alpha)
  checks.check_nonnegative(fn, "eps", eps)

  def init_fn(params):
    return COCOBState(
        init_particles=params,
        cumulative_gradients=numerics.zeros_like(params),
        scale=numerics.full_like(params, eps),
        subgradients=numerics.zeros_like(params),
        reward=numerics.zeros_like(params),
    )

  def update_fn(updates, state, params=None):
    checks.require_params(fn, params)
    checks.check_same_structure(fn, updates, state.scale, shapes=True)
    tm = numerics.tree_map
    scale = tm(lambda l, g: jnp.maximum(l, jnp.abs(g)), state.scale, updates)
    subgradients = tm(lambda s, g: s + jnp.abs(g), state.subgradients, updates)
    reward = tm(
        lambda r, g, p, p0: jnp.maximum(r - g * (p - p0), 0),
        state.reward, updates, params, state.init_particles,
    )
    cumulative = tm(lambda c, g: c - g, state.cumulative_gradients, updates)

    def step(p, p0, c, l, s, r):
      bet = c / (l * jnp.maximum(s + l, alpha * l)) * (l + r)
      return (p0 + bet - p).astype(p.dtype)

    new_updates = tm(step, params, state.init_particles, cumulative, scale, subgradients, reward)
    return new_updates, COCOBState(
        init_particles=state.init_particles,
        cumulative_gradients=cumulative,
        scale=scale,
        subgradients=subgradients,
        reward=reward,
    )

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "elementwise", "scale_by_cocob")


@checks.public
def cocob(
    learning_rate: base.ScalarOrSchedule = 1.0,
    alpha: jax.typing.ArrayLike = 100.0,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 0.0,
    mask: Optional[Union[Any, Callable[[base.Params], Any]]] = None,
) -> base.GradientTransformation:
  r"""COCOB-Backprop: gradients (plus L2 decay) scaled by `learning_rate`, then coin betting.

  .. math::
    \tilde g_t = \eta_t (g_t + \lambda \theta_t), \qquad
    \theta_{t+1} = \text{COCOB}(\tilde g_{1..t})

  (see :func:`scale_by_cocob`). No learning rate to tune: `learning_rate`
  (default 1) only lets a schedule rescale the gradients fed to the bettor.

  Orabona & Tommasi, 2017, "Training Deep Networks without Learning Rates
  Through Coin Betting" (https://arxiv.org/abs/1705.07795).

  Args:
    learning_rate: multiplies the gradients before betting (a float or a schedule).
    alpha: bounds the bet fraction early in training, >= 0.
    eps: the initial per-coordinate gradient scale, >= 0.
    weight_decay: L2 penalty added to the gradients.
    mask: which leaves to decay: a tree of bools or a function of the params.

  Returns:
    `chain(add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate, flip_sign=False), scale_by_cocob(alpha, eps))`.

  Example:
    >>> import jax.numpy as jnp
    >>> from jopt.contrib import cocob
    >>> tx = cocob()
    >>> state = tx.init(jnp.ones(3))
  """
  return combine.chain(
      regularization.add_decayed_weights(weight_decay, mask),
      scaling.scale_by_learning_rate(learning_rate, flip_sign=False),
      scale_by_cocob(alpha, eps),
  )
