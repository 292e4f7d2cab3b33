"""`torch.optim.lr_scheduler` schedulers as jopt schedules `step -> lr`.

Convention: PyTorch calls `scheduler.step()` after `optimizer.step()`, so the
update with count `k` (0 for the first) uses the learning rate after `k`
scheduler steps: `schedule(k) == scheduler.get_last_lr()[0]` after `k` calls.
That is also the count jopt's `scale_by_learning_rate` passes to a schedule.
PyTorch computes most schedulers recursively (`lr <- lr * factor`) in float64;
jopt evaluates the closed forms in float32, written so that no step loses
precision (integer step arithmetic, float64 logs of the decay factors taken at
build time, `sin^2` instead of `1 + cos` near the end of a cosine). Schedulers
that PyTorch steps once per *epoch* take an epoch index: wrap them with
`per_epoch(schedule, steps_per_epoch)` to drive them with the update count.
"""

import math
from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src.schedules import _common
from jopt._src.schedules import cyclic
from jopt._src.schedules import join
from jopt._src.schedules import piecewise
from jopt._src.schedules import step_decay


def _step(count: Any) -> jax.Array:
  """The step count as int32 (a float count is floored)."""
  count = jnp.asarray(count)
  if not jnp.issubdtype(count.dtype, jnp.integer):
    count = jnp.floor(count)
  return count.astype(jnp.int32)


def _check_lr(fn: str, name: str, lr: Any) -> None:
  """A learning rate: a finite number >= 0 (PyTorch's optimizers refuse a negative `lr`)."""
  checks.check_nonnegative(fn, name, lr, required=True)


def _half_cosine(start: Any, end: Any, remaining: jax.Array, span: Any) -> jax.Array:
  """`end + (start - end) (1 + cos(pi (1 - remaining/span))) / 2`, as `sin^2(pi remaining / (2 span))`.

  `_common.cosine_interpolate` is the same curve in optax's `1 + cos` form,
  which cancels near `end` (up to 1e-4 relative error in the last steps of a
  200-step `CosineAnnealingLR`); here `remaining = span - elapsed` is formed in
  integers before dividing and the value stays accurate to float32 rounding
  right up to `end` (4e-7).
  """
  s = jnp.sin(jnp.asarray(remaining, jnp.float32) * (math.pi / 2) / span)
  return end + (start - end) * s * s


