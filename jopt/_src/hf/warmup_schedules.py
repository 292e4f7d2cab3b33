"""Transformers' warmup schedule helpers (constant, linear, cosine, hard restarts, polynomial, inverse sqrt) as `count -> lr`."""

import math
from typing import Optional

import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src.hf import lambdas
from jopt._src.keras import base_optimizer


@checks.public
def get_constant_schedule(learning_rate: float, last_epoch: int = -1) -> base.Schedule:
  """`transformers.get_constant_schedule`: the base learning rate at every step.

  Args:
    learning_rate: the base learning rate (the optimizer's `lr`).
    last_epoch: Transformers' resume index; -1 for a fresh run.

  Returns:
    A schedule `count -> lr` (float32).
  """
  fn = "jopt.transformers.get_constant_schedule"
  lambdas.check_lr(fn, learning_rate)
  return lambdas.lambda_schedule(fn, learning_rate, lambda step: jnp.ones(jnp.shape(step), jnp.float32),
                          last_epoch)


@checks.public
def get_constant_schedule_with_warmup(learning_rate: float, num_warmup_steps: int,
                                      last_epoch: int = -1) -> base.Schedule:
  """`transformers.get_constant_schedule_with_warmup`: linear warmup from 0, then constant.

  .. math::
    f(s) = s / \\max(1, W) \\ (s < W), \\qquad f(s) = 1 \\ (s \\ge W)

  Args:
    learning_rate: the base learning rate (the optimizer's `lr`).
    num_warmup_steps: `W >= 0`.
    last_epoch: Transformers' resume index; -1 for a fresh run.

  Returns:
    A schedule `count -> learning_rate * f(count + last_epoch + 1)` (float32).
  """
  fn = "jopt.transformers.get_constant_schedule_with_warmup"
  lambdas.check_lr(fn, learning_rate)
  w = lambdas.check_steps(fn, "num_warmup_steps", num_warmup_steps)
  return lambdas.lambda_schedule(
      fn, learning_rate, lambda s: jnp.where(s < w, lambdas.warmup(s, w), 1.0), last_epoch)


@checks.public
def get_linear_schedule_with_warmup(learning_rate: float, num_warmup_steps: int,
                                    num_training_steps: int, last_epoch: int = -1) -> base.Schedule:
  """`transformers.get_linear_schedule_with_warmup`: linear warmup from 0, then linear decay to 0.

  .. math::
    f(s) = \\frac{s}{\\max(1, W)} \\ (s < W), \\qquad
    f(s) = \\max\\Big(0, \\frac{N - s}{\\max(1, N - W)}\\Big) \\ (s \\ge W)

  The default `lr_scheduler_type="linear"` of `TrainingArguments`. optax's
  `warmup_linear`-style schedules start the decay from the step count of the
  join instead; the values agree step for step only through this helper.

  Args:
    learning_rate: the base learning rate (the optimizer's `lr`).
    num_warmup_steps: `W >= 0`.
    num_training_steps: `N >= 0`, where the rate reaches 0.
    last_epoch: Transformers' resume index; -1 for a fresh run.

  Returns:
    A schedule `count -> learning_rate * f(count + last_epoch + 1)` (float32).

  Example:
    >>> import jopt
    >>> s = jopt.transformers.get_linear_schedule_with_warmup(1.0, 2, 6)
    >>> [float(s(t)) for t in range(7)]
    [0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0]
  """
  fn = "jopt.transformers.get_linear_schedule_with_warmup"
  lambdas.check_lr(fn, learning_rate)
  w = lambdas.check_steps(fn, "num_warmup_steps", num_warmup_steps)
  n = lambdas.check_steps(fn, "num_training_steps", num_training_steps)

  def lr_lambda(s):
    decay = jnp.maximum(0.0, lambdas.f32(n - s) / jnp.float32(max(1, n - w)))
    return jnp.where(s < w, lambdas.warmup(s, w), decay)

  return lambdas.lambda_schedule(fn, learning_rate, lr_lambda, last_epoch)


