"""Differentially private SGD: per-example clipping and Gaussian noise (`differentially_private_aggregate`, `dpsgd`)."""

from typing import Any, NamedTuple, Optional
import warnings

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src.transforms import clipping
from jopt._src import combine
from jopt._src.transforms import momentum as momentum_lib
from jopt._src.transforms import scaling


class DifferentiallyPrivateAggregateState(NamedTuple):
  """State of `differentially_private_aggregate`."""

  rng_key: jax.Array  # the typed PRNG key of the next step's noise.


def _canonical_key(key: Any) -> jax.Array:
  if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    return key
  if isinstance(key, (jax.Array, jnp.ndarray)) and jnp.shape(key) == (2,):
    return jax.random.wrap_key_data(key)  # a raw `jax.random.PRNGKey(seed)`.
  return jax.random.key(key)


@checks.public
def differentially_private_aggregate(
    l2_norm_clip: jax.typing.ArrayLike,
    noise_multiplier: jax.typing.ArrayLike,
    key: jax.Array | int | None = None,
    *,
    seed: int | None = None,
) -> base.GradientTransformation:
  """Aggregates per-example gradients the DP-SGD way: clip each, sum, add noise, average.

  .. math::
    u = \\frac{1}{B}\\Big(\\sum_{i=1}^B g_i \\min\\Big(1, \\frac{C}{\\|g_i\\|}\\Big)
      + \\sigma C\\, \\xi\\Big), \\qquad \\xi \\sim \\mathcal N(0, I)

  with `C` = `l2_norm_clip` and `sigma` = `noise_multiplier`. The updates must be
  per-example gradients, batch on axis 0 of every leaf (e.g. from
  `jax.vmap(jax.grad(loss), (None, 0))`); put this transform first in a chain.
  Gradient accumulation (`MultiSteps`) does not compose with it. Each step
  splits the key into a new key and one key per leaf (tree order), as optax
  does, so a key gives optax's noise. Abadi et al., 2016, "Deep Learning with
  Differential Privacy" (https://arxiv.org/abs/1607.00133).

  Args:
    l2_norm_clip: the per-example clipping norm `C`, >= 0.
    noise_multiplier: the noise standard deviation relative to `C`, >= 0.
    key: a PRNG key (typed, or a raw `jax.random.PRNGKey`) or an integer seed.
      `None` warns and uses `jax.random.key(0)`.
    seed: deprecated alias of an integer `key` (warns); not both.

  Returns:
    A `GradientTransformation` with state `DifferentiallyPrivateAggregateState`.
  """
  fn = "differentially_private_aggregate"
  checks.check_nonnegative(fn, "l2_norm_clip", l2_norm_clip, finite=False)
  checks.check_nonnegative(fn, "noise_multiplier", noise_multiplier)
  known_clip, known_noise = checks.concrete_value(l2_norm_clip), checks.concrete_value(noise_multiplier)
  if (known_clip is not None and known_noise is not None and float(known_noise) > 0
      and not bool(jnp.isfinite(jnp.asarray(float(known_clip) * float(known_noise))))):
    raise ValueError(
        f"{checks._name(fn)}: `l2_norm_clip`={l2_norm_clip!r} with `noise_multiplier`="
        f"{noise_multiplier!r} gives noise of infinite standard deviation (their product); "
        f"an infinite `l2_norm_clip` (no clipping) needs `noise_multiplier`=0."
    )
  checks.check_key(fn, "key", key)
  checks.check_key(fn, "seed", seed)
  if seed is not None:
    warnings.warn(f"{fn}: `seed` is deprecated, pass `key` instead.", DeprecationWarning,
                  stacklevel=2)
    if key is not None:
      raise ValueError(f"{fn}: pass only one of `key` and `seed`.")
    key = jax.random.key(seed)
  if key is None:
    warnings.warn(f"{fn}: no `key` given, using jax.random.key(0); pass a key.", stacklevel=2)
    key = jax.random.key(0)
  key = _canonical_key(key)
  noise_std = l2_norm_clip * noise_multiplier

  def init_fn(params):
    del params
    return DifferentiallyPrivateAggregateState(rng_key=key)

  def update_fn(updates, state, params=None):
    del params
    leaves, treedef = jax.tree.flatten(updates)
    batch_size = leaves[0].shape[0] if leaves else 1
    clipped, _ = clipping.per_example_global_norm_clip(leaves, l2_norm_clip)
    new_key, *keys = jax.random.split(state.rng_key, len(leaves) + 1)
    noised = [
        (g + noise_std * jax.random.normal(k, g.shape, g.dtype)) / batch_size
        for g, k in zip(clipped, keys)
    ]
    return jax.tree.unflatten(treedef, noised), DifferentiallyPrivateAggregateState(new_key)

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn),
      "per_leaf", "differentially_private_aggregate",
      why="per-example norms along each leaf's batch axis")


@checks.public
def dpsgd(
    learning_rate: base.ScalarOrSchedule,
    l2_norm_clip: jax.typing.ArrayLike,
    noise_multiplier: jax.typing.ArrayLike,
    seed: int,
    momentum: Optional[jax.typing.ArrayLike] = None,
    nesterov: bool = False,
) -> base.GradientTransformationExtraArgs:
  """DP-SGD: `differentially_private_aggregate`, optional momentum, learning rate.

  .. math::
    x_{t+1} = x_t - \\eta_t\\, \\text{trace}(u_t)

  with :math:`u_t` from `differentially_private_aggregate` (key
  `jax.random.key(seed)`) and `trace` the heavy-ball (or Nesterov) momentum
  when `momentum` is given. Updates take per-example gradients (batch on axis
  0). Abadi et al., 2016 (https://arxiv.org/abs/1607.00133).

  Args:
    learning_rate: constant or schedule, >= 0.
    l2_norm_clip: the per-example clipping norm.
    noise_multiplier: the noise standard deviation relative to the clipping norm.
    seed: the integer seed of the noise.
    momentum: the momentum decay; `None` for none.
    nesterov: Nesterov momentum.

  Returns:
    A `GradientTransformationExtraArgs`.
  """
  checks.check_key("dpsgd", "seed", seed)
  checks.check_decay("dpsgd", "momentum", momentum)  # named here, not as `trace`'s `decay`
  return combine.chain(
      differentially_private_aggregate(
          l2_norm_clip=l2_norm_clip, noise_multiplier=noise_multiplier, key=jax.random.key(seed)
      ),
      momentum_lib.trace(decay=momentum, nesterov=nesterov) if momentum is not None else scaling.identity(),
      scaling.scale_by_learning_rate(learning_rate),
  )
per_example_global_norm_clip = clipping.per_example_global_norm_clip  # one copy, in transforms/clipping.py
