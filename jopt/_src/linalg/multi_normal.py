"""A diagonal Gaussian parameterised by its mean and log standard deviation."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.scipy.stats import norm


class MultiNormalDiagFromLogScale:
  """Gaussian with independent coordinates: mean `loc`, standard deviation `exp(log_scale)`.

  `loc` and `log_scale` broadcast together to the distribution's parameter
  shape.
  """

  def __init__(self, loc: jax.typing.ArrayLike, log_scale: jax.typing.ArrayLike):
    self._mean = jnp.asarray(loc)
    self._log_scale = jnp.asarray(log_scale)
    self._scale = jnp.exp(log_scale)
    self._param_shape = jax.lax.broadcast_shapes(self._mean.shape, self._scale.shape)

  def sample(self, shape: Sequence[int], key: jax.Array) -> jax.Array:
    """Draws samples of shape `(*shape, *param_shape)`: `loc + exp(log_scale) * N(0, 1)`."""
    eps = jax.random.normal(key, shape=tuple(shape) + self._param_shape)
    return eps * self._scale + self._mean

  def log_prob(self, x: jax.typing.ArrayLike) -> jax.Array:
    """Log density of `x`, summed over the parameter axes (the trailing ones)."""
    per_coord = norm.logpdf(x, loc=self._mean, scale=self._scale)
    axes = tuple(range(-len(self._param_shape), 0))
    return jnp.sum(per_coord, axis=axes)

  @property
  def log_scale(self) -> jax.Array:
    """The log standard deviation, as given."""
    return self._log_scale

  @property
  def params(self) -> Sequence[jax.Array]:
    """`[loc, log_scale]`."""
    return [self._mean, self._log_scale]


def multi_normal(
    loc: jax.typing.ArrayLike, log_scale: jax.typing.ArrayLike
) -> MultiNormalDiagFromLogScale:
  """A diagonal Gaussian with mean `loc` and standard deviation `exp(log_scale)`.

  .. math::
    \\log p(x) = \\sum_i -\\tfrac{(x_i - \\mu_i)^2}{2 \\sigma_i^2} - \\log \\sigma_i
    - \\tfrac12 \\log 2\\pi, \\qquad \\sigma = e^{\\text{log\\_scale}}

  Args:
    loc: the mean.
    log_scale: the log standard deviation (broadcasts with `loc`).

  Returns:
    An object with `sample(shape, key)`, `log_prob(x)`, `log_scale` and
    `params`.
  """
  return MultiNormalDiagFromLogScale(loc=loc, log_scale=log_scale)