@checks.public
def per_epoch(schedule: base.Schedule, steps_per_epoch: int) -> base.Schedule:
  """Drives a per-epoch schedule with the update count: `count -> schedule(count // steps_per_epoch)`.

  A PyTorch loop that calls `scheduler.step()` once per epoch of
  `steps_per_epoch` updates uses the same learning rate for the whole epoch.

  Args:
    schedule: a schedule of the epoch index.
    steps_per_epoch: updates per epoch (PyTorch's `len(train_loader)`), >= 1.

  Returns:
    A schedule of the update count.

  Example:
    >>> import jopt
    >>> lr = jopt.torch.per_epoch(jopt.torch.step_lr(0.1, step_size=30), steps_per_epoch=500)
    >>> round(float(lr(30 * 500 - 1)), 6), round(float(lr(30 * 500)), 6)
    (0.1, 0.01)
  """
  checks.check_function("per_epoch", "schedule", schedule)
  n = checks.check_int("per_epoch", "steps_per_epoch", steps_per_epoch)
  return lambda count: schedule(_step(count) // n)


@checks.public
def lambda_lr(lr: float, lr_lambda: Callable[[jax.Array], Any]) -> base.Schedule:
  """`LambdaLR`: `lr * lr_lambda(k)` (`lr_lambda` must accept a traced step)."""
  _check_lr("lambda_lr", "lr", lr)
  checks.check_function("lambda_lr", "lr_lambda", lr_lambda)
  return lambda count: jnp.asarray(lr * lr_lambda(_step(count)), jnp.float32)


@checks.public
def step_lr(lr: float, step_size: int, gamma: float = 0.1) -> base.Schedule:
  """`StepLR`: `lr * gamma ** (k // step_size)`.

  Args:
    lr: the optimizer's initial learning rate.
    step_size: steps (epochs in PyTorch's usual loop) between decays, >= 1.
    gamma: the decay factor, >= 0.

  Returns:
    A schedule `k -> lr_k`: `jopt.step_decay(lr, step_size, gamma)`.
  """
  _check_lr("step_lr", "lr", lr)
  checks.check_nonnegative("step_lr", "gamma", gamma)
  return step_decay.step_decay(lr, checks.check_int("step_lr", "step_size", step_size), gamma)


@checks.public
def multi_step_lr(lr: float, milestones: Sequence[int], gamma: float = 0.1) -> base.Schedule:
  """`MultiStepLR`: `lr * gamma ** (number of milestones <= k)` (repeated milestones count twice, as in PyTorch).

  This is `jopt.piecewise_constant_schedule(lr, {m: gamma ** repeats})`
  (`jopt.multistep_decay` when no milestone repeats).
  """
  fn = "multi_step_lr"
  _check_lr(fn, "lr", lr)
  ms = [checks.check_whole(fn, f"milestones[{i}]", m, 0)
        for i, m in enumerate(checks.check_sequence(fn, "milestones", milestones))]
  checks.check_nonnegative(fn, "gamma", gamma)
  scales = {m: gamma ** ms.count(m) for m in sorted(set(ms))}
  return piecewise.piecewise_constant_schedule(lr, scales)


@checks.public
def constant_lr(lr: float, factor: float = 1.0 / 3, total_iters: int = 5) -> base.Schedule:
  """`ConstantLR`: `lr * factor` for `k < total_iters`, then `lr`."""
  _check_lr("constant_lr", "lr", lr)
  checks.check_range("constant_lr", "factor", factor, 0.0, 1.0)
  checks.check_int("constant_lr", "total_iters", total_iters, 0)
  return lambda count: jnp.asarray(
      lr * jnp.where(_step(count) < total_iters, factor, 1.0), jnp.float32)


@checks.public
def linear_lr(
    lr: float, start_factor: float = 1.0 / 3, end_factor: float = 1.0, total_iters: int = 5
) -> base.Schedule:
  """`LinearLR`: `lr * (start + (end - start) * min(k, total_iters) / total_iters)`."""
  fn = "linear_lr"
  _check_lr(fn, "lr", lr)
  checks.check_range(fn, "start_factor", start_factor, 0.0, 1.0, low_inclusive=False)
  checks.check_range(fn, "end_factor", end_factor, 0.0, 1.0)
  n = checks.check_int(fn, "total_iters", total_iters)

  def schedule(count):
    frac = jnp.minimum(_step(count), n).astype(jnp.float32) / n
    return lr * (start_factor + (end_factor - start_factor) * frac)

  return schedule


@checks.public
def exponential_lr(lr: float, gamma: float) -> base.Schedule:
  """`ExponentialLR`: `lr * gamma ** k`, with `log(gamma)` in float64 (`numerics.power`).

  Not `jopt.exponential_decay(lr, 1, gamma)`: optax's float32 `gamma ** k` is
  `k` times the float32 rounding of `gamma` off (1.3e-5 relative for
  `0.999 ** 1000`), where PyTorch multiplies by `gamma` in float64.
  """
  _check_lr("exponential_lr", "lr", lr)
  checks.check_nonnegative("exponential_lr", "gamma", gamma)
  return lambda count: lr * numerics.power(gamma, _step(count))


@checks.public
def polynomial_lr(lr: float, total_iters: int = 5, power: float = 1.0) -> base.Schedule:
  """`PolynomialLR`: `lr * (1 - min(k, total_iters) / total_iters) ** power`."""
  _check_lr("polynomial_lr", "lr", lr)
  n = checks.check_int("polynomial_lr", "total_iters", total_iters)
  checks.check_nonnegative("polynomial_lr", "power", power)

  def schedule(count):
    remaining = (n - jnp.minimum(_step(count), n)).astype(jnp.float32) / n
    return lr * remaining ** power

  return schedule


@checks.public
def cosine_annealing_lr(lr: float, T_max: int, eta_min: float = 0.0) -> base.Schedule:  # pylint: disable=invalid-name
  """`CosineAnnealingLR`: `eta_min + (lr - eta_min) (1 + cos(pi k / T_max)) / 2`.

  Like PyTorch, the cosine keeps going after `T_max` (the rate climbs back to
  `lr` at `2 T_max`); it does not hold at `eta_min`. Loshchilov & Hutter, 2017,
  "SGDR" (https://arxiv.org/abs/1608.03983).

  Args:
    lr: the optimizer's initial learning rate.
    T_max: half period in steps, >= 1.
    eta_min: the minimum learning rate, >= 0.

  Returns:
    A schedule `k -> lr_k`.
  """
  _check_lr("cosine_annealing_lr", "lr", lr)
  _check_lr("cosine_annealing_lr", "eta_min", eta_min)
  t_max = checks.check_int("cosine_annealing_lr", "T_max", T_max)

  def schedule(count):
    r = _step(count) % (2 * t_max)
    return _half_cosine(lr, eta_min, t_max - r, t_max)

  return schedule


@checks.public
def cosine_annealing_warm_restarts(
    lr: float, T_0: int, T_mult: int = 1, eta_min: float = 0.0  # pylint: disable=invalid-name
) -> base.Schedule:
  """`CosineAnnealingWarmRestarts`: cosine cycles of length `T_0, T_0 T_mult, T_0 T_mult^2, ...`.

  Within a cycle of length `T_i` started at step `s_i`,
  `lr_k = eta_min + (lr - eta_min) (1 + cos(pi (k - s_i) / T_i)) / 2`. Cycle
  starts are found in integers (PyTorch's `epoch=` path uses a float log).
  Loshchilov & Hutter, 2017 (https://arxiv.org/abs/1608.03983).

  Args:
    lr: the optimizer's initial learning rate.
    T_0: length of the first cycle, >= 1.
    T_mult: growth factor of the cycle length, an integer >= 1.
    eta_min: the minimum learning rate, >= 0.

  Returns:
    A schedule `k -> lr_k`.
  """
  fn = "cosine_annealing_warm_restarts"
  _check_lr(fn, "lr", lr)
  _check_lr(fn, "eta_min", eta_min)
  t0 = checks.check_int(fn, "T_0", T_0)
  mult = checks.check_int(fn, "T_mult", T_mult)
  limit = np.iinfo(np.int32).max
  starts, lengths, s, length = [], [], 0, t0
  while s <= limit:
    starts.append(s)
    lengths.append(min(length, limit))
    if mult == 1:
      break
    s, length = s + length, length * mult
  starts_arr = jnp.asarray(starts, jnp.int32)
  lengths_arr = jnp.asarray(lengths, jnp.int32)

  def schedule(count):
    k = _step(count)
    if mult == 1:
      t_cur, t_i = k % t0, t0
    else:
      i = jnp.sum(k >= starts_arr) - 1
      t_cur, t_i = k - starts_arr[i], lengths_arr[i]
    t_i = jnp.asarray(t_i, jnp.float32)
    return _half_cosine(lr, eta_min, t_i - t_cur, t_i)

  return schedule


@checks.public
def one_cycle_lr(
    max_lr: float,
    total_steps: Optional[int] = None,
    epochs: Optional[int] = None,
    steps_per_epoch: Optional[int] = None,
    pct_start: float = 0.3,
    anneal_strategy: str = "cos",
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
) -> base.Schedule:
  """`OneCycleLR` (learning rate only), stepped once per *update* as in PyTorch.

  Warm up from `max_lr / div_factor` to `max_lr` until step `pct_start *
  total_steps - 1`, then anneal to `max_lr / div_factor / final_div_factor` at
  step `total_steps - 1` (`three_phase`: back down to the initial rate by step
  `2 pct_start total_steps - 2` first). Each phase starts at the previous
  phase's end step, as in PyTorch. PyTorch raises after `total_steps`; this
  schedule holds the value of step `total_steps` from then on.

  PyTorch's default `cycle_momentum=True` also cycles SGD's momentum (Adam's
  beta1) between 0.95 and 0.85; that is not reproduced: compare with
  `OneCycleLR(..., cycle_momentum=False)`. Smith & Topin, 2017,
  "Super-Convergence" (https://arxiv.org/abs/1708.07120).

  Args:
    max_lr: the peak learning rate.
    total_steps: the number of updates; or give `epochs` and `steps_per_epoch`.
    epochs: the number of epochs (with `steps_per_epoch`).
    steps_per_epoch: updates per epoch (with `epochs`).
    pct_start: fraction of the cycle spent increasing, in [0, 1].
    anneal_strategy: `"cos"` or `"linear"`.
    div_factor: `initial_lr = max_lr / div_factor`.
    final_div_factor: `min_lr = initial_lr / final_div_factor`.
    three_phase: PyTorch's three-phase variant (fast.ai's schedule).

  Returns:
    A schedule `k -> lr_k`.
  """
  fn = "one_cycle_lr"
  _check_lr(fn, "max_lr", max_lr)
  per_epoch_counts = [None if v is None else checks.check_int(fn, k, v)
                      for k, v in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch))]
  if total_steps is not None:
    total = checks.check_int(fn, "total_steps", total_steps)
  elif None not in per_epoch_counts:
    total = per_epoch_counts[0] * per_epoch_counts[1]
  else:
    raise ValueError(f"{fn}: give `total_steps`, or both `epochs` and `steps_per_epoch`.")
  checks.check_range(fn, "pct_start", pct_start, 0.0, 1.0)
  checks.check_choice(fn, "anneal_strategy", anneal_strategy, ("cos", "linear"))
  checks.check_range(fn, "div_factor", div_factor, 0.0, None, low_inclusive=False)
  checks.check_range(fn, "final_div_factor", final_div_factor, 0.0, None, low_inclusive=False)
  initial = max_lr / div_factor
  minimum = initial / final_div_factor
  if three_phase:
    phases = [(float(pct_start * total) - 1, initial, max_lr),
              (float(2 * pct_start * total) - 2, max_lr, initial),
              (total - 1.0, initial, minimum)]
  else:
    phases = [(float(pct_start * total) - 1, initial, max_lr), (total - 1.0, max_lr, minimum)]

  def anneal(start, end, elapsed, remaining, span):
    if anneal_strategy == "cos":
      return _half_cosine(start, end, remaining, span)
    return _common.linear_interpolate(start, end, elapsed / span)

  def schedule(count):
    k = jnp.minimum(_step(count), total).astype(jnp.float32)
    pieces, begin = [], 0.0
    for end_step, start_lr, end_lr in phases:
      span = (end_step - begin) or 1.0
      pieces.append((anneal(start_lr, end_lr, k - begin, end_step - k, span), end_step))
      begin = end_step
    value = pieces[-1][0]
    for here, end_step in reversed(pieces[:-1]):
      value = jnp.where(k <= end_step, here, value)
    return jnp.asarray(value, jnp.float32)

  return schedule


