"""Step decays: a constant factor every `step_size` steps (StepLR) or at given milestones (MultiStepLR)."""

from typing import Sequence

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src.schedules import _common


@checks.public
def step_decay(
    init_value: jax.typing.ArrayLike,
    step_size: int,
    gamma: jax.typing.ArrayLike = 0.1,
) -> base.Schedule:
  """Multiplies the value by `gamma` every `step_size` steps.

  .. math:: v(t) = I\\, \\gamma^{\\lfloor t / S \\rfloor}

  Source: PyTorch `torch.optim.lr_scheduler.StepLR(optimizer, step_size,
  gamma=0.1)` (https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.StepLR.html),
  whose closed form is `base_lr * gamma ** (last_epoch // step_size)`; step
  :math:`t` here is PyTorch's `last_epoch` (the number of `scheduler.step()`
  calls: epochs if you step it per epoch). The floor is an integer division for
  integer steps, so it is exact under `jit`.

  Args:
    init_value: the value for steps `0 .. step_size - 1` (`base_lr`).
    step_size: the period of the decay, `> 0`.
    gamma: the factor per period, `>= 0`.

  Returns:
    A function `count -> value`.

  Example:
    >>> import jopt
    >>> s = jopt.step_decay(1.0, step_size=30, gamma=0.1)
    >>> [round(float(s(t)), 4) for t in (0, 29, 30, 60)]
    [1.0, 1.0, 0.1, 0.01]
  """
  _common.check_values("step_decay", init_value=init_value)
  fn = "step_decay"
  _common.check_steps(fn, "step_size", step_size, allow_zero=False)
  checks.check_nonnegative(fn, "gamma", gamma)

  def schedule(count):
    periods = _common.floor_div(jnp.maximum(count, 0), step_size)
    return init_value * jnp.power(gamma, periods)

  return schedule


@checks.public
def multistep_decay(
    init_value: jax.typing.ArrayLike,
    milestones: Sequence[int],
    gamma: jax.typing.ArrayLike = 0.1,
) -> base.Schedule:
  """Multiplies the value by `gamma` at each milestone step.

  .. math:: v(t) = I\\, \\gamma^{\\#\\{i:\\ m_i \\le t\\}}

  Source: PyTorch `torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones,
  gamma=0.1)` (https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.MultiStepLR.html),
  whose closed form is `base_lr * gamma ** bisect_right(milestones, last_epoch)`;
  step :math:`t` here is PyTorch's `last_epoch`. `piecewise_constant_schedule(I,
  {m: gamma for m in milestones})` gives the same values.

  Differs from PyTorch: `milestones` must be strictly increasing and `>= 0`
  (`ValueError`); PyTorch sorts them and counts repeats.

  Args:
    init_value: the value before the first milestone (`base_lr`).
    milestones: strictly increasing steps at which to multiply by `gamma`.
    gamma: the factor per milestone, `>= 0`.

  Returns:
    A function `count -> value`.

  Example:
    >>> import jopt
    >>> s = jopt.multistep_decay(1.0, milestones=[30, 80], gamma=0.1)
    >>> [round(float(s(t)), 4) for t in (29, 30, 79, 80)]
    [1.0, 0.1, 0.1, 0.01]
  """
  _common.check_values("multistep_decay", init_value=init_value)
  fn = "multistep_decay"
  milestones = tuple(milestones)
  _common.check_increasing(fn, "milestones", milestones)
  checks.check_nonnegative(fn, "gamma", gamma)

  def schedule(count):
    passed = sum((jnp.asarray(count >= m, jnp.int32) for m in milestones), jnp.zeros((), jnp.int32))
    return init_value * jnp.power(gamma, passed)

  return schedule