@checks.public
def get_cosine_schedule_with_warmup(learning_rate: float, num_warmup_steps: int,
                                    num_training_steps: int, num_cycles: float = 0.5,
                                    last_epoch: int = -1) -> base.Schedule:
  """`transformers.get_cosine_schedule_with_warmup`: linear warmup, then a cosine to 0.

  .. math::
    f(s) = \\frac{s}{\\max(1, W)} \\ (s < W), \\qquad
    f(s) = \\max\\big(0, \\tfrac12 (1 + \\cos(2\\pi c\\, p))\\big), \\ p = \\frac{s - W}{\\max(1, N - W)}

  With the default `c = 0.5` the cosine ends at 0 at step `N`; past `N` it
  rises again (Transformers does not clip `p`).

  Args:
    learning_rate: the base learning rate (the optimizer's `lr`).
    num_warmup_steps: `W >= 0`.
    num_training_steps: `N >= 0`.
    num_cycles: `c`, the number of cosine waves over the decay.
    last_epoch: Transformers' resume index; -1 for a fresh run.

  Returns:
    A schedule `count -> learning_rate * f(count + last_epoch + 1)` (float32).
  """
  fn = "jopt.transformers.get_cosine_schedule_with_warmup"
  lambdas.check_lr(fn, learning_rate)
  w = lambdas.check_steps(fn, "num_warmup_steps", num_warmup_steps)
  n = lambdas.check_steps(fn, "num_training_steps", num_training_steps)
  base_optimizer.check_number(fn, "num_cycles", num_cycles)

  def lr_lambda(s):
    decay = jnp.maximum(0.0, lambdas.half_cosine(num_cycles, s - w, max(1, n - w)))
    return jnp.where(s < w, lambdas.warmup(s, w), decay)

  return lambdas.lambda_schedule(fn, learning_rate, lr_lambda, last_epoch)


@checks.public
def get_cosine_with_hard_restarts_schedule_with_warmup(
    learning_rate: float, num_warmup_steps: int, num_training_steps: int, num_cycles: int = 1,
    last_epoch: int = -1) -> base.Schedule:
  """`transformers.get_cosine_with_hard_restarts_schedule_with_warmup`: warmup, then `num_cycles` cosines 1 -> 0.

  .. math::
    f(s) = \\frac{s}{\\max(1, W)} \\ (s < W), \\quad
    f(s) = \\tfrac12 \\big(1 + \\cos(\\pi\\, (c\\, p \\bmod 1))\\big) \\ (0 \\le p < 1), \\quad
    f(s) = 0 \\ (p \\ge 1)

  with `p = (s - W) / max(1, N - W)`. For a whole `num_cycles` the phase
  `c p mod 1` is computed exactly as `(c (s - W) mod (N - W)) / (N - W)`, so
  every restart lands exactly on its step (a float phase can come out as
  0.99999994 there, a rate of ~0 instead of the peak).

  Args:
    learning_rate: the base learning rate (the optimizer's `lr`).
    num_warmup_steps: `W >= 0`.
    num_training_steps: `N >= 0`.
    num_cycles: `c`, the number of restarts (cosine periods).
    last_epoch: Transformers' resume index; -1 for a fresh run.

  Returns:
    A schedule `count -> learning_rate * f(count + last_epoch + 1)` (float32).
  """
  fn = "jopt.transformers.get_cosine_with_hard_restarts_schedule_with_warmup"
  lambdas.check_lr(fn, learning_rate)
  w = lambdas.check_steps(fn, "num_warmup_steps", num_warmup_steps)
  n = lambdas.check_steps(fn, "num_training_steps", num_training_steps)
  base_optimizer.check_number(fn, "num_cycles", num_cycles)
  d = max(1, n - w)
  exact = float(num_cycles) == int(num_cycles) and abs(int(num_cycles)) * d < 2**31

  def lr_lambda(s):
    done = s - w  # progress >= 1  <=>  s - W >= max(1, N - W)
    if exact and jnp.issubdtype(jnp.asarray(s).dtype, jnp.integer):
      phase = lambdas.f32((int(num_cycles) * jnp.clip(done, 0, d)) % d) / jnp.float32(d)
    else:
      phase = jnp.mod(jnp.float32(num_cycles) * lambdas.progress(s, w, n), 1.0)
    decay = jnp.maximum(0.0, 0.5 * (1.0 + jnp.cos(jnp.float32(math.pi) * phase)))
    decay = jnp.where(done >= d, 0.0, decay)
    return jnp.where(s < w, lambdas.warmup(s, w), decay)

  return lambdas.lambda_schedule(fn, learning_rate, lr_lambda, last_epoch)


