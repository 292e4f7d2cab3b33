"""Early stopping as a pure, jittable state machine: `early_stopping`."""

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jopt._src import checks


class EarlyStoppingState(NamedTuple):
  """State of `early_stopping`."""

  best_value: jax.Array  # shape=(), float32: the best value so far (+inf for "min", -inf for "max").
  best_step: jax.Array  # shape=(), int32: index of the update that gave it (-1 before any).
  step: jax.Array  # shape=(), int32: values seen so far.
  wait: jax.Array  # shape=(), int32: values since the last improvement.
  should_stop: jax.Array  # shape=(), bool: True once `wait >= patience`; stays True.
  best_params: Any  # the params at `best_step` (`None` unless keep_best_params).


class EarlyStopping(NamedTuple):
  """The `init` and `update` functions of `early_stopping`."""

  init: Callable[..., EarlyStoppingState]
  update: Callable[..., EarlyStoppingState]


@checks.public
def early_stopping(
    patience: int,
    min_delta: float = 0.0,
    mode: str = "min",
    keep_best_params: bool = False,
) -> EarlyStopping:
  """Tracks a monitored value and says when it has not improved for `patience` updates.

  For each value `v_t` (t = 0, 1, ...), with best value `b` (initially +inf for
  `mode="min"`, -inf for `"max"`):

  .. math::
    \\text{improved} \\iff v_t < b - \\text{min\\_delta} \\ (\\text{min}) \\quad
    \\text{or} \\quad v_t > b + \\text{min\\_delta} \\ (\\text{max});

  on improvement `b <- v_t`, `best_step <- t`, `wait <- 0`, else `wait += 1`;
  `should_stop` becomes (and stays) True when `wait >= patience`. A NaN value
  never improves. These are Keras' `EarlyStopping` rules
  (https://keras.io/api/callbacks/early_stopping/) as a pure function: `init`
  and `update` only build arrays, so they run under `jit`, `vmap` and inside
  `jax.lax.while_loop` (use `state.should_stop` in the loop condition).

  Args:
    patience: values without improvement before stopping, an integer >= 1.
    min_delta: the smallest change that counts as an improvement, >= 0.
    mode: "min" (a loss) or "max" (an accuracy).
    keep_best_params: also keep a copy of the params passed with the best
      value (`update(value, state, params)`; `init(params)` for the shapes).

  Returns:
    `EarlyStopping(init, update)`: `init(params=None) -> EarlyStoppingState`,
    `update(value, state, params=None) -> EarlyStoppingState`.

  Example:
    >>> import jopt
    >>> stopper = jopt.early_stopping(patience=2)
    >>> state = stopper.init()
    >>> for loss in [3.0, 2.0, 2.5, 2.1]:
    ...   state = stopper.update(loss, state)
    >>> bool(state.should_stop), int(state.best_step), float(state.best_value)
    (True, 1, 2.0)
  """
  fn = "early_stopping"
  checks.check_positive_int(fn, "patience", patience)
  checks.check_nonnegative(fn, "min_delta", min_delta)
  checks.check_finite(fn, "min_delta", min_delta)
  if mode not in ("min", "max"):
    raise ValueError(f'{fn}: `mode` must be "min" or "max", got {mode!r}.')
  sign = 1.0 if mode == "min" else -1.0  # compare sign * v, so "max" becomes "min".

  def init_fn(params: Optional[Any] = None) -> EarlyStoppingState:
    if keep_best_params and params is None:
      raise ValueError(f"{fn}: keep_best_params=True needs `init(params)`.")
    return EarlyStoppingState(
        best_value=jnp.asarray(sign * jnp.inf, jnp.float32),
        best_step=jnp.asarray(-1, jnp.int32),
        step=jnp.zeros([], jnp.int32),
        wait=jnp.zeros([], jnp.int32),
        should_stop=jnp.array(False),
        best_params=jax.tree.map(jnp.asarray, params) if keep_best_params else None,
    )

  def update_fn(value: Any, state: EarlyStoppingState, params: Optional[Any] = None
                ) -> EarlyStoppingState:
    if keep_best_params and params is None:
      raise ValueError(f"{fn}: keep_best_params=True needs `update(value, state, params)`.")
    v = jnp.asarray(value, jnp.float32)
    improved = sign * v < sign * state.best_value - min_delta
    wait = jnp.where(improved, 0, state.wait + 1).astype(jnp.int32)
    best_params = state.best_params
    if keep_best_params:
      best_params = jax.tree.map(
          lambda new, old: jnp.where(improved, new, old).astype(old.dtype), params, best_params
      )
    return EarlyStoppingState(
        best_value=jnp.where(improved, v, state.best_value),
        best_step=jnp.where(improved, state.step, state.best_step).astype(jnp.int32),
        step=state.step + 1,
        wait=wait,
        should_stop=jnp.logical_or(state.should_stop, wait >= patience),
        best_params=best_params,
    )

  return EarlyStopping(init_fn, update_fn)
