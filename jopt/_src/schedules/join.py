"""Joining schedules end to end."""

from typing import Sequence

import jax
import jax.numpy as jnp

from jopt._src import checks
from jopt._src import base
from jopt._src.schedules import _common


@checks.public
def join_schedules(
    schedules: Sequence[base.Schedule], boundaries: Sequence[int]
) -> base.Schedule:
  """Runs `schedules[0]` until `boundaries[0]`, then `schedules[1]`, and so on.

  .. math::
    v(t) = s_i(t - b_i) \\quad \\text{for } b_i \\le t < b_{i+1},
    \\qquad b_0 = 0,\\ b_{n} = \\infty.

  Each schedule sees the steps since its own start: `schedules[i]` is called
  with `t - boundaries[i-1]`, so a schedule's step 0 is the first step it runs.

  Differs from optax: `boundaries` must have exactly `len(schedules) - 1`
  entries, be `>= 0` and strictly increasing (optax silently ignores extra
  schedules or boundaries and accepts unsorted ones); otherwise `ValueError`.

  Args:
    schedules: the schedules, in order.
    boundaries: the steps at which to switch to the next schedule.

  Returns:
    A function `count -> value`.

  Example:
    >>> import jopt
    >>> s = jopt.join_schedules(
    ...     [jopt.constant_schedule(1.0), jopt.linear_schedule(1.0, 0.0, 10)], [5])
    >>> [float(s(t)) for t in (4, 5, 10, 15)]
    [1.0, 1.0, 0.5, 0.0]
  """
  fn = "join_schedules"
  schedules = tuple(schedules)
  boundaries = tuple(boundaries)
  if not schedules:
    raise ValueError(f"{fn}: `schedules` must not be empty.")
  if len(boundaries) != len(schedules) - 1:
    raise ValueError(
        f"{fn}: `boundaries` must have len(schedules) - 1 = {len(schedules) - 1} entries, "
        f"got {len(boundaries)}: {list(boundaries)!r}."
    )
  for i, s in enumerate(schedules):
    if not callable(s):
      raise ValueError(f"{fn}: `schedules[{i}]` must be callable, got {s!r}.")
  _common.check_increasing(fn, "boundaries", boundaries)

  def schedule(step: jax.typing.ArrayLike) -> jax.Array:
    value = schedules[0](step)
    for boundary, later in zip(boundaries, schedules[1:]):
      value = jnp.where(step < boundary, value, later(step - boundary))
    return value

  return schedule
