"""Transformers' schedules with a learning-rate floor: the two cosine-with-min-lr helpers and warmup-stable-decay."""

import math
import warnings
from typing import Any, Optional

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src.hf import lambdas
from jopt._src.keras import base_optimizer

_TYPES = ("linear", "cosine", "1-sqrt")


def _min_lr_rate(fn: str, learning_rate: Any, min_lr: Any, min_lr_rate: Any) -> float:
  if min_lr is not None and min_lr_rate is not None:
    raise ValueError(f"{checks._name(fn)}: only one of `min_lr` or `min_lr_rate` should be set.")
  if min_lr is not None:
    base_optimizer.check_number(fn, "min_lr", min_lr)
    if float(learning_rate) == 0:
      raise ValueError(f"{checks._name(fn)}: `min_lr` needs a non-zero `learning_rate` "
                       "(min_lr_rate = min_lr / lr).")
    return float(min_lr) / float(learning_rate)
  if min_lr_rate is None:
    raise ValueError(f"{checks._name(fn)}: one of `min_lr` or `min_lr_rate` must be set.")
  base_optimizer.check_number(fn, "min_lr_rate", min_lr_rate)
  return float(min_lr_rate)


@checks.public
def get_cosine_with_min_lr_schedule_with_warmup(
    learning_rate: float, num_warmup_steps: int, num_training_steps: int, num_cycles: float = 0.5,
    last_epoch: int = -1, min_lr: Optional[float] = None,
    min_lr_rate: Optional[float] = None) -> base.Schedule:
  """`transformers.get_cosine_with_min_lr_schedule_with_warmup`: the cosine schedule with a floor.

  .. math::
    f(s) = \\frac{s}{\\max(1, W)} \\ (s < W), \\qquad
    f(s) = \\max\\big(0, r + (1 - r)\\tfrac12(1 + \\cos(2\\pi c\\, p))\\big), \\ p = \\frac{s - W}{\\max(1, N - W)}

  with `r` = `min_lr_rate` or `min_lr / learning_rate` (exactly one is set).
  `lr_scheduler_type="cosine_with_min_lr"`.

  Args:
    learning_rate: the base learning rate (the optimizer's `lr`).
    num_warmup_steps: `W >= 0`.
    num_training_steps: `N >= 0`.
    num_cycles: `c`.
    last_epoch: Transformers' resume index; -1 for a fresh run.
    min_lr: the floor as a learning rate.
    min_lr_rate: the floor as a fraction of `learning_rate`.

  Returns:
    A schedule `count -> learning_rate * f(count + last_epoch + 1)` (float32).
  """
  fn = "jopt.transformers.get_cosine_with_min_lr_schedule_with_warmup"
  lambdas.check_lr(fn, learning_rate)
  w = lambdas.check_steps(fn, "num_warmup_steps", num_warmup_steps)
  n = lambdas.check_steps(fn, "num_training_steps", num_training_steps)
  base_optimizer.check_number(fn, "num_cycles", num_cycles)
  rate = _min_lr_rate(fn, learning_rate, min_lr, min_lr_rate)

  def lr_lambda(s):
    factor = lambdas.half_cosine(num_cycles, s - w, max(1, n - w)) * (1 - rate) + rate
    return jnp.where(s < w, lambdas.warmup(s, w), jnp.maximum(0.0, factor))

  return lambdas.lambda_schedule(fn, learning_rate, lr_lambda, last_epoch)


@checks.public
def get_cosine_with_min_lr_schedule_with_warmup_lr_rate(
    learning_rate: float, num_warmup_steps: int, num_training_steps: int, num_cycles: float = 0.5,
    last_epoch: int = -1, min_lr: Optional[float] = None, min_lr_rate: Optional[float] = None,
    warmup_lr_rate: Optional[float] = None) -> base.Schedule:
  """`transformers.get_cosine_with_min_lr_schedule_with_warmup_lr_rate`: warmup from a floor, cosine to a floor.

  .. math::
    f(s) = \\frac{s + 1}{\\max(1, W)} \\ \\text{or} \\ w_r + (1 - w_r)\\frac{s}{\\max(1, W - 1)} \\ (s < W), \\\\
    f(s) = \\max\\big(0, r + (1 - r)\\tfrac12(1 + \\cos(2\\pi c\\, p))\\big), \\
    p = \\frac{s - W + 1}{\\max(1, N - W)}

  (the first warmup form when `warmup_lr_rate` is None). Note the `+ 1`s: this
  helper's warmup reaches the peak at step `W - 1` and its decay ends at step
  `N - 1`. `lr_scheduler_type="cosine_warmup_with_min_lr"`.

  Args:
    learning_rate: the base learning rate (the optimizer's `lr`).
    num_warmup_steps: `W >= 0`.
    num_training_steps: `N >= 0`.
    num_cycles: `c`.
    last_epoch: Transformers' resume index; -1 for a fresh run.
    min_lr: the floor as a learning rate.
    min_lr_rate: the floor as a fraction of `learning_rate`.
    warmup_lr_rate: `w_r`, the warmup's start as a fraction of `learning_rate`.

  Returns:
    A schedule `count -> learning_rate * f(count + last_epoch + 1)` (float32).
  """
  fn = "jopt.transformers.get_cosine_with_min_lr_schedule_with_warmup_lr_rate"
  lambdas.check_lr(fn, learning_rate)
  w = lambdas.check_steps(fn, "num_warmup_steps", num_warmup_steps)
  n = lambdas.check_steps(fn, "num_training_steps", num_training_steps)
  base_optimizer.check_number(fn, "num_cycles", num_cycles)
  rate = _min_lr_rate(fn, learning_rate, min_lr, min_lr_rate)
  if warmup_lr_rate is not None:
    base_optimizer.check_number(fn, "warmup_lr_rate", warmup_lr_rate)

  def lr_lambda(s):
    if warmup_lr_rate is None:
      warm = lambdas.f32(s + 1) / jnp.float32(max(1, w))
    else:
      warm = warmup_lr_rate + (1.0 - warmup_lr_rate) * lambdas.f32(s) / jnp.float32(max(1, w - 1))
    factor = lambdas.half_cosine(num_cycles, s - w + 1, max(1, n - w)) * (1 - rate) + rate
    return jnp.where(s < w, warm, jnp.maximum(0.0, factor))

  return lambdas.lambda_schedule(fn, learning_rate, lr_lambda, last_epoch)