@checks.public
def cyclic_lr(
    base_lr: float,
    max_lr: float,
    step_size_up: int = 2000,
    step_size_down: Optional[int] = None,
    mode: str = "triangular",
    gamma: float = 1.0,
    scale_fn: Optional[Callable[[jax.Array], Any]] = None,
    scale_mode: str = "cycle",
) -> base.Schedule:
  """`CyclicLR` (learning rate only), stepped once per update.

  With `cycle = 1 + k // (up + down)` and position `x = k mod (up + down)`:
  `lr_k = base_lr + (max_lr - base_lr) * h(x) * scale`, `h` rising linearly
  from 0 to 1 over `up` steps and back over `down`; `scale` is 1
  (`triangular`), `1 / 2 ** (cycle - 1)` (`triangular2`), `gamma ** k`
  (`exp_range`), or `scale_fn(cycle)` / `scale_fn(k)` by `scale_mode`
  (`scale_fn` must accept traced arrays). PyTorch's default
  `cycle_momentum=True` also cycles the momentum; not reproduced. Smith, 2017,
  "Cyclical Learning Rates" (https://arxiv.org/abs/1506.01186).

  Args:
    base_lr: the lower bound (PyTorch sets the optimizer's lr to it).
    max_lr: the upper bound.
    step_size_up: steps rising, >= 1.
    step_size_down: steps falling (default: `step_size_up`).
    mode: `"triangular"`, `"triangular2"` or `"exp_range"` (ignored with `scale_fn`).
    gamma: the `exp_range` factor, >= 0.
    scale_fn: a custom amplitude scale (checked once to return a finite scalar at the
      first cycle or step).
    scale_mode: `"cycle"` or `"iterations"`, the argument of `scale_fn`.

  Returns:
    A schedule `k -> lr_k`.
  """
  fn = "cyclic_lr"
  _check_lr(fn, "base_lr", base_lr)
  _check_lr(fn, "max_lr", max_lr)
  up = checks.check_int(fn, "step_size_up", step_size_up)
  down = up if step_size_down is None else checks.check_int(fn, "step_size_down", step_size_down)
  checks.check_choice(fn, "mode", mode, ("triangular", "triangular2", "exp_range"))
  checks.check_choice(fn, "scale_mode", scale_mode, ("cycle", "iterations"))
  checks.check_nonnegative(fn, "gamma", gamma)
  if scale_fn is None:
    scale_mode = "iterations" if mode == "exp_range" else "cycle"
  else:  # PyTorch calls it with the cycle number (from 1) or the step (from 0), as a float
    checks.check_function(fn, "scale_fn", scale_fn, at=1.0 if scale_mode == "cycle" else 0.0,
                          dtype=jnp.float32)
  total = up + down
  triangle = cyclic.cyclic_schedule(0.0, 1.0, up, down)  # h(x): 0 -> 1 over `up` steps, back over `down`

  def scale(cycle, k):
    if scale_fn is not None:
      return scale_fn(cycle if scale_mode == "cycle" else k)
    if mode == "triangular":
      return 1.0
    if mode == "triangular2":
      return numerics.power(0.5, cycle - 1)
    return numerics.power(gamma, k)

  def schedule(count):
    k = _step(count)
    cycle = k // total + 1
    s = scale(cycle.astype(jnp.float32), k.astype(jnp.float32))
    return jnp.asarray(base_lr + (max_lr - base_lr) * triangle(k) * s, jnp.float32)

  return schedule


