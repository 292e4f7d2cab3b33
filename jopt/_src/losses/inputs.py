"""Input checks for the losses: dtype, rank and shape errors that name the loss (static, free under jit)."""

from typing import Any, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np

from jopt._src import checks


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


def check_broadcastable(fn: str, *, outer_ok: bool = False, **arrays: Any) -> None:
  """Raises `ValueError` unless the arrays (or shape tuples; `None` skipped) broadcast together to
  the shape of one of them.

  One-sided broadcasting is kept (`labels` of shape (3,) against `logits` (4, 3), a scalar
  target); a broadcast that grows every input is refused: `targets` (n, 1) against `predictions`
  (n,) would silently give an (n, n) loss (`outer_ok=True` allows it where jopt itself builds an
  outer product, e.g. all pairs of embeddings). Shapes only: free under `jit`.
  """
  shapes = {k: v if isinstance(v, tuple) else np.shape(v) for k, v in arrays.items() if v is not None}
  described = ", ".join(f"`{k}` {v}" for k, v in shapes.items())
  try:
    out = np.broadcast_shapes(*shapes.values())
  except ValueError:
    raise ValueError(f"{fn}: the shapes do not broadcast together: {described}.") from None
  if not outer_ok and out not in shapes.values():
    raise ValueError(
        f"{fn}: the shapes {described} broadcast only to {out}, larger than every input (e.g. (n,) "
        f"against (n, 1) gives (n, n)); give them the same shape, or a shape that broadcasts to "
        f"the other's.")


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


# --- hyperparameters: checked when known (Python numbers, concrete arrays), skipped when traced ---


def check_scalar(fn: str, name: str, value: Any, low: Optional[float] = None,
                 high: Optional[float] = None, *, low_inclusive: bool = True,
                 high_inclusive: bool = True, optional: bool = False) -> None:
  """A scalar hyperparameter: a real number or a 0-d real array, finite and within the bounds.

  A string, a bool, `None` (unless `optional`), a list, a non-scalar array or a complex number
  is a `TypeError`; NaN, ±inf (or a value that is inf in JAX's default float) and a value out of
  the bounds a `ValueError`, naming the loss and the argument. A tracer (the loss under `jit`,
  `vmap` or `grad` of the hyperparameter) is not checked and costs nothing.
  """
  if value is None:
    if optional:
      return
    raise TypeError(f"{fn}: `{name}` must be a real number, got None.")
  if isinstance(value, jax.core.Tracer):
    return
  what = f"{fn}: `{name}` must be a real number (a scalar)"
  if callable(value) or isinstance(value, (bool, np.bool_, str, bytes)):
    raise TypeError(f"{what}, got {value!r} ({type(value).__name__}).")
  known = checks.concrete_value(value)
  if known is None or known.dtype == object or not (
      jnp.issubdtype(known.dtype, jnp.floating) or jnp.issubdtype(known.dtype, jnp.integer)):
    raise TypeError(f"{what}, got {value!r} ({type(value).__name__}).")
  if known.shape != ():
    raise TypeError(f"{what}, got an array of shape {known.shape}.")
  checks.check_range(fn, name, value, low, high, low_inclusive=low_inclusive,
                     high_inclusive=high_inclusive, finite=True)


def check_flag(fn: str, name: str, value: Any) -> None:
  """A bool flag (`apply_softmax`): the string "false" is truthy; anything but a bool is a `TypeError`."""
  if not isinstance(value, (bool, np.bool_)):
    raise TypeError(
        f"{fn}: `{name}` must be True or False, got {value!r} ({type(value).__name__}).")


def check_axis(fn: str, name: str, axis: Any, ndim: int, optional: bool = True) -> None:
  """`None` (when `optional`), an int or a tuple of ints, each within `[-ndim, ndim)`."""
  if axis is None and optional:
    return
  items = axis if isinstance(axis, tuple) else (axis,)
  if not items or not all(isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_))
                          for a in items):
    allowed = "None, an int or a tuple of ints" if optional else "an int or a tuple of ints"
    raise TypeError(f"{fn}: `{name}` must be {allowed}, got {axis!r}.")
  for a in items:
    if not -ndim <= a < ndim:
      raise ValueError(f"{fn}: `{name}` {a} is out of bounds for an array with {ndim} dimensions.")


def check_labels_in_range(fn: str, labels: Any, num_classes: int) -> None:
  """Integer labels given as host data (NumPy arrays, Python ints or lists) must lie in
  `[0, num_classes)`; JAX arrays are not read back (that would wait for the device), tracers
  never."""
  if isinstance(labels, (jax.Array, jax.core.Tracer)):
    return
  host = np.asarray(labels)
  if host.size and (host.min() < 0 or host.max() >= num_classes):
    raise ValueError(
        f"{fn}: `labels` must be class indices in [0, {num_classes}), got values from "
        f"{host.min()} to {host.max()}.")