def _shape(kind: str, done: jax.Array, length: int, num_cycles: float, warmup: bool) -> jax.Array:
  """WSD's warmup (rising) or decay (falling) shape at `done / max(1, length)`."""
  progress = lambdas.f32(done) / jnp.float32(max(1, length))
  if kind == "linear":
    return progress if warmup else 1.0 - progress
  if kind == "cosine":
    if warmup:
      return 0.5 * (1.0 - jnp.cos(jnp.float32(math.pi) * progress))
    return lambdas.half_cosine(num_cycles, done, max(1, length))
  return 1.0 - jnp.sqrt(jnp.maximum(1.0 - progress if warmup else progress, 0.0))


@checks.public
def get_wsd_schedule(
    learning_rate: float, num_warmup_steps: int, num_decay_steps: int,
    num_training_steps: Optional[int] = None, num_stable_steps: Optional[int] = None,
    warmup_type: str = "linear", decay_type: str = "cosine", min_lr_ratio: float = 0,
    num_cycles: float = 0.5, last_epoch: int = -1) -> base.Schedule:
  """`transformers.get_wsd_schedule`: warmup, stable, decay (WSD), each phase a linear, cosine or 1-sqrt shape.

  .. math::
    f(s) = m + (1 - m)\\, w(s / \\max(1, W)) \\ (s < W), \\quad f(s) = 1 \\ (W \\le s < W + S), \\\\
    f(s) = m + (1 - m)\\, d\\Big(\\frac{s - W - S}{\\max(1, D)}\\Big) \\ (s < W + S + D), \\quad f(s) = m

  (each clipped at 0) with `m` = `min_lr_ratio`, `S` = `num_stable_steps` or
  `N - W - D`, `w` one of `p`, `(1 - cos(pi p)) / 2`, `1 - sqrt(1 - p)` and `d`
  one of `1 - p`, `(1 + cos(2 pi c p)) / 2`, `1 - sqrt(p)`.
  `lr_scheduler_type="warmup_stable_decay"`. Hu et al., 2024, MiniCPM
  (https://arxiv.org/abs/2404.06395).

  Args:
    learning_rate: the base learning rate (the optimizer's `lr`).
    num_warmup_steps: `W >= 0`.
    num_decay_steps: `D >= 0`.
    num_training_steps: `N`, used when `num_stable_steps` is None.
    num_stable_steps: `S`; wins over `num_training_steps` (with a warning, as in
      Transformers) when both are given.
    warmup_type: "linear", "cosine" or "1-sqrt".
    decay_type: "linear", "cosine" or "1-sqrt".
    min_lr_ratio: `m`, the start and end as a fraction of `learning_rate`.
    num_cycles: `c` of the cosine decay.
    last_epoch: Transformers' resume index; -1 for a fresh run.

  Returns:
    A schedule `count -> learning_rate * f(count + last_epoch + 1)` (float32).
  """
  fn = "jopt.transformers.get_wsd_schedule"
  lambdas.check_lr(fn, learning_rate)
  w = lambdas.check_steps(fn, "num_warmup_steps", num_warmup_steps)
  d = lambdas.check_steps(fn, "num_decay_steps", num_decay_steps)
  if num_training_steps is None and num_stable_steps is None:
    raise ValueError(f"{checks._name(fn)}: either `num_training_steps` or `num_stable_steps` must be "
                     "specified.")
  if num_training_steps is not None and num_stable_steps is not None:
    warnings.warn(f"{fn}: both `num_training_steps` and `num_stable_steps` are specified; "
                  "`num_stable_steps` is used.", stacklevel=2)
  checks.check_choice(fn, "warmup_type", warmup_type, _TYPES)
  checks.check_choice(fn, "decay_type", decay_type, _TYPES)
  if num_training_steps is not None:
    n = checks.check_int(fn, "num_training_steps", num_training_steps, 0)
  if num_stable_steps is None:
    stable = n - w - d
  else:
    stable = checks.check_int(fn, "num_stable_steps", num_stable_steps, 0)
  base_optimizer.check_number(fn, "min_lr_ratio", min_lr_ratio)
  base_optimizer.check_number(fn, "num_cycles", num_cycles)
  m = float(min_lr_ratio)

  def lr_lambda(s):
    up = _shape(warmup_type, s, w, num_cycles, warmup=True)
    down = _shape(decay_type, s - w - stable, d, num_cycles, warmup=False)
    up = jnp.maximum(0.0, up * (1.0 - m) + m)
    down = jnp.maximum(0.0, down * (1.0 - m) + m)
    return jnp.where(s < w, up, jnp.where(s < w + stable, 1.0,
                                          jnp.where(s < w + stable + d, down, m)))

  return lambdas.lambda_schedule(fn, learning_rate, lr_lambda, last_epoch)