@checks.public
def sequential_lr(schedules: Sequence[base.Schedule], milestones: Sequence[int]) -> base.Schedule:
  """`SequentialLR`: `schedules[i](k - milestones[i-1])` for `milestones[i-1] <= k < milestones[i]`.

  Each schedule restarts from its own step 0 at its milestone, as PyTorch
  restarts the scheduler with `last_epoch = 0` (for schedulers without a
  closed form, e.g. `CosineAnnealingWarmRestarts`, PyTorch does not reset the
  cycle position; this function does). This is `jopt.join_schedules(schedules,
  milestones)` on the integer step, in float32.

  Args:
    schedules: `n` schedules.
    milestones: `n - 1` strictly increasing steps (whole numbers).

  Returns:
    A schedule `k -> lr_k`.
  """
  fn = "sequential_lr"
  schedules = checks.check_sequence(fn, "schedules", schedules)
  for i, schedule in enumerate(schedules):
    checks.check_function(fn, f"schedules[{i}]", schedule)
  milestones = checks.check_sequence(fn, "milestones", milestones)
  if len(schedules) < 1:
    raise ValueError(f"{fn}: expects at least one schedule, got none.")
  if len(milestones) != len(schedules) - 1:
    raise ValueError(
        f"{fn}: expects len(milestones) == len(schedules) - 1, got {len(milestones)} "
        f"milestones for {len(schedules)} schedules.")
  ms = [checks.check_whole(fn, f"milestones[{i}]", m, 0) for i, m in enumerate(milestones)]
  if any(b <= a for a, b in zip(ms[:-1], ms[1:])) or any(m < 0 for m in ms):
    raise ValueError(f"{fn}: `milestones` must be non-negative and strictly increasing, got {ms!r}.")

  joined = join.join_schedules(schedules, ms)
  return lambda count: jnp.asarray(joined(_step(count)), jnp.float32)
