"""Annealed Gaussian gradient noise: `add_noise`."""

from typing import Any, NamedTuple, Optional, Union
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics


class AddNoiseState(NamedTuple):
  """State of `add_noise`."""

  count: jax.Array  # shape=(), dtype=int32: the number of updates so far.
  rng_key: jax.Array  # a typed PRNG key (jax.random.key), split once per update.


def _as_key(key: Any) -> jax.Array:
  """A typed PRNG key from a typed key, a legacy uint32 key or an integer seed."""
  if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    return key
  if isinstance(key, (jax.Array, np.ndarray)) and key.dtype == jnp.uint32 and key.shape == (2,):
    return jax.random.wrap_key_data(key)
  return jax.random.key(key)


@checks.public
def add_noise(
    eta: jax.typing.ArrayLike,
    gamma: jax.typing.ArrayLike,
    key: Union[jax.Array, int, None] = None,
    *,
    seed: Optional[int] = None,
) -> base.GradientTransformation:
  """Adds Gaussian noise with an annealed variance to the updates.

  .. math::
    u_t \\leftarrow u_t + \\sigma_t\\, \\xi_t, \\qquad
    \\sigma_t^2 = \\frac{\\eta}{t^{\\gamma}}, \\qquad \\xi_t \\sim N(0, I),

  with :math:`t = 1, 2, \\dots` the update number. Each update splits the
  state key into the next state key and a sample key, and the sample key into
  one key per (non-None) leaf in tree order, as optax does, so the same key
  gives optax's noise. Neelakantan et al., 2015, "Adding Gradient Noise
  Improves Learning for Very Deep Networks" (https://arxiv.org/abs/1511.06807).

  Args:
    eta: the base variance, >= 0.
    gamma: the annealing exponent of the variance.
    key: a PRNG key (`jax.random.key(...)`, or a legacy `PRNGKey`) or an
      integer seed. `None` warns and uses 0, as optax.
    seed: deprecated spelling of an integer `key` (as in optax).

  Returns:
    A `GradientTransformation` with state `AddNoiseState`. Updates keep each
    leaf's dtype.

  Differs from optax: a `params` tree that does not match the updates raises;
  a legacy uint32 `PRNGKey` is accepted.
  """
  checks.check_nonnegative("add_noise", "eta", eta)
  checks.check_finite("add_noise", "gamma", gamma)
  checks.check_key("add_noise", "key", key)
  checks.check_key("add_noise", "seed", seed)
  if seed is not None:
    warnings.warn("add_noise: `seed` is deprecated, pass `key`.", DeprecationWarning)
    if key is not None:
      raise ValueError("add_noise: give only one of `key` and `seed`.")
    key = seed
  if key is None:
    warnings.warn("add_noise: no `key` given, using key 0; pass `key` to choose the noise.")
    key = 0

  def init_fn(params):
    del params
    return AddNoiseState(count=numerics.init_count(), rng_key=_as_key(key))

  def update_fn(updates, state, params=None):
    checks.check_params_structure("add_noise", updates, params)
    count = numerics.safe_increment(state.count)
    std = jnp.sqrt(eta / count**gamma)
    rng_key, sample_key = jax.random.split(state.rng_key)
    leaves, treedef = jax.tree.flatten(updates)
    keys = jax.random.split(sample_key, len(leaves))
    noisy = [
        (g + std * jax.random.normal(k, g.shape, g.dtype)).astype(g.dtype)
        for g, k in zip(leaves, keys)
    ]
    return jax.tree.unflatten(treedef, noisy), AddNoiseState(count=count, rng_key=rng_key)

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn),
      "per_leaf", "add_noise",
      why="one random key per leaf, so the noise drawn would differ")
