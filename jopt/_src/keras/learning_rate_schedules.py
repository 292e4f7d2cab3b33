"""Keras 3's learning-rate schedules as functions `count -> lr`, with Keras's parameters.

Count 0 is Keras's `optimizer.iterations` 0 (the first update), so
`jopt.keras.adam(learning_rate=jopt.keras.cosine_decay(...))` reads the same
learning rate at every step as `keras.optimizers.Adam(CosineDecay(...))`.
Values are float32, computed as Keras computes them, except that whole
numbers of periods (`floor`/`ceil` of `step / decay_steps`, restart indices)
are exact integer arithmetic for integer counts: Keras divides in float32,
which under `jit` (XLA rewrites `x / c` as `x * (1 / c)`) and for steps above
2**24 can land one period off.
"""

import math
from typing import Any, Optional, Sequence

import jax.numpy as jnp
import numpy as np

from jopt._src import base
from jopt._src import checks
from jopt._src.keras import base_optimizer
from jopt._src.schedules import cosine as cosine_lib
from jopt._src.schedules import exponential
from jopt._src.schedules import join
from jopt._src.schedules import polynomial


def _check_steps(fn: str, name: str, value: Any, whole: bool = True) -> None:
  """Keras's check `value > 0` (Keras: "Argument `decay_steps` must be > 0"); a whole number where
  Keras documents "a Python integer" (`whole`), any positive number otherwise."""
  base_optimizer.check_number(fn, name, value, 0.0, low_inclusive=False)
  if whole and checks.concrete_value(value) is not None:
    checks.check_whole(fn, name, value, 1)


def _check_name(fn: str, name: Any) -> None:
  if name is not None and not isinstance(name, str):
    raise TypeError(f"{fn}: `name` must be a string, got {name!r}.")


def _is_int_count(count: Any) -> bool:
  return jnp.issubdtype(jnp.asarray(count).dtype, jnp.integer)


def _is_whole(value: Any) -> bool:
  return float(value) == int(value)


@checks.public
def exponential_decay(
    initial_learning_rate: float,
    decay_steps: int,
    decay_rate: float,
    staircase: bool = False,
    name: Optional[str] = "ExponentialDecay",
) -> base.Schedule:
  """`keras.optimizers.schedules.ExponentialDecay`: `lr0 * rate^(step / decay_steps)`.

  .. math::
    \\eta(t) = \\eta_0\\, r^{t / T} \\quad (r^{\\lfloor t / T \\rfloor} \\text{ if staircase})

  `jopt.exponential_decay(lr0, T, r, staircase=staircase)` (optax's
  `transition_steps` is Keras's `decay_steps`).

  Args:
    initial_learning_rate: the rate at step 0.
    decay_steps: `T > 0`, a whole number, the steps per factor of `decay_rate`.
    decay_rate: `r > 0`.
    staircase: decay in jumps every `decay_steps` steps.
    name: Keras's name scope; unused.

  Returns:
    A schedule `count -> lr` (float32).
  """
  fn = "jopt.keras.exponential_decay"
  base_optimizer.check_number(fn, "initial_learning_rate", initial_learning_rate)
  _check_steps(fn, "decay_steps", decay_steps)
  base_optimizer.check_number(fn, "decay_rate", decay_rate, 0.0, low_inclusive=False)
  checks.check_bool(fn, "staircase", staircase)
  _check_name(fn, name)
  return exponential.exponential_decay(initial_learning_rate, decay_steps, decay_rate, staircase=staircase)


@checks.public
def inverse_time_decay(
    initial_learning_rate: float,
    decay_steps: int,
    decay_rate: float,
    staircase: bool = False,
    name: Optional[str] = "InverseTimeDecay",
) -> base.Schedule:
  """`keras.optimizers.schedules.InverseTimeDecay`: `lr0 / (1 + rate * step / decay_steps)`.

  .. math::
    \\eta(t) = \\frac{\\eta_0}{1 + r\\, t / T} \\quad (\\lfloor t / T \\rfloor \\text{ if staircase})

  `jopt.inverse_time_decay` with the same arguments.

  Args:
    initial_learning_rate: the rate at step 0.
    decay_steps: `T > 0`, a whole number.
    decay_rate: `r >= 0`.
    staircase: use whole periods `floor(t / T)` only.
    name: Keras's name scope; unused.

  Returns:
    A schedule `count -> lr` (float32).
  """
  fn = "jopt.keras.inverse_time_decay"
  base_optimizer.check_number(fn, "initial_learning_rate", initial_learning_rate)
  _check_steps(fn, "decay_steps", decay_steps)
  base_optimizer.check_number(fn, "decay_rate", decay_rate, 0.0)
  checks.check_bool(fn, "staircase", staircase)
  _check_name(fn, name)
  return exponential.inverse_time_decay(initial_learning_rate, decay_steps, decay_rate, staircase)


