"""How Transformers' schedule helpers turn into jopt schedules: `LambdaLR`'s step convention and shared pieces.

`transformers.get_*_schedule*(optimizer, ...)` returns a `torch` `LambdaLR`
whose learning rate is `base_lr * lr_lambda(epoch)`. `LambdaLR` steps once when
it is built, so the optimizer's first step runs at `epoch = last_epoch + 1`
(0 for a fresh schedule), and each `scheduler.step()` after `optimizer.step()`
moves to the next. Here the optimizer argument becomes the base
`learning_rate` (first, positional), and the schedule is

    count -> learning_rate * lr_lambda(count + last_epoch + 1),

so count 0 is the learning rate of the first optimizer step, as jopt's
optimizers read it. Values are float32; branch tests (`step < warmup`) are
integer comparisons, and the hard-restart phase is exact integer arithmetic
for whole `num_cycles`.
"""

import fractions
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src.keras import base_optimizer


def check_lr(fn: str, learning_rate: Any) -> None:
  """The base learning rate: a non-negative number (it stands for the optimizer's `lr`)."""
  if callable(learning_rate):
    raise TypeError(
        f"{fn}: `learning_rate` must be the base learning rate (a number): it replaces the "
        f"optimizer argument; got the callable {learning_rate!r}.")
  base_optimizer.check_number(fn, "learning_rate", learning_rate, 0.0)


def check_steps(fn: str, name: str, value: Any, low: int = 0) -> int:
  """A step count: a Python integer `>= low`."""
  return checks.check_int(fn, name, value, low)


def lambda_schedule(fn: str, learning_rate: Any, lr_lambda: Callable[[jax.Array], jax.Array],
                    last_epoch: int) -> base.Schedule:
  """`count -> learning_rate * lr_lambda(count + last_epoch + 1)`, elementwise in float32."""
  checks.check_int(fn, "last_epoch", last_epoch, -1)
  lr = float(learning_rate)

  def schedule(count):
    step = jnp.asarray(count) + (last_epoch + 1)
    return (jnp.float32(lr) * lr_lambda(step)).astype(jnp.float32)

  return schedule


def f32(x: Any) -> jax.Array:
  """`x` as float32 (step counts are integers until they are divided)."""
  return jnp.asarray(x).astype(jnp.float32)


def warmup(step: jax.Array, num_warmup_steps: int) -> jax.Array:
  """`step / max(1, num_warmup_steps)`."""
  return f32(step) / jnp.float32(max(1, num_warmup_steps))


def half_cosine(num_cycles: float, done: jax.Array, d: int) -> jax.Array:
  """`0.5 * (1 + cos(pi * num_cycles * 2 * done / d))` for a step offset `done` and a length `d >= 1`.

  The cosine has period `q d` in `done` when `num_cycles = p / q`; for integer
  steps `done` is first reduced modulo that period, so the float32 argument
  stays below `2 pi p` however large the step (past `num_training_steps`
  Transformers' cosine keeps oscillating).
  """
  ratio = fractions.Fraction(float(num_cycles)).limit_denominator(1000)
  period = ratio.denominator * d
  if (float(ratio) == float(num_cycles) and period < 2**31
      and jnp.issubdtype(jnp.asarray(done).dtype, jnp.integer)):
    done = done % period
  progress = f32(done) / jnp.float32(d)
  return 0.5 * (1.0 + jnp.cos(jnp.float32(math.pi * float(num_cycles) * 2.0) * progress))


def progress(step: jax.Array, w: int, n: int) -> jax.Array:
  """`(step - W) / max(1, N - W)`."""
  return f32(step - w) / jnp.float32(max(1, n - w))
