"""PyTorch's SGD momentum buffer (`trace_with_dampening`) and averaged SGD (`scale_by_asgd`)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src.torch import conventions as _common

# Both updates are linear in the gradient and the params, so complex leaves need
# no `view_as_real`: complex arithmetic gives PyTorch's numbers.


class TraceWithDampeningState(NamedTuple):
  """State of `trace_with_dampening`."""

  count: jax.Array  # shape=(), dtype=int32: updates so far (0 -> the buffer is not yet set).
  trace: base.Updates  # PyTorch's `momentum_buffer`, like params.


@checks.public
def trace_with_dampening(
    momentum: jax.typing.ArrayLike,
    dampening: jax.typing.ArrayLike = 0.0,
    nesterov: bool = False,
) -> base.GradientTransformation:
  """PyTorch's SGD momentum buffer, with dampening and its first-step initialisation.

  .. math::
    b_1 = g_1, \\qquad b_t = \\mu\\, b_{t-1} + (1 - \\tau)\\, g_t \\ (t > 1), \\qquad
    u_t = b_t \\ \\text{or}\\ g_t + \\mu\\, b_t \\ (\\text{Nesterov})

  With `dampening = 0` this is exactly `jopt.trace(momentum, nesterov)` (a zero
  buffer gives `b_1 = g_1` too), and `jopt.torch.sgd` uses `trace` then. With
  `dampening > 0` the first step is *not* dampened, so a zero-initialised EMA
  does not reproduce it. Source: `torch.optim.SGD`
  (https://pytorch.org/docs/stable/generated/torch.optim.SGD.html).

  Args:
    momentum: the momentum factor mu, >= 0.
    dampening: tau, the dampening of the gradient in the buffer, >= 0.
    nesterov: return `g + mu * b` (PyTorch's Nesterov form; needs `dampening = 0`).

  Returns:
    A `GradientTransformation` with state `TraceWithDampeningState`.
  """
  fn = "trace_with_dampening"
  checks.check_nonnegative(fn, "momentum", momentum)
  checks.check_nonnegative(fn, "dampening", dampening)
  if nesterov and not _common.is_zero(dampening):
    raise ValueError(f"{fn}: Nesterov momentum requires `dampening` = 0, got {dampening!r}.")

  def init_fn(params):
    return TraceWithDampeningState(count=numerics.init_count(), trace=numerics.zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.trace, shapes=True)
    first = state.count == 0
    trace = numerics.tree_map(
        lambda g, b: jnp.where(first, g, momentum * b + (1 - dampening) * g), updates, state.trace)
    out = numerics.tree_map(lambda g, b: g + momentum * b, updates, trace) if nesterov else trace
    return numerics.cast_like(out, updates), TraceWithDampeningState(
        numerics.safe_increment(state.count), numerics.cast_like(trace, state.trace))

  return base.GradientTransformation(init_fn, update_fn)


class ScaleByAsgdState(NamedTuple):
  """State of `scale_by_asgd`."""

  count: jax.Array  # shape=(), dtype=int32: updates so far.
  ax: base.Params  # the averaged parameters (PyTorch's `state["ax"]`), like params.


@checks.public
def scale_by_asgd(
    lr: base.ScalarOrSchedule = 1e-2,
    lambd: jax.typing.ArrayLike = 1e-4,
    alpha: jax.typing.ArrayLike = 0.75,
    t0: jax.typing.ArrayLike = 1e6,
) -> base.GradientTransformation:
  """PyTorch's averaged SGD step; its updates already include the (negated) learning rate.

  At update `k = 0, 1, ...` (PyTorch's step `k + 1`):

  .. math::
    \\eta_k = \\frac{\\mathrm{lr}_j}{(1 + \\lambda\\, \\mathrm{lr}_j\\, k)^{\\alpha}},\\ j = \\max(k-1, 0), \\qquad
    \\theta \\leftarrow (1 - \\lambda \\eta_k)\\,\\theta - \\eta_k g, \\qquad
    \\bar\\theta \\leftarrow \\bar\\theta + \\mu_k (\\theta - \\bar\\theta),\\ \\mu_k = 1/\\max(1, k - t_0)

  (`mu_k = 1` copies `theta`). PyTorch computes `eta` for the next step at the
  end of a step with that step's learning rate, hence `lr_j` with `j = k - 1`
  when `lr` is a schedule. The learning rate enters non-linearly, so it lives
  here rather than in a trailing `scale_by_learning_rate`. The averaged
  parameters are `state.ax`. Polyak & Juditsky, 1992, "Acceleration of
  stochastic approximation by averaging" (https://doi.org/10.1137/0330046);
  source: `torch.optim.ASGD`.

  Args:
    lr: learning rate, a non-negative float or a schedule `count -> lr`.
    lambd: decay term lambda, >= 0.
    alpha: power of the eta update, >= 0.
    t0: the step at which averaging starts.

  Returns:
    A `GradientTransformation` that needs `params`, with state `ScaleByAsgdState`.
  """
  fn = "scale_by_asgd"
  checks.check_nonnegative(fn, "lr", lr)
  checks.check_nonnegative(fn, "lambd", lambd)
  checks.check_nonnegative(fn, "alpha", alpha)
  checks.check_finite(fn, "t0", t0)

  def init_fn(params):
    return ScaleByAsgdState(count=numerics.init_count(), ax=numerics.zeros_like(params))

  def update_fn(updates, state, params=None):
    checks.require_params(fn, params)
    checks.check_same_structure(fn, updates, params, "params", shapes=True)
    k = state.count
    lr_j = numerics.resolve(lr, jnp.maximum(k - 1, 0))
    kf = jnp.asarray(k, jnp.float32)
    eta = lr_j / (1 + lambd * lr_j * kf) ** alpha
    mu = 1 / jnp.maximum(1.0, kf - t0)

    new_params = numerics.tree_map(lambda g, p: p * (1 - lambd * eta) - eta * g, updates, params)
    ax = numerics.tree_map(
        lambda p, ax: jnp.where(mu == 1, p, ax + (p - ax) * mu), new_params, state.ax)
    new_updates = numerics.tree_map(lambda g, q, p: (q - p).astype(g.dtype), updates, new_params, params)
    return new_updates, ScaleByAsgdState(
        numerics.safe_increment(state.count), numerics.cast_like(ax, state.ax))

  return base.GradientTransformation(init_fn, update_fn)