@checks.public
def get_polynomial_decay_schedule_with_warmup(
    learning_rate: float, num_warmup_steps: int, num_training_steps: int, lr_end: float = 1e-7,
    power: float = 1.0, last_epoch: int = -1) -> base.Schedule:
  """`transformers.get_polynomial_decay_schedule_with_warmup`: warmup, then a polynomial to `lr_end`.

  .. math::
    \\eta(s) = \\eta_0 \\frac{s}{\\max(1, W)} \\ (s < W), \\quad
    \\eta(s) = (\\eta_0 - \\eta_e) \\Big(1 - \\frac{s - W}{N - W}\\Big)^{P} + \\eta_e \\ (W \\le s \\le N),
    \\quad \\eta(s) = \\eta_e \\ (s > N)

  with :math:`\\eta_0` = `learning_rate` (Transformers reads it from the
  optimizer's `lr`), which must exceed `lr_end`. `N = W` is rejected
  (Transformers divides by zero at step `N`).

  Args:
    learning_rate: the base learning rate, > `lr_end`.
    num_warmup_steps: `W >= 0`.
    num_training_steps: `N >= 0`, `N != W`.
    lr_end: the final learning rate.
    power: `P >= 0`, the polynomial's power.
    last_epoch: Transformers' resume index; -1 for a fresh run.

  Returns:
    A schedule `count -> lr` (float32).
  """
  fn = "jopt.transformers.get_polynomial_decay_schedule_with_warmup"
  lambdas.check_lr(fn, learning_rate)
  w = lambdas.check_steps(fn, "num_warmup_steps", num_warmup_steps)
  n = lambdas.check_steps(fn, "num_training_steps", num_training_steps)
  base_optimizer.check_number(fn, "lr_end", lr_end)
  base_optimizer.check_number(fn, "power", power, 0.0)  # < 0: inf at step N (Transformers: 1 / 0)
  if not learning_rate > lr_end:
    raise ValueError(f"{checks._name(fn)}: `lr_end` ({lr_end}) must be smaller than the initial lr "
                     f"`learning_rate` ({learning_rate}).")
  if n == w:
    raise ValueError(f"{checks._name(fn)}: `num_training_steps` must differ from `num_warmup_steps` "
                     f"(both {n}): "
                     "the decay would last 0 steps (Transformers divides by zero at that step).")
  lr_init = float(learning_rate)

  def lr_lambda(s):
    pct_remaining = jnp.maximum(1.0 - lambdas.f32(s - w) / jnp.float32(n - w), 0.0)
    decay = ((lr_init - lr_end) * pct_remaining**power + lr_end) / lr_init
    return jnp.where(s < w, lambdas.warmup(s, w), jnp.where(s > n, lr_end / lr_init, decay))

  return lambdas.lambda_schedule(fn, learning_rate, lr_lambda, last_epoch)


@checks.public
def get_inverse_sqrt_schedule(learning_rate: float, num_warmup_steps: int,
                              timescale: Optional[int] = None, last_epoch: int = -1) -> base.Schedule:
  """`transformers.get_inverse_sqrt_schedule`: warmup, then `1 / sqrt((s + timescale - W) / timescale)`.

  .. math::
    f(s) = \\frac{s}{\\max(1, W)} \\ (s < W), \\qquad f(s) = \\sqrt{\\frac{\\tau}{s + \\tau - W}} \\ (s \\ge W)

  (big_vision's rsqrt schedule); `timescale` defaults to `num_warmup_steps`,
  or 10000 when that is 0.

  Args:
    learning_rate: the base learning rate (the optimizer's `lr`).
    num_warmup_steps: `W >= 0`.
    timescale: `tau > 0`, or None for the default.
    last_epoch: Transformers' resume index; -1 for a fresh run.

  Returns:
    A schedule `count -> learning_rate * f(count + last_epoch + 1)` (float32).
  """
  fn = "jopt.transformers.get_inverse_sqrt_schedule"
  lambdas.check_lr(fn, learning_rate)
  w = lambdas.check_steps(fn, "num_warmup_steps", num_warmup_steps)
  if timescale is None:
    timescale = w or 10_000
  tau = checks.check_int(fn, "timescale", timescale, 1)
  shift = tau - w

  def lr_lambda(s):
    decay = 1.0 / jnp.sqrt((lambdas.f32(s) + shift) / jnp.float32(tau))  # float: no int32 overflow
    return jnp.where(s < w, lambdas.warmup(s, w), decay)

  return lambdas.lambda_schedule(fn, learning_rate, lr_lambda, last_epoch)
