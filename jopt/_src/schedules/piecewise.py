"""Piecewise schedules: constant pieces, and linear or cosine interpolation between scaled values."""

from collections.abc import Mapping
from typing import Any, Optional

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src.schedules import _common


def _sorted_items(fn: str, boundaries_and_scales: Optional[dict[int, float]]):
  """`(boundaries, scales)` sorted by boundary, checked: boundaries >= 0, scales >= 0."""
  if boundaries_and_scales is not None and not isinstance(boundaries_and_scales, Mapping):
    raise TypeError(
        f"{checks._name(fn)}: `boundaries_and_scales` must be a dict {{step: scale}} or None, got "
        f"{boundaries_and_scales!r} ({type(boundaries_and_scales).__name__}).")
  if not boundaries_and_scales:
    return (), ()
  boundaries, scales = zip(*sorted(boundaries_and_scales.items()))
  _common.check_increasing(fn, "boundaries_and_scales", boundaries)
  for b, s in zip(boundaries, scales):
    checks.check_nonnegative(fn, f"boundaries_and_scales[{b!r}]", s)
  return boundaries, scales


@checks.public
def piecewise_constant_schedule(
    init_value: jax.typing.ArrayLike,
    boundaries_and_scales: Optional[dict[int, float]] = None,
) -> base.Schedule:
  """`init_value` times the product of the scales whose boundary has been reached.

  .. math:: v(t) = I \\prod_{i:\\ t \\ge b_i} s_i

  for `boundaries_and_scales = {b_i: s_i}`. A boundary takes effect AT its step:
  `{100: 0.1}` gives `I` for steps 0..99 and `0.1 I` from step 100.

  Args:
    init_value: the value before the first boundary.
    boundaries_and_scales: `{step: scale}`; steps `>= 0`, scales `>= 0`.

  Returns:
    A function `count -> value`.

  Raises:
    ValueError: for a negative scale (as optax) or a negative boundary
      (optax silently applies it from step 0).

  Example:
    >>> import jopt
    >>> s = jopt.piecewise_constant_schedule(1.0, {100: 0.1, 200: 0.1})
    >>> [round(float(s(t)), 4) for t in (99, 100, 200)]
    [1.0, 0.1, 0.01]
  """
  _common.check_values("piecewise_constant_schedule", init_value=init_value)
  boundaries, scales = _sorted_items("piecewise_constant_schedule", boundaries_and_scales)

  def schedule(count):
    value = init_value
    for boundary, scale in zip(boundaries, scales):
      value = value * jnp.where(count >= boundary, scale, 1.0)
    return value if boundaries else jnp.broadcast_to(jnp.asarray(value), jnp.shape(count))

  return schedule


@checks.public
def piecewise_interpolate_schedule(
    interpolate_type: str,
    init_value: jax.typing.ArrayLike,
    boundaries_and_scales: Optional[dict[int, float]] = None,
) -> base.Schedule:
  """Linear or cosine interpolation between the cumulatively scaled values at the boundaries.

  With sorted boundaries :math:`b_0 = 0 < b_1 < \\dots < b_n` and values
  :math:`v_0 = I,\\ v_i = v_{i-1} s_i` (the running product of the scales),

  .. math::
    v(t) = \\mathrm{interp}\\big(v_{i-1}, v_i, (t - b_{i-1}) / (b_i - b_{i-1})\\big)
    \\ \\text{for } b_{i-1} \\le t < b_i, \\qquad v(t) = v_n \\ \\text{for } t \\ge b_n,

  where `interp` is linear, :math:`a + p(b - a)`, or cosine,
  :math:`b + (a - b)(1 + \\cos \\pi p)/2`.

  Args:
    interpolate_type: `"linear"` or `"cosine"`.
    init_value: the value at step 0.
    boundaries_and_scales: `{step: scale}`; steps `>= 0`, scales `>= 0`.

  Returns:
    A function `count -> value`.

  Example:
    >>> import jopt
    >>> s = jopt.piecewise_interpolate_schedule("linear", 1.0, {4: 0.1, 8: 0.01})
    >>> [round(float(s(t)), 4) for t in (0, 2, 4, 6, 8, 10)]
    [1.0, 0.55, 0.1, 0.0505, 0.001, 0.001]
  """
  _common.check_values("piecewise_interpolate_schedule", init_value=init_value)
  fn = "piecewise_interpolate_schedule"
  if interpolate_type == "linear":
    interpolate = _common.linear_interpolate
  elif interpolate_type == "cosine":
    interpolate = _common.cosine_interpolate
  else:
    raise ValueError(
        f"{fn}: `interpolate_type` must be 'linear' or 'cosine', got {interpolate_type!r}."
    )
  boundaries, scales = _sorted_items(fn, boundaries_and_scales)

  def schedule(count):
    bounds = jnp.stack((0,) + tuple(boundaries))
    values = jnp.cumprod(jnp.stack((init_value,) + tuple(scales)))
    starts, ends = bounds[:-1], bounds[1:]
    lengths = jnp.maximum(ends - starts, 1)
    inside = jnp.logical_and(starts <= count, count < ends)
    pct = (count - starts) / lengths
    pieces = interpolate(values[:-1], values[1:], pct)
    # `where`, not a product with an indicator, so an unused piece cannot leak inf/NaN.
    return jnp.sum(jnp.where(inside, pieces, 0.0)) + jnp.where(bounds[-1] <= count, values[-1], 0.0)

  return schedule
