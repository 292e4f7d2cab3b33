"""Gradient accumulation: `MultiSteps` applies the inner optimizer once every k mini-steps."""

from typing import Any, Callable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from jopt._src import checks
from jopt._src import base
from jopt._src import combine
from jopt._src.wrappers import conditionality
from jopt._src import numerics


class MultiStepsState(NamedTuple):
  """State of `MultiSteps`."""

  mini_step: jax.Array  # shape=(), int32: mini-steps accumulated since the last inner update.
  gradient_step: jax.Array  # shape=(), int32: inner updates so far.
  inner_opt_state: Any  # the wrapped optimizer's state.
  acc_grads: Any  # like params, accumulator_dtype; `()` when k is the constant 1.
  skip_state: Any = ()  # what `should_skip_update_fn` returned last.


def _never_skip(updates, gradient_step, params):
  del updates, gradient_step, params
  return jnp.array(False), ()


class MultiSteps:
  """Accumulates gradients over k mini-steps, then applies the inner optimizer once.

  At mini-step `i` (0-based within a group of `k = every_k_schedule(gradient_step)`):

  .. math::
    a \\leftarrow a + (g - a)/(i + 1) \\ \\text{(mean, Welford)} \\quad\\text{or}\\quad
    a \\leftarrow a + g \\ \\text{(sum)};

  at `i = k - 1` the inner optimizer is applied to `a`, its updates are
  returned and `a` is reset to zero; otherwise zero updates are returned and
  the inner state is unchanged. Numbers equal optax's `MultiSteps`.

  With `should_skip_update_fn` (e.g. `jopt.skip_not_finite`) a rejected
  mini-step leaves the whole state untouched except `skip_state`.

  Differs from optax: (1) the accumulator is reset with a select, not by
  multiplying by zero, so one non-finite gradient spoils only its own group
  instead of every later step (optax: `0 * NaN = NaN` forever), and a
  mini-step never returns NaN updates; (2) with a constant `every_k_schedule=1`
  no accumulator is allocated (optax keeps a full float32 copy of the
  gradients); (3) without a skip function there is no `lax.cond`, and with one
  its branches are built once, so eager loops do not recompile every step.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> opt = jopt.MultiSteps(jopt.sgd(0.1), every_k_schedule=2)
    >>> state = opt.init(jnp.zeros(2))
    >>> u, state = opt.update(jnp.ones(2), state)  # accumulated, u == 0
    >>> u, state = opt.update(3 * jnp.ones(2), state)  # mean 2 applied: u == -0.2
    >>> bool(opt.has_updated(state))
    True
  """

  def __init__(
      self,
      opt: base.GradientTransformation,
      every_k_schedule: Union[int, Callable[[jax.Array], jax.Array]],
      use_grad_mean: bool = True,
      should_skip_update_fn: Optional[Callable[..., tuple[jax.Array, Any]]] = None,
      accumulator_dtype: Any = jnp.float32,
  ):
    """Builds the wrapper.

    Args:
      opt: the inner optimizer.
      every_k_schedule: mini-steps per inner update: an integer >= 1, or a
        function `gradient_step -> k` (to grow the batch during training).
      use_grad_mean: average the accumulated gradients (default) or sum them.
      should_skip_update_fn: `(updates, gradient_step, params) -> (bool, info)`;
        True rejects the mini-step, `info` is stored in `skip_state`.
      accumulator_dtype: dtype of the accumulator (default float32).
    """
    if callable(every_k_schedule):
      self._every_k = every_k_schedule
      self._k_is_one = False
    else:
      checks.check_int("MultiSteps", "every_k_schedule", every_k_schedule, 1)
      self._every_k = lambda step, k=every_k_schedule: k
      self._k_is_one = every_k_schedule == 1
    self._opt = combine.with_extra_args_support(opt)
    self._use_grad_mean = use_grad_mean
    self._should_skip = should_skip_update_fn
    self._acc_dtype = numerics.canonicalize_dtype(accumulator_dtype)

    # `lax.cond` branches, built once (see `apply_if_finite`).
    def do_branch(operands):
      updates, state, params, extra = operands
      return self._do_update(updates, state, params, extra)

    def skip_branch(operands):
      updates, state, params, extra = operands
      return numerics.zeros_like_output(self._do_update, updates, state, params, extra), state

    self._branches = (skip_branch, do_branch)
    if should_skip_update_fn in (None, conditionality.skip_not_finite):  # a global count only
      base.declare_fusion(
          self, "composite", "MultiSteps", children=(opt,),
          rebuild=lambda kids, _: MultiSteps(
              kids[0], every_k_schedule, use_grad_mean, should_skip_update_fn, accumulator_dtype,
          ).gradient_transformation())
    else:
      base.declare_fusion(self, "unknown", "MultiSteps",
                          why="its `should_skip_update_fn` sees the whole updates tree")

  @property
  def inner_opt(self) -> base.GradientTransformationExtraArgs:
    """The wrapped optimizer."""
    return self._opt

  def init(self, params: base.Params) -> MultiStepsState:
    """The initial state: zero counters, the inner state, a zero accumulator."""
    gradient_step = numerics.init_count()
    skip_fn = self._should_skip or _never_skip
    _, skip_state = skip_fn(numerics.zeros_like(params), gradient_step, params)
    return MultiStepsState(
        mini_step=numerics.init_count(),
        gradient_step=gradient_step,
        inner_opt_state=self._opt.init(params),
        acc_grads=() if self._k_is_one else numerics.zeros_like(params, dtype=self._acc_dtype),
        skip_state=skip_state,
    )

  def _do_update(self, updates, state, params, extra):
    if self._k_is_one:  # the inner update every step; nothing to accumulate.
      new_updates, inner_state = self._opt.update(updates, state.inner_opt_state, params, **extra)
      return new_updates, state._replace(
          gradient_step=numerics.safe_increment(state.gradient_step), inner_opt_state=inner_state
      )
    k = self._every_k(state.gradient_step)
    n = state.mini_step
    if self._use_grad_mean:
      acc = jax.tree.map(lambda g, a: a + (g - a) / (n + 1), updates, state.acc_grads)
    else:
      acc = jax.tree.map(lambda g, a: g + a, updates, state.acc_grads)
    new_updates, new_inner = self._opt.update(
        numerics.cast_like(acc, updates), state.inner_opt_state, params, **extra
    )
    emit = n == k - 1
    new_state = MultiStepsState(
        mini_step=numerics.safe_increment(n) % k,
        gradient_step=jnp.where(emit, numerics.safe_increment(state.gradient_step), state.gradient_step),
        inner_opt_state=jax.tree.map(
            lambda old, new: jnp.where(emit, new, old).astype(old.dtype),
            state.inner_opt_state, new_inner,
        ),
        acc_grads=jax.tree.map(
            lambda a: jnp.where(emit, jnp.zeros_like(a), a).astype(self._acc_dtype), acc
        ),
        skip_state=state.skip_state,
    )
    new_updates = jax.tree.map(lambda u: jnp.where(emit, u, jnp.zeros_like(u)), new_updates)
    return new_updates, new_state

  def update(
      self,
      updates: base.Updates,
      state: MultiStepsState,
      params: Optional[base.Params] = None,
      **extra_args: Any,
  ) -> tuple[base.Updates, MultiStepsState]:
    """Accumulates `updates`; returns the inner optimizer's updates every k-th mini-step, else zeros."""
    if self._should_skip is None:
      return self._do_update(updates, state, params, extra_args)
    should_skip, skip_state = self._should_skip(updates, state.gradient_step, params)
    should_skip = jnp.asarray(should_skip)
    if (should_skip.dtype, should_skip.shape) != (jnp.bool_, ()):
      raise ValueError(
          "MultiSteps: `should_skip_update_fn` must return a bool scalar first, got "
          f"dtype {should_skip.dtype} and shape {should_skip.shape}."
      )
    data, other = conditionality.split_extra_args(extra_args)
    skip_branch, do_branch = self._branches
    if other:  # non-array extra arguments cannot be operands: close over them (retraces).
      do_branch = lambda ops: self._do_update(*ops[:3], {**ops[3], **other})
      skip_branch = lambda ops: (
          numerics.zeros_like_output(lambda *a: self._do_update(*a[:3], {**a[3], **other}), *ops),
          ops[1],
      )
    new_updates, new_state = jax.lax.cond(
        should_skip, skip_branch, do_branch, (updates, state, params, data)
    )
    return new_updates, new_state._replace(skip_state=skip_state)

  def has_updated(self, state: MultiStepsState) -> jax.Array:
    """Whether the last `update` applied the inner optimizer (a bool scalar)."""
    return jnp.logical_and(state.mini_step == 0, state.gradient_step > 0)

  def gradient_transformation(self) -> base.GradientTransformationExtraArgs:
    """This wrapper as a `GradientTransformationExtraArgs` (for `chain` and friends)."""
    return base.GradientTransformationExtraArgs(init=self.init, update=self.update)
