"""Monte-Carlo smoothing `f_sigma(x) = E[f(x + sigma Z)]` with unbiased derivatives of every order."""

from typing import Any, Callable

import jax
import jax.numpy as jnp

from jopt._src.tree_utils import arithmetic
from jopt._src.tree_utils import randomness
from jopt._src.tree_utils import reductions


class Normal:
  """Standard normal noise: `sample` and the unnormalised `log_prob(z) = -z^2 / 2`."""

  def sample(
      self,
      key: jax.typing.ArrayLike,
      sample_shape: tuple[int, ...] = (),
      dtype: jax.typing.DTypeLike = float,
  ) -> jax.Array:
    """Standard normal draws of shape `sample_shape`."""
    return jax.random.normal(key, sample_shape, dtype)

  def log_prob(self, inputs: jax.Array) -> jax.Array:
    """`-z^2 / 2`, the log density up to a constant."""
    return -0.5 * inputs**2


class Gumbel:
  """Standard Gumbel noise: `sample` and `log_prob(z) = -z - exp(-z)`."""

  def sample(
      self,
      key: jax.typing.ArrayLike,
      sample_shape: tuple[int, ...] = (),
      dtype: jax.typing.DTypeLike = float,
  ) -> jax.Array:
    """Standard Gumbel draws of shape `sample_shape`."""
    return jax.random.gumbel(key, sample_shape, dtype)

  def log_prob(self, inputs: jax.Array) -> jax.Array:
    """`-z - exp(-z)`, the log density."""
    return -inputs - jnp.exp(-inputs)


def _magic_box(x: jax.Array) -> jax.Array:
  """DiCE's operator: equal to 1, with derivative `box * dx` (Foerster et al., 2018)."""
  return jnp.exp(x - jax.lax.stop_gradient(x))


def make_perturbed_fun(
    fun: Callable[[Any], Any],
    num_samples: int = 1000,
    sigma: jax.typing.ArrayLike = 0.1,
    noise=Gumbel(),
    use_baseline=True,
) -> Callable[[jax.Array, Any], Any]:
  """A differentiable Monte-Carlo estimate of `f` smoothed by random perturbations.

  .. math::
    f_\\sigma(x) = \\mathbb{E}_{Z \\sim \\mu}\\, f(x + \\sigma Z)

  The returned `g(key, x)` averages `f(x + sigma z_s)` over `num_samples`
  draws; its derivatives of any order (by JAX autodiff) are unbiased estimates
  of those of `f_sigma`, by the score-function estimator written with DiCE's
  magic box, so `f` itself is only evaluated, never differentiated. With
  `use_baseline`, `f(x)` is subtracted inside the score term (variance
  reduction; the value is unchanged). Berthet et al., 2020,
  https://arxiv.org/abs/2002.08676; Foerster et al., 2018,
  https://arxiv.org/abs/1802.05098.

  Args:
    fun: `f`, a function from a tree of arrays to a tree of arrays.
    num_samples: the number of perturbations averaged.
    sigma: the perturbation scale.
    noise: the noise distribution: an object with `sample(key, shape, dtype)`
      and `log_prob(z)`, e.g. `Gumbel()` (default) or `Normal()`.
    use_baseline: use `f(x)` as a control variate.

  Returns:
    `g(key, x)`, with the output structure of `f`.
  """

  def one_sample(key, x, baseline):
    z = randomness.tree_random_like(key, x, sampler=noise.sample)
    y = jax.lax.stop_gradient(jax.tree.map(lambda xi, zi: xi + sigma * zi, x, z))
    # z recomputed from y carries the dependence on x that the score needs.
    z = jax.tree.map(lambda xi, yi: (yi - xi) / sigma, x, y)
    box = _magic_box(reductions.tree_sum(jax.tree.map(noise.log_prob, z)))
    out = arithmetic.tree_scale(box, fun(y))
    if use_baseline:
      out = arithmetic.tree_add_scale(out, 1 - box, baseline)
    return out

  def perturbed(key, x):
    baseline = fun(jax.lax.stop_gradient(x)) if use_baseline else None
    keys = jax.random.split(key, num_samples)
    outs = jax.vmap(one_sample, in_axes=(0, None, None))(keys, x, baseline)
    return jax.tree.map(lambda o: jnp.mean(o, axis=0), outs)

  return perturbed
