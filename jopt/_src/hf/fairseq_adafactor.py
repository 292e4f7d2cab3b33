"""Transformers' `Adafactor` (`transformers.optimization.Adafactor`, fairseq's) as a jopt transform."""

from typing import Any, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src.keras import base_optimizer


class HfAdafactorState(NamedTuple):
  """State of `jopt.transformers.adafactor`."""

  count: jax.Array  # shape=(), int32: steps so far (Transformers' per-parameter `state["step"]`).
  exp_avg: Any  # like params (float32): EMA of the scaled updates when `beta1` is set; else None.
  exp_avg_sq_row: base.Updates  # float32, shape[:-1] for leaves with ndim >= 2, else shape ().
  exp_avg_sq_col: base.Updates  # float32, shape[:-2] + shape[-1:] for ndim >= 2, else shape ().
  exp_avg_sq: base.Updates  # float32, like params for leaves with ndim < 2, else shape ().


def _rms(x: jax.Array) -> jax.Array:
  """`||x||_2 / sqrt(numel)`, Transformers' `_rms`."""
  return jnp.sqrt(numerics.leaf_sum_of_squares(x)) / jnp.sqrt(jnp.float32(max(x.size, 1)))


@checks.public
def adafactor(
    lr: Optional[base.ScalarOrSchedule] = None,
    eps: Sequence[float] = (1e-30, 1e-3),
    clip_threshold: float = 1.0,
    decay_rate: float = -0.8,
    beta1: Optional[float] = None,
    weight_decay: float = 0.0,
    scale_parameter: bool = True,
    relative_step: bool = True,
    warmup_init: bool = False,
) -> base.GradientTransformation:
  """`transformers.optimization.Adafactor`: factored second moments over the last two axes, relative steps.

  With `t` the step (from 1), `x` the parameter, `g` its gradient:

  .. math::
    \\rho_t = \\min(10^{-6} t \\text{ or } 10^{-2}, t^{-1/2}) \\ (\\texttt{relative\\_step}) \\
    \\text{else } \\texttt{lr}, \\quad
    \\alpha_t = \\rho_t \\max(\\epsilon_2, \\mathrm{rms}(x)) \\ (\\texttt{scale\\_parameter}) \\text{ else } \\rho_t, \\\\
    \\hat\\beta_{2t} = 1 - t^{c}, \\quad
    R, C \\leftarrow \\hat\\beta_{2t} (R, C) + (1 - \\hat\\beta_{2t})\\,
    \\mathrm{mean}_{-1,-2}(g^2 + \\epsilon_1), \\quad
    u = \\frac{g}{\\sqrt{(R / \\mathrm{mean}(R)) \\otimes C}}, \\\\
    u \\leftarrow \\alpha_t \\frac{u}{\\max(1, \\mathrm{rms}(u) / d)}, \\quad
    [m \\leftarrow \\beta_1 m + (1 - \\beta_1) u,\\ u = m], \\quad
    x \\leftarrow x - \\lambda \\alpha_t x - u

  with `c` = `decay_rate`, `d` = `clip_threshold`, `lambda` = `weight_decay`;
  leaves with fewer than 2 axes keep a full second moment. The state and the
  arithmetic are float32 whatever the param dtype (bf16 params get bf16
  updates). Differs from `jopt.adafactor` (optax's): the last two axes are
  factored for every leaf with 2+ axes (optax: the two largest axes, dims >=
  128), the step size can be relative and is then capped by `1/sqrt(t)`, and
  the weight decay is multiplied by the step size `alpha_t` (optax adds
  `weight_decay_rate * x` unscaled).
  Shazeer & Stern, 2018 (https://arxiv.org/abs/1804.04235).

  Args:
    lr: None (with `relative_step`) or the external learning rate, a float or a
      schedule `count -> lr` (count 0 = the first step); it is the step size
      only with `relative_step=False`.
    eps: `(epsilon_1, epsilon_2)`: added to the squared gradients, and the floor
      of the parameter rms.
    clip_threshold: `d > 0`, the bound on the rms of the normalized update.
    decay_rate: `c <= 0`, the exponent of the second-moment decay.
    beta1: None (no first moment) or its decay, in [0, 1).
    weight_decay: `lambda >= 0`, decoupled decay scaled by `alpha_t`.
    scale_parameter: multiply the step size by the parameter rms.
    relative_step: step size `min(1e-2, 1/sqrt(t))` (or `min(1e-6 t, ...)` with
      `warmup_init`) instead of `lr`.
    warmup_init: the relative step grows as `1e-6 t` (needs `relative_step`).

  Returns:
    A `GradientTransformation` with state `HfAdafactorState`; needs `params`.

  Example:
    >>> import jopt
    >>> tx = jopt.transformers.adafactor(lr=1e-3, scale_parameter=False, relative_step=False)
  """
  fn = "jopt.transformers.adafactor"
  checks.check_bool(fn, "relative_step", relative_step)
  checks.check_bool(fn, "warmup_init", warmup_init)
  checks.check_bool(fn, "scale_parameter", scale_parameter)
  if lr is not None and relative_step:
    raise ValueError(f"{checks._name(fn)}: cannot combine a manual `lr` and `relative_step=True`.")
  if warmup_init and not relative_step:
    raise ValueError(f"{checks._name(fn)}: `warmup_init=True` requires `relative_step=True`.")
  if lr is None and not relative_step:
    raise ValueError(f"{checks._name(fn)}: `relative_step=False` needs a learning rate `lr` (a float "
                     "or a schedule).")
  if lr is not None:
    checks.check_nonnegative(fn, "lr", lr)
  eps = checks.check_sequence(fn, "eps", eps, 2)
  checks.check_nonnegative(fn, "eps[0]", eps[0], required=True)
  checks.check_nonnegative(fn, "eps[1]", eps[1], required=True)
  base_optimizer.check_number(fn, "clip_threshold", clip_threshold, 0.0, low_inclusive=False)
  base_optimizer.check_number(fn, "decay_rate", decay_rate, None, 0.0)
  if beta1 is not None:
    base_optimizer.check_number(fn, "beta1", beta1, 0.0, 1.0, high_inclusive=False)
  base_optimizer.check_number(fn, "weight_decay", weight_decay, 0.0)
  eps1, eps2 = float(eps[0]), float(eps[1])
  f32 = jnp.float32

  def init_fn(params):
    def row(p):
      return jnp.zeros(p.shape[:-1] if p.ndim >= 2 else (), f32)

    def col(p):
      return jnp.zeros(p.shape[:-2] + p.shape[-1:] if p.ndim >= 2 else (), f32)

    def full(p):
      return jnp.zeros(() if p.ndim >= 2 else p.shape, f32)

    return HfAdafactorState(
        count=numerics.init_count(),
        exp_avg=numerics.zeros_like(params, f32) if beta1 is not None else None,
        exp_avg_sq_row=jax.tree.map(row, params), exp_avg_sq_col=jax.tree.map(col, params),
        exp_avg_sq=jax.tree.map(full, params))

  def update_fn(updates, state, params=None):
    checks.require_params(fn, params)
    checks.check_same_structure(fn, updates, params, "params", shapes=True)
    count = numerics.safe_increment(state.count)
    t = count.astype(f32)
    if relative_step:
      min_step = 1e-6 * t if warmup_init else f32(1e-2)
      rel_step = jnp.minimum(min_step, 1.0 / jnp.sqrt(t))
    else:
      rel_step = jnp.asarray(numerics.resolve(lr, state.count), f32)
    beta2t = 1.0 - t**decay_rate

    def leaf(g, p, row, col, full, m=None):
      g = g.astype(f32)
      x = p.astype(f32)
      step_size = rel_step * jnp.maximum(f32(eps2), _rms(x)) if scale_parameter else rel_step
      sq = g * g + eps1
      if g.ndim >= 2:
        row = beta2t * row + (1.0 - beta2t) * jnp.mean(sq, axis=-1)
        col = beta2t * col + (1.0 - beta2t) * jnp.mean(sq, axis=-2)
        r_factor = jax.lax.rsqrt(row / jnp.mean(row, axis=-1, keepdims=True))[..., None]
        c_factor = jax.lax.rsqrt(col)[..., None, :]
        u = r_factor * c_factor * g
      else:
        full = beta2t * full + (1.0 - beta2t) * sq
        u = jax.lax.rsqrt(full) * g
      u = u / jnp.maximum(_rms(u) / clip_threshold, 1.0)
      u = u * step_size
      if m is not None:
        m = beta1 * m + (1.0 - beta1) * u
        u = m
      delta = -u
      if weight_decay != 0:
        delta = -x * (weight_decay * step_size) - u
      return delta.astype(p.dtype), row, col, full, m

    moments = (state.exp_avg,) if beta1 is not None else ()
    out = numerics.tree_map(leaf, updates, params, state.exp_avg_sq_row, state.exp_avg_sq_col,
                            state.exp_avg_sq, *moments)
    treedef = jax.tree.structure(updates, is_leaf=lambda x: x is None)
    parts = treedef.flatten_up_to(out)
    trees = [treedef.unflatten([None if q is None else q[i] for q in parts]) for i in range(5)]
    return trees[0], HfAdafactorState(
        count=count, exp_avg=trees[4] if beta1 is not None else None,
        exp_avg_sq_row=trees[1], exp_avg_sq_col=trees[2], exp_avg_sq=trees[3])

  return base.GradientTransformation(init_fn, update_fn)
