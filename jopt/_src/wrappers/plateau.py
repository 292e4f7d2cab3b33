"""Reduce the learning rate when a monitored value stops improving: `reduce_on_plateau`."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics


class ReduceLROnPlateauState(NamedTuple):
  """State of `reduce_on_plateau`."""

  scale: jax.Array  # shape=(), float32: the current learning-rate multiplier.
  best_value: jax.Array  # shape=(), float32: the best averaged value so far (inf at first).
  plateau_count: jax.Array  # shape=(), int32: evaluations without improvement.
  cooldown_count: jax.Array  # shape=(), int32: evaluations left before reductions resume.
  count: jax.Array  # shape=(), int32: values accumulated toward the next evaluation.
  avg_value: jax.Array  # shape=(), float32: running mean of those values.

  jopt_hyperparams = ("scale",)  # what `jopt.hyperparams(state)` reports.


@checks.public
def reduce_on_plateau(
    factor: float = 0.1,
    patience: int = 10,
    rtol: float = 1e-4,
    atol: float = 0.0,
    cooldown: int = 0,
    accumulation_size: int = 1,
    min_scale: float = 0.0,
) -> base.GradientTransformationExtraArgs:
  """Multiplies updates by a scale that shrinks by `factor` when the monitored value plateaus.

  Call `update(updates, state, value=loss)`. Values are averaged over
  `accumulation_size` calls; each average `v` is one evaluation:

  .. math::
    \\text{improved} \\iff v < b - \\text{rtol}\\,|b| - \\text{atol}, \\quad b \\leftarrow v \\text{ if improved}.

  Outside cooldown, `patience` evaluations in a row without improvement set
  `scale <- max(scale * factor, min_scale)`, reset the plateau count and start
  `cooldown` evaluations during which the plateau count stays 0 (the best value
  is still tracked). Updates are `scale * u`. The same rule as PyTorch's
  `ReduceLROnPlateau` (https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.ReduceLROnPlateau.html)
  with optax.contrib's counting: the reduction happens on the `patience`-th
  non-improving evaluation (PyTorch: the `patience + 1`-th).

  Differs from optax: (1) the margin is `rtol * |b|`; optax uses
  `(1 - rtol) * b`, which for a negative best value lies above it, so a flat or
  worsening negative loss (NLL, ELBO, negative reward) counts as an improvement
  and the scale never drops. For `b >= 0` both are the same number.
  (2) `scale` and the values are float32, not the lowest/highest params dtype
  (bf16 params made optax's scale bf16). (3) no `lax.cond`, so eager loops do
  not recompile. (4) arguments are checked: `patience`, `accumulation_size` >= 1,
  `cooldown` >= 0, `min_scale` in [0, 1].

  Args:
    factor: the reduction factor, in (0, 1).
    patience: evaluations without improvement before a reduction, >= 1.
    rtol: relative improvement threshold, in [0, 1].
    atol: absolute improvement threshold, >= 0 (`rtol` and `atol` not both 0).
    cooldown: evaluations to wait after a reduction, >= 0.
    accumulation_size: values averaged into one evaluation, >= 1.
    min_scale: the scale never goes below this, in [0, 1].

  Returns:
    A `GradientTransformationExtraArgs` with state `ReduceLROnPlateauState`;
    `update` needs the keyword argument `value`.
  """
  fn = "reduce_on_plateau"
  checks.check_range(fn, "factor", factor, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
  checks.check_int(fn, "patience", patience, 1)
  checks.check_range(fn, "rtol", rtol, 0.0, 1.0)
  checks.check_nonnegative(fn, "atol", atol)
  if checks.concrete_value(rtol) == 0 and checks.concrete_value(atol) == 0:
    raise ValueError(f"{fn}: at least one of `rtol` and `atol` must be > 0, got both 0.")
  checks.check_int(fn, "cooldown", cooldown, 0)
  checks.check_int(fn, "accumulation_size", accumulation_size, 1)
  checks.check_range(fn, "min_scale", min_scale, 0.0, 1.0)

  def init_fn(params):
    del params
    return ReduceLROnPlateauState(
        scale=jnp.ones([], jnp.float32),
        best_value=jnp.asarray(jnp.inf, jnp.float32),
        plateau_count=numerics.init_count(),
        cooldown_count=numerics.init_count(),
        count=numerics.init_count(),
        avg_value=jnp.zeros([], jnp.float32),
    )

  def evaluate(state):
    v, best = state.avg_value, state.best_value
    margin_best = jnp.where(best >= 0, (1 - rtol) * best, (1 + rtol) * best)
    improved = v < margin_best - atol
    best = jnp.where(improved, v, best)
    plateau = jnp.where(improved, 0, numerics.safe_increment(state.plateau_count))
    in_cooldown = state.cooldown_count > 0
    reduce = jnp.logical_and(jnp.logical_not(in_cooldown), plateau == patience)
    scale = jnp.where(reduce, jnp.maximum(state.scale * factor, min_scale), state.scale)
    return ReduceLROnPlateauState(
        scale=scale.astype(jnp.float32),
        best_value=best,
        plateau_count=jnp.where(jnp.logical_or(in_cooldown, reduce), 0, plateau).astype(jnp.int32),
        cooldown_count=jnp.where(
            in_cooldown, state.cooldown_count - 1, jnp.where(reduce, cooldown, 0)
        ).astype(jnp.int32),
        count=jnp.zeros([], jnp.int32),
        avg_value=jnp.zeros([], jnp.float32),
    )

  def update_fn(updates, state, params=None, *, value, **extra_args):
    del params, extra_args
    count = numerics.safe_increment(state.count)
    avg = ((state.count * state.avg_value + jnp.asarray(value).astype(jnp.float32)) / count)
    state = state._replace(avg_value=avg.astype(jnp.float32), count=count)
    evaluated = evaluate(state)
    state = jax.tree.map(
        lambda new, old: jnp.where(count == accumulation_size, new, old), evaluated, state
    )
    updates = numerics.tree_map(lambda g: (state.scale * g).astype(g.dtype), updates)
    return updates, state

  return base.declare_fusion(
      base.GradientTransformationExtraArgs(init_fn, update_fn), "elementwise", "reduce_on_plateau")
