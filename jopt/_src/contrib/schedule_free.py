"""Schedule-Free learning: interpolation and averaging in place of momentum and learning-rate decay."""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import combine
from jopt._src import numerics
from jopt._src.contrib import tree_ops
from jopt._src.optimizers import sgd as sgd_lib
from jopt._src.schedules import warmup
from jopt._src.transforms import regularization
from jopt._src.transforms import rms
from jopt._src.transforms import scaling


class ScheduleFreeState(NamedTuple):
  """State of `schedule_free`."""

  b1: jax.Array  # shape=(), the interpolation weight (params' lowest dtype).
  weight_sum: jax.Array  # shape=(), sum of the averaging weights so far.
  step_count: jax.Array  # shape=(), dtype=int32, starts at 1.
  max_lr: jax.Array  # shape=(), the largest learning rate seen.
  base_optimizer_state: base.OptState
  z: base.Params  # the base optimizer's iterate (state_dtype or the params').


def _find_schedule_free_state(state: Any) -> Any:
  if hasattr(state, "b1") and hasattr(state, "z"):
    return state
  found = [
      s for s in jax.tree.leaves(state, is_leaf=lambda s: isinstance(s, ScheduleFreeState))
      if isinstance(s, ScheduleFreeState)
  ]
  if len(found) != 1:
    raise ValueError(
        "schedule_free_eval_params: `state` must be the state of a `schedule_free` optimizer "
        f"(or contain exactly one ScheduleFreeState), got {type(state).__name__} "
        f"containing {len(found)}."
    )
  return found[0]


def schedule_free_eval_params(state: base.OptState, params: base.Params):
  r"""The averaged iterate `x` of a schedule-free optimizer: the params to evaluate.

  Training params are :math:`y = \beta_1 x + (1-\beta_1) z`; this returns
  :math:`x = (y - (1-\beta_1) z) / \beta_1`.

  Args:
    state: the optimizer state of :func:`schedule_free` (or of an alias built
      on it); jopt also finds a single `ScheduleFreeState` nested in a larger
      state (e.g. a chain), where optax needs it at the top.
    params: the current (training) params `y`.

  Returns:
    The evaluation params `x`, a tree like `params`.

  Raises:
    ValueError: if `state` has no schedule-free state.
  """
  state = _find_schedule_free_state(state)
  b1, z = state.b1, state.z
  if b1 is None or z is None:
    raise ValueError("schedule_free_eval_params requires a ScheduleFreeState as input.")
  return jax.tree.map(lambda y, zi: (y - (1.0 - b1) * zi) / b1, params, z)


