"""What a training step does with a non-finite loss or gradient: `nan_policy` and `NonFiniteError`."""

from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

NAN_POLICIES = ("ignore", "skip", "raise")


class NonFiniteError(FloatingPointError):
  """A training step saw a non-finite loss or gradient under ``nan_policy="raise"``.

  The step's update was not applied (the compiled step skips it, as under
  ``"skip"``), so ``state`` holds finite parameters and can be used to continue
  (e.g. with a lower learning rate) or be saved.

  Attributes:
    step: the index of the failing step (``state.step`` before it ran).
    metric: ``"loss"`` or ``"grad_norm"``: the first non-finite one.
    value: that metric's value (NaN or ±inf).
    state: the `TrainState` returned by the last step run (the failing step's
      update not applied; with ``nan_check_every > 1``, later steps may have run).
  """

  def __init__(self, message: str, *, step: int, metric: str, value: float, state: Any):
    super().__init__(message)
    self.step = step
    self.metric = metric
    self.value = value
    self.state = state


def check_policy(fn: str, nan_policy: Any, nan_check_every: Any) -> None:
  """Raises `ValueError` for an unknown policy or a check period that is not a positive integer."""
  if nan_policy not in NAN_POLICIES:
    raise ValueError(f"{fn}: `nan_policy` must be one of {NAN_POLICIES}, got {nan_policy!r}.")
  if isinstance(nan_check_every, (bool, np.bool_)) or not isinstance(
      nan_check_every, (int, np.integer)) or nan_check_every < 1:
    raise ValueError(
        f"{fn}: `nan_check_every` must be a positive integer, got {nan_check_every!r}."
    )


def all_finite(loss: jax.Array, grads: Any) -> jax.Array:
  """A bool scalar: the loss and every gradient entry are finite (one fused reduction per leaf)."""
  ok = jnp.isfinite(loss)
  for g in jax.tree.leaves(grads):
    ok = ok & jnp.all(jnp.isfinite(g))
  return ok


def select_finite(finite: jax.Array, new: Any, old: Any) -> Any:
  """`new` where `finite`, else `old`, leaf by leaf (a select XLA fuses into the update)."""
  return jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)


class Checker:
  """The host side of ``nan_policy="raise"``: reads the steps' flags every `every` steps.

  Each check is one `jax.device_get` of the pending flags (a host sync: the host
  waits for those steps to finish before it can enqueue the next one). With
  `every > 1` the host keeps dispatching ahead in between, and the error still names
  the first failing step.
  """

  def __init__(self, fn: str, every: int, first_of: Any):
    self._fn = fn
    self._every = every
    self._first_of = first_of  # the first copy of a (possibly replicated) scalar
    self._pending: list[tuple[Any, ...]] = []

  def __call__(self, state: Any, metrics: dict[str, Any]) -> None:
    # Only metrics are kept: the state's buffers are donated to the next step.
    self._pending.append((metrics["nonfinite"], metrics["loss"], metrics["grad_norm"]))
    if len(self._pending) >= self._every:
      self.flush(state)

  def flush(self, state: Any) -> None:
    """Reads every pending flag (one sync) and raises `NonFiniteError` for the first failure.

    `state` is the latest state; the pending steps are its last ones, so the
    failing step's index is read from `state.step` only when one failed.
    """
    pending, self._pending = self._pending, []
    for i, (bad, loss, grad_norm) in enumerate(jax.device_get(pending)):
      if not bool(self._first_of(bad)):
        continue
      loss, grad_norm = float(self._first_of(loss)), float(self._first_of(grad_norm))
      metric, value = ("loss", loss) if not np.isfinite(loss) else ("grad_norm", grad_norm)
      index = int(self._first_of(jax.device_get(state.step))) - (len(pending) - i)
      raise NonFiniteError(
          f"{self._fn}: non-finite {metric} ({value}) at step {index} (nan_policy='raise'). "
          f"That step's update was not applied: `error.state` holds finite parameters. "
          f"Lower the learning rate, check the batch, or use nan_policy='skip'.",
          step=index, metric=metric, value=value, state=state,
      )


def first(x: Any) -> Optional[Any]:
  """The first element of a replicated (pmap) host value, or the value itself if scalar."""
  arr = np.asarray(x)
  return arr.reshape(-1)[0] if arr.ndim else arr
