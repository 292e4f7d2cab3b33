"""Cosine decay (Loshchilov & Hutter's annealing without restarts)."""

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src.schedules import _common


@checks.public
def cosine_decay_schedule(
    init_value: jax.typing.ArrayLike,
    decay_steps: int,
    alpha: jax.typing.ArrayLike = 0.0,
    exponent: jax.typing.ArrayLike = 1.0,
) -> base.Schedule:
  """Cosine decay from `init_value` to `alpha * init_value` over `decay_steps` steps.

  .. math::
    c(t) = \\tfrac12\\big(1 + \\cos(\\pi \\min(t, T) / T)\\big), \\qquad
    v(t) = I\\,\\big((1 - \\alpha)\\, c(t)^p + \\alpha\\big),

  with :math:`I` = `init_value`, :math:`T` = `decay_steps`, :math:`p` = `exponent`.

  Differs from optax: the schedule is pure. optax's rewrites its own
  `decay_steps` (an `int`) to a `float` on the first call (`nonlocal`); jopt
  never mutates anything on a call. Steps before 0 are held at `init_value`
  (optax mirrors the cosine for negative steps). A negative `exponent` raises
  `ValueError` (it would give inf at the end of the decay).

  Args:
    init_value: the value at step 0.
    decay_steps: the length of the decay, `> 0`.
    alpha: the final value as a fraction of `init_value`.
    exponent: the power :math:`p` of the cosine factor, `>= 0`.

  Returns:
    A function `count -> value`.

  References:
    Loshchilov & Hutter, `SGDR: Stochastic Gradient Descent with Warm Restarts
    <https://arxiv.org/abs/1608.03983>`_, 2017.

  Example:
    >>> import jopt
    >>> round(float(jopt.cosine_decay_schedule(1.0, decay_steps=100)(50)), 4)
    0.5
  """
  _common.check_values("cosine_decay_schedule", init_value=init_value, alpha=alpha)
  fn = "cosine_decay_schedule"
  _common.check_steps(fn, "decay_steps", decay_steps, allow_zero=False)
  checks.check_nonnegative(fn, "exponent", exponent)
  return cosine_unchecked(init_value, decay_steps, alpha, exponent)


def cosine_unchecked(init_value, decay_steps, alpha, exponent) -> base.Schedule:
  """The cosine decay without argument checks (the callers check theirs)."""
  steps = float(decay_steps) if _common.is_known(decay_steps) else decay_steps

  def schedule(count):
    t = jnp.minimum(jnp.maximum(count, 0), steps)  # a float: `steps` is a float.
    cosine = jnp.maximum(0.5 * (1 + jnp.cos(jnp.pi * t / steps)), 0.0)
    return init_value * ((1 - alpha) * cosine**exponent + alpha)

  return schedule
