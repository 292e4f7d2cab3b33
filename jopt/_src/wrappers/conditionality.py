"""Skipping bad steps: `apply_if_finite`, and the `MultiSteps` skip tests `skip_not_finite`, `skip_large_updates`."""

import jax
import jax.numpy as jnp
from typing import Any, Callable, NamedTuple
from typing import Any, NamedTuple, Optional

from jopt._src import base
from jopt._src import checks
from jopt._src import combine
from jopt._src import numerics
from jopt._src.transforms import stateless


def all_finite(updates: Any) -> jax.Array:
  """A bool scalar: whether every element of every leaf is finite (True for an empty tree)."""
  leaves = [l for l in jax.tree.leaves(updates) if l is not None]
  if not leaves:
    return jnp.array(True)
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(l)) for l in leaves]))


def split_extra_args(extra_args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
  """(array-valued, other) extra arguments: arrays can be `lax.cond` operands, others cannot."""
  is_data = lambda v: all(
      isinstance(l, (jax.Array, float, int)) or hasattr(l, "dtype") for l in jax.tree.leaves(v)
  )
  data = {k: v for k, v in extra_args.items() if is_data(v)}
  other = {k: v for k, v in extra_args.items() if k not in data}
  return data, other


class ApplyIfFiniteState(NamedTuple):
  """State of `apply_if_finite`."""

  notfinite_count: jax.Array  # shape=(), int32: consecutive non-finite updates, reset by a finite one.
  last_finite: jax.Array  # shape=(), bool: whether the last update was finite.
  total_notfinite: jax.Array  # shape=(), int32: all non-finite updates so far, never reset.
  inner_state: base.OptState  # the wrapped transform's state.


@checks.public
def apply_if_finite(
    inner: base.GradientTransformation, max_consecutive_errors: int
) -> base.GradientTransformationExtraArgs:
  """Applies `inner` only to finite updates; a step with an Inf or NaN is skipped.

  A skipped step returns zero updates and leaves `inner`'s state (moments and
  step count included) exactly as it was. After more than
  `max_consecutive_errors` consecutive non-finite steps the wrapper gives up
  and applies the update anyway (as optax does).

  .. math::
    n_t = 0 \\text{ if } g_t \\text{ finite else } n_{t-1} + 1, \\quad
    \\text{apply iff } g_t \\text{ finite or } n_t > \\text{max\\_consecutive\\_errors}.

  Under `pmap`/`shard_map` the decision is per device: reduce gradients across
  devices (e.g. `lax.pmean`) before the update so every replica decides the same.

  Differs from optax: the `lax.cond` branches are built once, so an eager
  (un-jitted) loop does not recompile every step (~0.5-1 s each in optax 0.2.8).

  Args:
    inner: the transform to protect.
    max_consecutive_errors: how many consecutive non-finite updates to skip
      before giving up, >= 0.

  Returns:
    A `GradientTransformationExtraArgs` with state `ApplyIfFiniteState`.
  """
  checks.check_int("apply_if_finite", "max_consecutive_errors", max_consecutive_errors, 0)
  inner = combine.with_extra_args_support(inner)

  # Branches defined once: `lax.cond` caches their traces by function identity.
  def do_update(operands):
    updates, inner_state, params, extra = operands
    return inner.update(updates, inner_state, params, **extra)

  def reject_update(operands):
    updates, inner_state, params, extra = operands
    zeros = numerics.zeros_like_output(inner.update, updates, inner_state, params, **extra)
    return zeros, inner_state

  def init_fn(params):
    return ApplyIfFiniteState(
        notfinite_count=numerics.init_count(),
        last_finite=jnp.array(True),
        total_notfinite=numerics.init_count(),
        inner_state=inner.init(params),
    )

  def update_fn(updates, state, params=None, **extra_args):
    isfinite = all_finite(updates)
    notfinite_count = jnp.where(
        isfinite, jnp.zeros([], jnp.int32), numerics.safe_increment(state.notfinite_count)
    )
    data, other = split_extra_args(extra_args)
    if other:  # non-array extra arguments cannot be operands: close over them (retraces).
      do = lambda ops: inner.update(*ops[:3], **ops[3], **other)
      reject = lambda ops: (numerics.zeros_like_output(inner.update, *ops[:3], **ops[3], **other), ops[1])
    else:
      do, reject = do_update, reject_update
    new_updates, inner_state = jax.lax.cond(
        jnp.logical_or(isfinite, notfinite_count > max_consecutive_errors),
        do, reject, (updates, state.inner_state, params, data),
    )
    return new_updates, ApplyIfFiniteState(
        notfinite_count=notfinite_count,
        last_finite=isfinite,
        total_notfinite=jnp.where(
            isfinite, state.total_notfinite, numerics.safe_increment(state.total_notfinite)
        ),
        inner_state=inner_state,
    )

  return base.declare_fusion(
      base.GradientTransformationExtraArgs(init_fn, update_fn), "composite", "apply_if_finite",
      children=(inner,),
      rebuild=lambda kids, remask: apply_if_finite(kids[0], max_consecutive_errors))


@checks.public
def skip_not_finite(
    updates: base.Updates,
    gradient_step: jax.Array,
    params: Optional[base.Params],
) -> tuple[jax.Array, dict[str, jax.Array]]:
  """A `MultiSteps` skip test: skip a mini-step whose updates hold an Inf or NaN.

  Pass as `MultiSteps(..., should_skip_update_fn=skip_not_finite)`; a skipped
  mini-step leaves the accumulator, the inner state and both counters untouched.

  Args:
    updates: the mini-step's gradients.
    gradient_step: the `MultiSteps` gradient step (unused).
    params: the params (unused).

  Returns:
    `(should_skip, {"should_skip": should_skip, "num_not_finite": n})`, a bool
    scalar and the int32 number of non-finite elements.
  """
  del gradient_step, params
  leaves = [l for l in jax.tree.leaves(updates) if l is not None]
  counts = [jnp.sum(jnp.logical_not(jnp.isfinite(l)), dtype=jnp.int32) for l in leaves]
  num_not_finite = sum(counts) if counts else jnp.zeros([], jnp.int32)
  should_skip = num_not_finite > 0
  return should_skip, {"should_skip": should_skip, "num_not_finite": num_not_finite}


@checks.public
def skip_large_updates(
    updates: base.Updates,
    gradient_step: jax.Array,
    params: Optional[base.Params],
    max_squared_norm: float,
) -> tuple[jax.Array, dict[str, jax.Array]]:
  """A `MultiSteps` skip test: skip when `sum |u|^2 >= max_squared_norm` (or it is NaN).

  Bind the threshold with `functools.partial(skip_large_updates, max_squared_norm=...)`.

  Args:
    updates: the mini-step's gradients.
    gradient_step: the `MultiSteps` gradient step (unused).
    params: the params (unused).
    max_squared_norm: the largest accepted squared global norm, >= 0.

  Returns:
    `(should_skip, {"should_skip": should_skip, "norm_squared": n})`.
  """
  del gradient_step, params
  checks.check_nonnegative(
      "skip_large_updates", "max_squared_norm", max_squared_norm, finite=False)
  norm_sq = numerics.sum_of_squares(updates)
  should_skip = jnp.logical_not(norm_sq < max_squared_norm)
  return should_skip, {"should_skip": should_skip, "norm_squared": norm_sq}


# --- conditionally_mask and conditionally_transform ---

class ConditionallyTransformState(NamedTuple):
  """State of `conditionally_transform`."""

  inner_state: base.OptState  # the wrapped transform's state.
  step: jax.Array  # shape=(), int32: number of `update` calls so far.


class ConditionallyMaskState(NamedTuple):
  """State of `conditionally_mask`."""

  step: jax.Array  # shape=(), int32: number of `update` calls so far.
  inner_state: base.OptState  # the wrapped transform's state.


def _conditional(
    inner: base.GradientTransformation,
    should_transform_fn: base.ConditionFn,
    forward_extra_args: bool,
    skip: Callable[[Any, Any], Any],
    make_state: Callable[[Any, jax.Array], Any],
) -> base.GradientTransformationExtraArgs:
  """`update` runs `inner` where `should_transform_fn(step)` holds, else `skip(updates, inner_state)`."""
  inner = combine.with_extra_args_support(inner)

  # Branches built once, so an eager loop reuses `lax.cond`'s compiled program
  # instead of compiling fresh closures at every step.
  def run(operands):
    updates, inner_state, params, extra = operands
    return inner.update(updates, inner_state, params, **extra)

  def pass_(operands):
    return skip(operands[0], operands[1])

  def init_fn(params):
    return make_state(inner.init(params), numerics.init_count())

  def update_fn(updates, state, params=None, **extra_args):
    step, inner_state = state.step, state.inner_state
    pred = should_transform_fn(step, **(extra_args if forward_extra_args else {}))
    data, other = split_extra_args(extra_args)
    if other:  # non-array extra arguments cannot be `cond` operands: close over them.
      run_, pass__ = (lambda ops: run(ops[:3] + ({**ops[3], **other},))), pass_
    else:
      run_, pass__ = run, pass_
    updates, inner_state = jax.lax.cond(
        pred, run_, pass__, (updates, inner_state, params, data)
    )
    return updates, make_state(inner_state, numerics.safe_increment(step))

  return base.GradientTransformationExtraArgs(init_fn, update_fn)


@checks.public
def conditionally_transform(
    inner: base.GradientTransformation,
    should_transform_fn: base.ConditionFn,
    forward_extra_args: bool = False,
) -> base.GradientTransformationExtraArgs:
  """Runs `inner` at the steps where `should_transform_fn(step)` is True; elsewhere updates and state pass through.

  .. math::
    (u'_t, s_t) = \\text{inner}(u_t, s_{t-1}) \\text{ if } f(t) \\text{ else } (u_t, s_{t-1})

  with :math:`t = 0, 1, \\dots` the number of earlier `update` calls. To
  output zeros on the other steps, use `conditionally_mask`.

  Args:
    inner: the transform to run.
    should_transform_fn: `f(step, **extra_args) -> bool scalar`; `step` is an
      int32 scalar.
    forward_extra_args: also pass `update`'s extra keyword arguments to
      `should_transform_fn`.

  Returns:
    A `GradientTransformationExtraArgs` with state `ConditionallyTransformState`.

  Example:
    >>> import jopt
    >>> # Apply weight decay every 10th step only.
    >>> tx = jopt.conditionally_transform(jopt.add_decayed_weights(1e-2), lambda step: step % 10 == 0)
  """
  return base.declare_fusion(_conditional(
      inner, should_transform_fn, forward_extra_args,
      skip=lambda updates, inner_state: (updates, inner_state),
      make_state=lambda inner_state, step: ConditionallyTransformState(inner_state, step),
  ), "composite", "conditionally_transform", children=(inner,), rebuild=lambda kids, remask:
      conditionally_transform(kids[0], should_transform_fn, forward_extra_args))


@checks.public
def conditionally_mask(
    inner: base.GradientTransformation,
    should_transform_fn: base.ConditionFn,
    forward_extra_args: bool = False,
) -> base.GradientTransformationExtraArgs:
  """Runs `inner` at the steps where `should_transform_fn(step)` is True; elsewhere outputs zeros, state unchanged.

  .. math::
    (u'_t, s_t) = \\text{inner}(u_t, s_{t-1}) \\text{ if } f(t) \\text{ else } (0, s_{t-1})

  with :math:`t = 0, 1, \\dots` the number of earlier `update` calls. To pass
  the updates through unchanged instead, use `conditionally_transform`.

  Args:
    inner: the transform to run.
    should_transform_fn: `f(step, **extra_args) -> bool scalar`; `step` is an
      int32 scalar.
    forward_extra_args: also pass `update`'s extra keyword arguments to
      `should_transform_fn`.

  Returns:
    A `GradientTransformationExtraArgs` with state `ConditionallyMaskState`.
  """
  return base.declare_fusion(_conditional(
      inner, should_transform_fn, forward_extra_args,
      skip=lambda updates, inner_state: (jax.tree.map(jnp.zeros_like, updates), inner_state),
      make_state=lambda inner_state, step: ConditionallyMaskState(step=step, inner_state=inner_state),
  ), "composite", "conditionally_mask", children=(inner,), rebuild=lambda kids, remask:
      conditionally_mask(kids[0], should_transform_fn, forward_extra_args))
