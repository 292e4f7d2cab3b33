"""The training state carried from step to step, and its pure initialiser."""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jopt._src import base


class TrainState(NamedTuple):
  """Everything a training step reads and writes; a pytree (jit/vmap/pmap/orbax friendly).

  Attributes:
    step: int32 scalar, the number of steps taken so far.
    params: the trainable parameters (any pytree of arrays).
    opt_state: `tx.init(params)`.
    model_state: mutable non-trainable state (e.g. batch-norm statistics) or None.
    rng: the base PRNG key, or None; step `k` uses `jax.random.fold_in(rng, k)`
      and the base key itself never changes.
    nonfinite_steps: int32 scalar, the number of steps whose loss or gradient
      was NaN or ±inf (their updates skipped unless `nan_policy="ignore"`), or
      None (not counted).
  """

  step: jax.Array  # int32[]
  params: base.Params
  opt_state: base.OptState
  model_state: Any = None
  rng: Optional[jax.Array] = None
  nonfinite_steps: Optional[jax.Array] = None  # int32[]


def as_key(rng: Any) -> Optional[jax.Array]:
  """`None`, an int seed or a PRNG key (typed or raw uint32[2]) as a key, or None."""
  if rng is None:
    return None
  if isinstance(rng, int) and not isinstance(rng, bool):
    return jax.random.key(rng)
  return rng


def init_train_state(
    params: base.Params,
    tx: base.GradientTransformation,
    rng: Any = None,
    model_state: Any = None,
) -> TrainState:
  """A fresh `TrainState`: step 0, `tx.init(params)`; pure and un-jitted (vmappable).

  Args:
    params: the initial parameters.
    tx: the gradient transformation (any jopt or optax transform).
    rng: None, an int seed or a PRNG key for the loss function's per-step randomness.
    model_state: initial mutable model state (e.g. batch-norm statistics), or None.

  Returns:
    `TrainState(step=0, params, tx.init(params), model_state, rng, nonfinite_steps=0)`.
  """
  return TrainState(
      step=jnp.zeros([], jnp.int32),
      params=params,
      opt_state=tx.init(params),
      model_state=model_state,
      rng=as_key(rng),
      nonfinite_steps=jnp.zeros([], jnp.int32),
  )