@checks.public
def schedule_free(
    base_optimizer: base.GradientTransformation,
    learning_rate: base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    weight_lr_power: jax.typing.ArrayLike = 2.0,
    state_dtype: Optional[jax.typing.DTypeLike] = None,
) -> base.GradientTransformationExtraArgs:
  r"""Makes `base_optimizer` schedule-free: no learning-rate decay and no momentum needed.

  The base optimizer (with its momentum switched off) moves an iterate `z`;
  the params handed to the model are an interpolation `y` of `z` and a weighted
  average `x` of the past `z`:

  .. math::
    z_{t+1} = z_t + u^{base}_t(\nabla f(y_t)), \quad
    c_{t+1} = \frac{\gamma_{\max,t}^{p}}{\sum_{i \le t} \gamma_{\max,i}^{p}}, \\
    x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1}, \quad
    y_{t+1} = \beta_1 x_{t+1} + (1 - \beta_1) z_{t+1},

  with :math:`\gamma_{\max,t}` the largest learning rate so far and `p` =
  `weight_lr_power` (small weights during warmup). `x` is recomputed from `y`
  and `z`, so memory is that of the base optimizer plus `z`. A schedule
  `learning_rate` is evaluated at the 1-based step count. Evaluate the model at
  :func:`schedule_free_eval_params` (`x`).

  Defazio et al., 2024, "The Road Less Scheduled"
  (https://arxiv.org/abs/2405.15682).

  Args:
    base_optimizer: the optimizer moving `z` (e.g. `sgd(lr)` or Adam with `b1=0`).
    learning_rate: the base optimizer's learning rate or schedule (warmup, no decay).
    b1: the interpolation weight, in (0, 1].
    weight_lr_power: exponent `p` of the averaging weights.
    state_dtype: dtype of `z` (default: the params').

  Returns:
    A `GradientTransformationExtraArgs` with state `ScheduleFreeState`;
    `update` needs `params`. Updates keep each param's dtype.

  Example:
    >>> import jax.numpy as jnp
    >>> import jopt
    >>> from jopt.contrib import schedule_free, schedule_free_eval_params
    >>> tx = schedule_free(jopt.sgd(1.0), learning_rate=1.0)
    >>> params = jnp.array([1.0, 2.0])
    >>> state = tx.init(params)
    >>> updates, state = tx.update(2 * params, state, params)
    >>> eval_params = schedule_free_eval_params(state, jopt.apply_updates(params, updates))
  """
  fn = "schedule_free"
  checks.check_range(fn, "b1", b1, 0.0, 1.0, low_inclusive=False)
  checks.check_finite(fn, "weight_lr_power", weight_lr_power)
  checks.check_nonnegative(fn, "learning_rate", learning_rate)
  state_dtype = numerics.canonicalize_dtype(state_dtype)
  base_optimizer = combine.with_extra_args_support(base_optimizer)

  def init_fn(params):
    dtype = tree_ops.lowest_dtype(params)
    # A copy, so that params and z are distinct buffers (both may be donated).
    z = jax.tree.map(lambda p: jnp.array(p, dtype=state_dtype, copy=True), params)
    return ScheduleFreeState(
        b1=jnp.asarray(b1, dtype=dtype),
        weight_sum=jnp.zeros([], dtype=dtype),
        step_count=jnp.ones([], dtype=jnp.int32),
        max_lr=jnp.zeros([], dtype=dtype),
        base_optimizer_state=base_optimizer.init(params),
        z=z,
    )

  def update_fn(updates, state, params=None, **extra_args):
    checks.require_params(fn, params)
    lr = learning_rate
    if callable(learning_rate):
      lr = jnp.asarray(learning_rate(state.step_count), dtype=state.max_lr.dtype)
    max_lr = jnp.maximum(state.max_lr, lr)
    weight = max_lr**weight_lr_power
    weight_sum = state.weight_sum + weight
    # 0 / 0 (every learning rate so far 0, e.g. warmup from 0) means "no averaging
    # yet": the weight is 0; a NaN learning rate stays NaN.
    nan = jnp.isnan(weight) | jnp.isnan(weight_sum)
    ck = jnp.where(nan, jnp.nan, jnp.nan_to_num(weight / weight_sum, nan=0.0, posinf=jnp.inf))

    base_updates, base_state = base_optimizer.update(
        updates, state.base_optimizer_state, params, **extra_args
    )
    z = jax.tree.map(lambda zi, u: (zi + u).astype(zi.dtype), state.z, base_updates)

    def step(y, z_old, z_new):
      x_old = (y - (1.0 - b1) * z_old) / b1
      x_new = (1.0 - ck) * x_old + ck * z_new
      return (b1 * x_new + (1.0 - b1) * z_new - y).astype(y.dtype)

    new_updates = jax.tree.map(step, params, state.z, z)
    return new_updates, ScheduleFreeState(
        b1=state.b1,
        weight_sum=weight_sum,
        step_count=numerics.safe_increment(state.step_count),
        max_lr=max_lr,
        base_optimizer_state=base_state,
        z=z,
    )

  return base.GradientTransformationExtraArgs(init_fn, update_fn)


def _warmup(learning_rate: Any, warmup_steps: Optional[int]) -> Any:
  if warmup_steps is None:
    return learning_rate
  return warmup.warmup_constant_schedule(
      init_value=0, peak_value=learning_rate, warmup_steps=warmup_steps
  )