@checks.public
def piecewise_constant_decay(
    boundaries: Sequence[Any],
    values: Sequence[float],
    name: Optional[str] = "PiecewiseConstant",
) -> base.Schedule:
  """`keras.optimizers.schedules.PiecewiseConstantDecay`: `values[i]` for `boundaries[i-1] < step <= boundaries[i]`.

  .. math::
    \\eta(t) = v_0 \\ (t \\le b_0), \\quad v_i \\ (b_{i-1} < t \\le b_i), \\quad v_n \\ (t > b_{n-1})

  A boundary step still gets the *earlier* value (optax's
  `piecewise_constant_schedule` switches *at* the boundary and multiplies
  scales). As in Keras, boundaries are cast to an integer count's dtype
  (truncated) before comparing.

  Args:
    boundaries: strictly increasing steps, one fewer than `values`.
    values: the learning rates of the intervals.
    name: Keras's name scope; unused.

  Returns:
    A schedule `count -> lr` (float32; Keras returns `values[0]`'s dtype).
  """
  fn = "jopt.keras.piecewise_constant_decay"
  boundaries = checks.check_sequence(fn, "boundaries", boundaries)
  values = checks.check_sequence(fn, "values", values)
  if len(boundaries) != len(values) - 1:
    raise ValueError(
        f"{fn}: `boundaries` must have one element fewer than `values`, got "
        f"{len(boundaries)} boundaries {boundaries!r} and {len(values)} values {values!r}.")
  for i, b in enumerate(boundaries):
    base_optimizer.check_number(fn, f"boundaries[{i}]", b)
  for i, v in enumerate(values):
    base_optimizer.check_number(fn, f"values[{i}]", v)
  if any(not b < a for b, a in zip(boundaries[:-1], boundaries[1:])):
    raise ValueError(f"{fn}: `boundaries` must be strictly increasing, got {boundaries!r}.")
  _check_name(fn, name)
  table = jnp.asarray(np.asarray(values, np.float32))
  int_bounds = np.clip(np.trunc(np.asarray(boundaries, np.float64)), -2**31, 2**31 - 1).astype(np.int32)
  float_bounds = np.asarray(boundaries, np.float32)

  def schedule(count):
    count = jnp.asarray(count)
    if not boundaries:
      return table[0]
    # Keras casts the boundaries to the step's dtype: truncated for an integer step.
    bounds = jnp.asarray(int_bounds if _is_int_count(count) else float_bounds)
    return table[jnp.sum(count > bounds)]

  return schedule


