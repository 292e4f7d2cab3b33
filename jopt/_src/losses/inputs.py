"""Input checks for the losses: dtype, rank and shape errors that name the loss (static, free under jit)."""

from typing import Any, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np


def as_array(x: Any) -> jax.Array:
  """`x` as a JAX array (tracers pass through)."""
  return jnp.asarray(x)


def optional_array(x: Any) -> Optional[jax.Array]:
  """`x` as a JAX array, `None` kept (optional masks and weights)."""
  return None if x is None else jnp.asarray(x)


def check_floating(fn: str, name: str, x: Any) -> None:
  """Raises `TypeError` (optax's category) unless `x` has a floating dtype."""
  dtype = jax.dtypes.result_type(x)
  if not jnp.issubdtype(dtype, jnp.floating):
    raise TypeError(f"{fn}: `{name}` must have a floating dtype, got {dtype}.")


def check_integer(fn: str, name: str, x: Any) -> None:
  """Raises `TypeError` unless `x` has an integer dtype (class indices)."""
  dtype = jax.dtypes.result_type(x)
  if not jnp.issubdtype(dtype, jnp.integer):
    raise TypeError(f"{fn}: `{name}` must have an integer dtype (class indices), got {dtype}.")


def check_rank(fn: str, name: str, x: jax.Array, rank: int, layout: str = "") -> None:
  """Raises `ValueError` unless `x.ndim == rank`."""
  if x.ndim != rank:
    hint = f" {layout}" if layout else ""
    raise ValueError(f"{fn}: `{name}` must have rank {rank}{hint}, got shape {x.shape}.")


def check_same_shape(fn: str, a_name: str, a: jax.Array, b_name: str, b: jax.Array) -> None:
  """Raises `ValueError` unless `a` and `b` have the same shape."""
  if a.shape != b.shape:
    raise ValueError(
        f"{fn}: `{a_name}` and `{b_name}` must have the same shape, got {a.shape} and {b.shape}."
    )


def check_broadcastable(fn: str, **arrays: Any) -> None:
  """Raises `ValueError` unless the given arrays (or shape tuples; `None` skipped) broadcast together."""
  shapes = {k: v if isinstance(v, tuple) else np.shape(v) for k, v in arrays.items() if v is not None}
  try:
    np.broadcast_shapes(*shapes.values())
  except ValueError:
    shapes = ", ".join(f"`{k}` {v}" for k, v in shapes.items())
    raise ValueError(f"{fn}: the shapes do not broadcast together: {shapes}.") from None


def check_batch_labels(fn: str, labels: jax.Array, scores_name: str, scores_shape: tuple,
                       batch_shape: tuple) -> None:
  """Raises `ValueError` unless integer `labels` broadcast to the batch shape of the scores."""
  ok = len(labels.shape) == len(batch_shape)
  try:
    np.broadcast_shapes(labels.shape, batch_shape)
  except ValueError:
    ok = False
  if not ok:
    raise ValueError(
        f"{fn}: `labels` must have the batch shape {batch_shape} of `{scores_name}` "
        f"{scores_shape} (one class index per example), got {labels.shape}."
    )


def canonical_axes(fn: str, axis: Union[int, Sequence[int]], ndim: int) -> tuple[int, ...]:
  """`axis` (an int or a tuple of ints) as a tuple of non-negative axes, checked against `ndim`."""
  axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
  out = []
  for a in axes:
    if not -ndim <= a < ndim:
      raise ValueError(f"{fn}: axis {a} is out of bounds for an array with {ndim} dimensions.")
    out.append(int(a) % ndim)
  return tuple(out)