@checks.public
def schedule_free_sgd(
    learning_rate: jax.typing.ArrayLike = 1.0,
    warmup_steps: Optional[int] = None,
    b1: jax.typing.ArrayLike = 0.9,
    weight_decay: Optional[jax.typing.ArrayLike] = None,
    weight_lr_power: jax.typing.ArrayLike = 2.0,
    state_dtype: Optional[jax.typing.DTypeLike] = None,
) -> base.GradientTransformationExtraArgs:
  r"""Schedule-free SGD: `schedule_free(sgd(lr))`, with an optional linear warmup and L2 decay.

  .. math::
    z_{t+1} = z_t - \gamma_t (\nabla f(y_t) + \lambda y_t)

  and `x`, `y` as in :func:`schedule_free`. With `warmup_steps`, the learning
  rate rises linearly from 0 to `learning_rate` and then stays constant.

  Defazio et al., 2024, "The Road Less Scheduled"
  (https://arxiv.org/abs/2405.15682).

  Args:
    learning_rate: the SGD learning rate (peak after warmup).
    warmup_steps: length of the linear warmup, or None for none.
    b1: the interpolation weight, in (0, 1].
    weight_decay: L2 strength added to the gradient (None: no decay).
    weight_lr_power: exponent of the averaging weights.
    state_dtype: dtype of `z` (default: the params').

  Returns:
    A `GradientTransformationExtraArgs` with state `ScheduleFreeState`.

  Example:
    >>> import jax.numpy as jnp
    >>> from jopt.contrib import schedule_free_sgd
    >>> tx = schedule_free_sgd(0.1, warmup_steps=10)
    >>> state = tx.init(jnp.ones(3))
  """
  learning_rate = _warmup(learning_rate, warmup_steps)
  optimizer = sgd_lib.sgd(learning_rate)
  if weight_decay is not None:
    optimizer = combine.chain(regularization.add_decayed_weights(weight_decay), optimizer)
  return schedule_free(
      optimizer,
      learning_rate=learning_rate,
      b1=b1,
      weight_lr_power=weight_lr_power,
      state_dtype=state_dtype,
  )


@checks.public
def schedule_free_adamw(
    learning_rate: jax.typing.ArrayLike = 0.0025,
    warmup_steps: Optional[int] = None,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 0.0,
    weight_lr_power: jax.typing.ArrayLike = 2.0,
    state_dtype: Optional[jax.typing.DTypeLike] = None,
) -> base.GradientTransformationExtraArgs:
  r"""Schedule-free AdamW: AdamW without momentum (`b1 = 0`) inside `schedule_free`.

  .. math::
    v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \quad
    z_{t+1} = z_t - \gamma_t \left(\frac{g_t}{\sqrt{v_t / (1-\beta_2^t)} + \epsilon}
      + \lambda y_t\right)

  and `x`, `y` as in :func:`schedule_free`; `b1` is the interpolation weight,
  not a momentum. The base optimizer is `scale_by_rms(b2, eps,
  eps_in_sqrt=False, bias_correction=True)`, which stores no first moment.

  Defazio et al., 2024, "The Road Less Scheduled"
  (https://arxiv.org/abs/2405.15682).

  Args:
    learning_rate: the AdamW learning rate (peak after warmup).
    warmup_steps: length of the linear warmup, or None for none.
    b1: the interpolation weight, in (0, 1].
    b2: decay of the second moment, in [0, 1).
    eps: added to the denominator outside the square root.
    weight_decay: decoupled weight decay strength (times the learning rate).
    weight_lr_power: exponent of the averaging weights.
    state_dtype: dtype of `z` (default: the params').

  Returns:
    A `GradientTransformationExtraArgs` with state `ScheduleFreeState`.

  Example:
    >>> import jax.numpy as jnp
    >>> from jopt.contrib import schedule_free_adamw
    >>> tx = schedule_free_adamw(1e-3, warmup_steps=100, weight_decay=1e-4)
    >>> state = tx.init(jnp.ones(3))
  """
  learning_rate = _warmup(learning_rate, warmup_steps)
  optimizer = combine.chain(
      rms.scale_by_rms(decay=b2, eps=eps, eps_in_sqrt=False, bias_correction=True),
      regularization.add_decayed_weights(weight_decay),
      scaling.scale_by_learning_rate(learning_rate),
  )
  return schedule_free(
      optimizer,
      learning_rate=learning_rate,
      b1=b1,
      weight_lr_power=weight_lr_power,
      state_dtype=state_dtype,
  )