def _polynomial_cycle(initial_learning_rate, decay_steps, end_learning_rate, power):
  """PolynomialDecay(cycle=True): the decay restarts over the first multiple of `decay_steps` above the step."""

  def schedule(count):
    step = jnp.asarray(count)
    if _is_int_count(step) and _is_whole(decay_steps):
      ds = int(decay_steps)
      multiplier = jnp.where(step == 0, 1, step // ds + (step % ds != 0))  # ceil, overflow-free
    else:
      step_f = step.astype(jnp.float32)
      multiplier = jnp.where(step_f == 0, 1.0, jnp.ceil(step_f / decay_steps))
    period = jnp.float32(decay_steps) * multiplier.astype(jnp.float32)
    frac = jnp.clip(1 - step.astype(jnp.float32) / period, 0.0, 1.0)
    return (jnp.float32(initial_learning_rate) - end_learning_rate) * frac**power + end_learning_rate

  return schedule


@checks.public
def polynomial_decay(
    initial_learning_rate: float,
    decay_steps: int,
    end_learning_rate: float = 0.0001,
    power: float = 1.0,
    cycle: bool = False,
    name: Optional[str] = "PolynomialDecay",
) -> base.Schedule:
  """`keras.optimizers.schedules.PolynomialDecay`: from `lr0` to `end` over `decay_steps`, optionally cycling.

  .. math::
    \\eta(t) = (\\eta_0 - \\eta_e)(1 - t'/T')^{p} + \\eta_e, \\quad
    t' = \\min(t, T),\\ T' = T \\ \\ \\text{or (cycle)} \\ \\ t' = t,\\
    T' = T \\max(1, \\lceil t / T \\rceil)

  Without `cycle` this is `jopt.polynomial_schedule(lr0, end, power, T)`.
  With `cycle`, at an exact multiple `t = kT` the period is `kT` (the value is
  `end`), as Keras computes eagerly; under `jit` Keras's float `ceil(t / T)` can
  give `k + 1` there (`t * (1/T)` rounds up), jopt's integer ceil cannot.

  Args:
    initial_learning_rate: the rate at step 0.
    decay_steps: `T > 0`, a whole number.
    end_learning_rate: the final rate.
    power: the polynomial's power, >= 0.
    cycle: restart the decay after each period instead of holding `end`.
    name: Keras's name scope; unused.

  Returns:
    A schedule `count -> lr` (float32).
  """
  fn = "jopt.keras.polynomial_decay"
  base_optimizer.check_number(fn, "initial_learning_rate", initial_learning_rate)
  _check_steps(fn, "decay_steps", decay_steps)
  base_optimizer.check_number(fn, "end_learning_rate", end_learning_rate)
  base_optimizer.check_number(fn, "power", power, 0.0)
  checks.check_bool(fn, "cycle", cycle)
  _check_name(fn, name)
  if cycle:
    return _polynomial_cycle(initial_learning_rate, decay_steps, end_learning_rate, power)
  return polynomial.polynomial_schedule(initial_learning_rate, end_learning_rate, power, decay_steps)


@checks.public
def cosine_decay(
    initial_learning_rate: float,
    decay_steps: int,
    alpha: float = 0.0,
    name: Optional[str] = "CosineDecay",
    warmup_target: Optional[float] = None,
    warmup_steps: int = 0,
) -> base.Schedule:
  """`keras.optimizers.schedules.CosineDecay`: optional linear warmup, then a half cosine.

  .. math::
    \\eta(t) = \\eta_0 + (\\eta_w - \\eta_0)\\, t / W \\ \\ (t < W), \\qquad
    \\eta(t) = \\eta_w \\big((1-\\alpha)\\tfrac12(1 + \\cos(\\pi \\min(t - W, T)/T)) + \\alpha\\big)

  with :math:`\\eta_w` = `warmup_target` (`initial_learning_rate` and `W = 0`
  when `warmup_target` is None). Unlike optax's `warmup_cosine_decay_schedule`,
  `decay_steps` counts the steps *after* the warmup and `alpha` is a fraction of
  the peak. Built from `jopt.linear_schedule`, `jopt.cosine_decay_schedule` and
  `jopt.join_schedules`. Loshchilov & Hutter, 2017 (https://arxiv.org/abs/1608.03983).

  Args:
    initial_learning_rate: the rate at step 0.
    decay_steps: `T > 0`, a whole number, the length of the cosine.
    alpha: the final rate as a fraction of the peak.
    name: Keras's name scope; unused.
    warmup_target: None (no warmup) or the rate reached after the warmup.
    warmup_steps: `W >= 0`, a whole number, the length of the warmup.

  Returns:
    A schedule `count -> lr` (float32).
  """
  fn = "jopt.keras.cosine_decay"
  base_optimizer.check_number(fn, "initial_learning_rate", initial_learning_rate)
  _check_steps(fn, "decay_steps", decay_steps)
  base_optimizer.check_number(fn, "alpha", alpha)
  _check_name(fn, name)
  base_optimizer.check_number(fn, "warmup_steps", warmup_steps, 0.0)
  checks.check_whole(fn, "warmup_steps", warmup_steps, 0)
  if warmup_target is None:
    return cosine_lib.cosine_decay_schedule(initial_learning_rate, decay_steps, alpha)
  base_optimizer.check_number(fn, "warmup_target", warmup_target)
  decay = cosine_lib.cosine_decay_schedule(warmup_target, decay_steps, alpha)
  if float(warmup_steps) == 0:
    return decay
  warmup = polynomial.linear_schedule(initial_learning_rate, warmup_target, warmup_steps)
  return join.join_schedules([warmup, decay], [warmup_steps])


@checks.public
def cosine_decay_restarts(
    initial_learning_rate: float,
    first_decay_steps: int,
    t_mul: float = 2.0,
    m_mul: float = 1.0,
    alpha: float = 0.0,
    name: Optional[str] = "SGDRDecay",
) -> base.Schedule:
  """`keras.optimizers.schedules.CosineDecayRestarts`: SGDR, periods growing by `t_mul`, peaks by `m_mul`.

  .. math::
    T_i = T_0 t_{mul}^i, \\quad \\text{period } i \\text{ starts at } S_i = T_0 \\tfrac{t_{mul}^i - 1}{t_{mul} - 1}
    \\ (i T_0 \\text{ if } t_{mul} = 1), \\\\
    \\eta(t) = \\eta_0 \\big((1-\\alpha)\\, m_{mul}^i\\, \\tfrac12 (1 + \\cos(\\pi (t - S_i)/T_i)) + \\alpha\\big)

  The restart index `i` is Keras's float32 formula
  `floor(log(1 - (t/T_0)(1 - t_mul)) / log(t_mul))`, corrected by one where it
  puts `t` on the wrong side of a period start (Keras's rounding can place
  the first step of a period at the end of the previous one); for `t_mul = 1`
  and integer counts it is `t // T_0`, exact. optax's `sgdr_schedule` takes an
  explicit, finite list of periods instead. Loshchilov & Hutter, 2017
  (https://arxiv.org/abs/1608.03983).

  Args:
    initial_learning_rate: the peak of the first period.
    first_decay_steps: `T_0 > 0`, the first period's length (any positive number, as in Keras).
    t_mul: the period growth factor, > 0.
    m_mul: the peak factor per restart.
    alpha: the floor, as a fraction of `initial_learning_rate`.
    name: Keras's name scope; unused.

  Returns:
    A schedule `count -> lr` (float32).
  """
  fn = "jopt.keras.cosine_decay_restarts"
  base_optimizer.check_number(fn, "initial_learning_rate", initial_learning_rate)
  _check_steps(fn, "first_decay_steps", first_decay_steps, whole=False)  # "a Python number"
  base_optimizer.check_number(fn, "t_mul", t_mul, 0.0, low_inclusive=False)
  base_optimizer.check_number(fn, "m_mul", m_mul)
  base_optimizer.check_number(fn, "alpha", alpha)
  _check_name(fn, name)
  first = float(first_decay_steps)
  t_mul_f = jnp.float32(t_mul)

  def start_of(i):  # S_i / T_0 in float32
    if float(t_mul) == 1.0:
      return i
    return (1.0 - t_mul_f**i) / (1.0 - t_mul_f)

  def schedule(count):
    step = jnp.asarray(count)
    if float(t_mul) == 1.0:
      if _is_int_count(step) and _is_whole(first_decay_steps):
        i = step // int(first_decay_steps)
        frac = (step - i * int(first_decay_steps)).astype(jnp.float32) / jnp.float32(first)
        i = i.astype(jnp.float32)
      else:
        completed = step.astype(jnp.float32) / jnp.float32(first)
        i = jnp.floor(completed)
        frac = completed - i
    else:
      completed = step.astype(jnp.float32) / jnp.float32(first)
      i = jnp.floor(jnp.log(1.0 - completed * (1.0 - t_mul_f)) / jnp.log(t_mul_f))
      # One step of correction where rounding put `step` in the neighbouring period.
      i = jnp.where(completed < start_of(i), i - 1, i)
      i = jnp.where(completed >= start_of(i + 1), i + 1, i)
      frac = (completed - start_of(i)) / t_mul_f**i
    m_fac = jnp.float32(m_mul)**i
    cosine = 0.5 * m_fac * (1.0 + jnp.cos(jnp.float32(math.pi) * frac))
    return jnp.float32(initial_learning_rate) * ((1 - alpha) * cosine + alpha)

  return schedule
