"""Stochastic gradient descent and its variants."""

from typing import Any, Optional, Union

import jax

from jopt._src import base
from jopt._src import checks
from jopt._src import combine
from jopt._src.transforms import momentum as momentum_lib
from jopt._src.transforms import noise
from jopt._src.transforms import scaling


@checks.public
def sgd(
    learning_rate: base.ScalarOrSchedule,
    momentum: Optional[jax.typing.ArrayLike] = None,
    nesterov: bool = False,
    accumulator_dtype: Optional[Any] = None,
) -> base.GradientTransformationExtraArgs:
  """Stochastic gradient descent, optionally with (Nesterov) momentum.

  .. math::
    t_k = g_k + \\mu\\, t_{k-1}, \\qquad
    \\theta_{k+1} = \\theta_k - \\eta_k\\, t_k \\ \\ (\\text{or } g_k + \\mu t_k \\text{ with Nesterov})

  Robbins & Monro, 1951; Sutskever et al., 2013
  (http://proceedings.mlr.press/v28/sutskever13.pdf).

  Args:
    learning_rate: a non-negative float, scalar array or schedule.
    momentum: the momentum coefficient in [0, 1] (as `trace`), or None for plain SGD.
    nesterov: use Nesterov momentum.
    accumulator_dtype: dtype of the momentum trace (default: the param's).

  Returns:
    `chain(trace(momentum, nesterov), scale_by_learning_rate(learning_rate))`.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> tx = jopt.sgd(0.1, momentum=0.9)
    >>> params = {"w": jnp.ones(3)}
    >>> state = tx.init(params)
    >>> updates, state = tx.update({"w": jnp.ones(3)}, state)
    >>> jopt.apply_updates(params, updates)["w"]
    Array([0.9, 0.9, 0.9], dtype=float32)
  """
  checks.check_nonnegative("sgd", "learning_rate", learning_rate)
  checks.check_range("sgd", "momentum", momentum, 0.0, 1.0)
  if momentum is not None:
    first = momentum_lib.trace(decay=momentum, nesterov=nesterov, accumulator_dtype=accumulator_dtype)
  else:
    first = scaling.identity()
  return combine.chain(first, scaling.scale_by_learning_rate(learning_rate))


@checks.public
def noisy_sgd(
    learning_rate: base.ScalarOrSchedule,
    eta: jax.typing.ArrayLike = 0.01,
    gamma: jax.typing.ArrayLike = 0.55,
    key: Union[jax.Array, int, None] = None,
    *,
    seed: Optional[int] = None,
) -> base.GradientTransformationExtraArgs:
  """SGD on gradients with annealed Gaussian noise added.

  .. math::
    \\theta_t = \\theta_{t-1} - \\eta_t \\left(g_t + \\sigma_t \\xi_t\\right), \\quad
    \\sigma_t^2 = \\frac{\\text{eta}}{t^{\\gamma}}, \\quad \\xi_t \\sim N(0, I), \\ t = 1, 2, \\dots

  See `add_noise` (same key use as optax, so the same key gives the same
  noise). Neelakantan et al., 2015 (https://arxiv.org/abs/1511.06807).

  Args:
    learning_rate: a non-negative float, scalar array or schedule.
    eta: the base variance of the noise, >= 0.
    gamma: the annealing exponent of the variance.
    key: a PRNG key or an integer seed; `None` warns and uses 0, as optax.
    seed: deprecated spelling of an integer `key` (as in optax).

  Returns:
    `chain(add_noise(eta, gamma, key), scale_by_learning_rate(learning_rate))`.
  """
  checks.check_nonnegative("noisy_sgd", "learning_rate", learning_rate)
  return combine.chain(
      noise.add_noise(eta, gamma, key, seed=seed),
      scaling.scale_by_learning_rate(learning_rate),
  )
