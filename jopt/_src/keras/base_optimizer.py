"""What every Keras 3 optimizer does around its update rule: loss scaling, accumulation, clipping, decay, EMA.

Keras 3's `BaseOptimizer` (JAX backend) runs one `apply` as

  1. `grads /= loss_scale_factor`;
  2. with `gradient_accumulation_steps = k`: `acc += g` on k - 1 calls out of
     k; on the k-th, `g = (g + acc) / k` and `acc = 0` (the update is computed
     on every call and kept only on the k-th);
  3. clipping: per variable (`clipnorm`), global (`global_clipnorm`) or per
     element (`clipvalue`);
  4. weight decay `var -= var * weight_decay * lr` (before the update rule, which
     sees the decayed variable);
  5. the optimizer's update rule;
  6. with `use_ema`, the EMA of the weights, and every `ema_overwrite_frequency`
     updates the weights replaced by their EMA.

`keras_optimizer` wraps an update rule (a jopt `GradientTransformation` that
already includes the learning rate) in these steps.
"""

import re
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src.transforms import clipping


class KerasOptimizerState(NamedTuple):
  """State of every `jopt.keras` optimizer."""

  count: jax.Array  # shape=(), int32: `update` calls so far (Keras's `optimizer._iterations`).
  inner_state: base.OptState  # the update rule's state; its own counts are real updates (`optimizer.iterations`).
  accumulators: Any  # like params: gradients summed since the last real update; None without accumulation.
  average: Any  # like params: the EMA of the weights; None without `use_ema`.


# --- argument checks (Keras's names; errors name the public function) ---


def check_number(fn: str, name: str, value: Any, low: Optional[float] = None,
                 high: Optional[float] = None, *, low_inclusive: bool = True,
                 high_inclusive: bool = True) -> None:
  """A finite real number (not a schedule) within the given bounds."""
  if callable(value):
    raise TypeError(f"{checks._name(fn)}: `{name}` must be a number, got the callable {value!r}.")
  checks.check_range(fn, name, value, low, high, low_inclusive=low_inclusive,
                     high_inclusive=high_inclusive, required=True)
  checks.check_finite(fn, name, value)


def check_optional_number(fn: str, name: str, value: Any, low: Optional[float] = None, **kw) -> None:
  """`None` or a finite real number `>= low`."""
  if value is not None:
    check_number(fn, name, value, low, **kw)


def check_learning_rate(fn: str, learning_rate: Any) -> None:
  """A non-negative finite number or a schedule `count -> lr`."""
  if learning_rate is None:
    raise TypeError(f"{fn}: `learning_rate` must be a float or a schedule `count -> lr`, got None.")
  if not callable(learning_rate):
    check_number(fn, "learning_rate", learning_rate, 0.0)


def is_known_zero(value: Any) -> bool:
  """Whether `value` is known at build time to be exactly zero."""
  known = checks.concrete_value(value)
  return known is not None and known.dtype != object and known.shape == () and float(known) == 0.0


def _compile_patterns(fn: str, patterns: Any) -> Optional[re.Pattern]:
  if patterns is None:
    return None
  if isinstance(patterns, str):
    patterns = [patterns]
  if not isinstance(patterns, (list, tuple)):
    raise TypeError(
        f"{checks._name(fn)}: `exclude_from_weight_decay` must be a list of regular expressions "
        f"(strings), got {patterns!r}.")
  patterns = list(patterns)
  if not all(isinstance(p, str) for p in patterns):
    raise TypeError(
        f"{fn}: `exclude_from_weight_decay` must be a list of regular expressions (strings), "
        f"got {patterns!r}.")
  if not patterns:
    return None
  try:
    return re.compile("|".join(patterns))
  except re.error as err:
    raise ValueError(
        f"{fn}: `exclude_from_weight_decay` has an invalid regular expression: {err}.") from None


def path_name(path: Sequence[Any]) -> str:
  """A leaf's key path joined with "/" (`{"dense": {"bias": b}}` -> `dense/bias`)."""
  return jax.tree_util.keystr(tuple(path), simple=True, separator="/")


# --- the steps around the update rule ---


def clip_leaf_by_norm(g: jax.Array, clipnorm: Any) -> jax.Array:
  """Keras's per-variable `clipnorm`: `g * c / max(||g||, c)` (a zero gradient stays zero)."""
  l2sum = numerics.leaf_sum_of_squares(g)
  positive = l2sum > 0
  l2norm = jnp.where(positive, jnp.sqrt(jnp.where(positive, l2sum, 1.0)), l2sum)
  return (g * clipnorm / jnp.maximum(l2norm, clipnorm).astype(g.dtype)).astype(g.dtype)


def _clipper(clipnorm: Any, clipvalue: Any, global_clipnorm: Any) -> Optional[Callable[[Any], Any]]:
  """Keras's `_clip_gradients`: a value of None or 0 means no clipping of that kind."""
  if clipnorm is not None and not is_known_zero(clipnorm):
    return lambda g: numerics.tree_map(lambda x: clip_leaf_by_norm(x, clipnorm), g)
  if global_clipnorm is not None and not is_known_zero(global_clipnorm):
    tx = clipping.clip_by_global_norm(global_clipnorm)
  elif clipvalue is not None and not is_known_zero(clipvalue):
    tx = clipping.clip(clipvalue)
  else:
    return None
  return lambda g: tx.update(g, base.EmptyState())[0]


def _select(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
  return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def keras_optimizer(
    fn: str,
    rule: Callable[[base.ScalarOrSchedule], base.GradientTransformation],
    *,
    learning_rate: base.ScalarOrSchedule,
    weight_decay: Any,
    clipnorm: Any,
    clipvalue: Any,
    global_clipnorm: Any,
    use_ema: bool,
    ema_momentum: Any,
    ema_overwrite_frequency: Optional[int],
    loss_scale_factor: Any,
    gradient_accumulation_steps: Optional[int],
    name: Optional[str],
    exclude_from_weight_decay: Optional[Sequence[str]],
    rule_needs_params: bool = False,
) -> base.GradientTransformationExtraArgs:
  """Wraps a Keras update rule in Keras 3's base-optimizer steps (see the module docstring).

  Args:
    fn: the public function's name, for errors.
    rule: `lr -> GradientTransformation`, the optimizer's update rule with its
      learning rate; it is called with a float, or with a schedule of the
      rule's own step count (real updates), already shifted so that it reads
      Keras's learning rate at the matching `optimizer._iterations`.
    learning_rate: a float or a schedule `count -> lr` of the `update` calls.
    weight_decay: None (off) or the decay rate.
    clipnorm: per-leaf norm bound (None or 0: off).
    clipvalue: per-element bound (None or 0: off).
    global_clipnorm: global norm bound (None or 0: off).
    use_ema: keep an EMA of the weights.
    ema_momentum: the EMA's momentum.
    ema_overwrite_frequency: None, or overwrite the weights with their EMA every
      this many real updates.
    loss_scale_factor: None, or the factor the gradients are divided by.
    gradient_accumulation_steps: None (or 0), or `k >= 2` calls per real update.
    name: Keras's optimizer name (unused; kept for signature parity).
    exclude_from_weight_decay: regular expressions; leaves whose "/"-joined
      path matches one (`re.search`) are not decayed.
    rule_needs_params: whether `rule` reads the params.

  Returns:
    A `GradientTransformationExtraArgs` with state `KerasOptimizerState`.
  """
  check_learning_rate(fn, learning_rate)
  check_optional_number(fn, "weight_decay", weight_decay, 0.0)
  for arg, value in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                     ("global_clipnorm", global_clipnorm)):
    check_optional_number(fn, arg, value, 0.0)
  given = [n for n, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                          ("global_clipnorm", global_clipnorm)) if v is not None]
  if len(given) > 1:
    raise ValueError(
        f"{fn}: only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set, got "
        f"clipnorm={clipnorm!r}, clipvalue={clipvalue!r}, global_clipnorm={global_clipnorm!r}.")
  checks.check_bool(fn, "use_ema", use_ema)
  # Checked with or without `use_ema`: a bad value is a bug either way.
  check_number(fn, "ema_momentum", ema_momentum, 0.0, 1.0)
  if ema_overwrite_frequency is not None:
    checks.check_int(fn, "ema_overwrite_frequency", ema_overwrite_frequency, 1)
  check_optional_number(fn, "loss_scale_factor", loss_scale_factor, 0.0, low_inclusive=False)
  if gradient_accumulation_steps is not None and not (
      isinstance(gradient_accumulation_steps, int) and gradient_accumulation_steps == 0):
    checks.check_int(fn, "gradient_accumulation_steps", gradient_accumulation_steps, 2)
  accumulate = int(gradient_accumulation_steps or 0)
  if name is not None and not isinstance(name, str):
    raise TypeError(f"{fn}: `name` must be a string or None, got {name!r}.")
  pattern = _compile_patterns(fn, exclude_from_weight_decay)

  # The rule's count is the number of real updates n; Keras reads the schedule at
  # `_iterations`, which is n * k + k - 1 at the n-th real update.
  if callable(learning_rate) and accumulate:
    rule_lr = lambda n: learning_rate(n * accumulate + (accumulate - 1))
  else:
    rule_lr = learning_rate
  inner = rule(rule_lr)
  clip = _clipper(clipnorm, clipvalue, global_clipnorm)
  needs_params = rule_needs_params or weight_decay is not None or use_ema

  def init_fn(params):
    return KerasOptimizerState(
        count=numerics.init_count(),
        inner_state=inner.init(params),
        accumulators=numerics.zeros_like(params) if accumulate else None,
        average=numerics.zeros_like(params) if use_ema else None,
    )

  def decay(params, lr):
    def leaf(path, p):
      if p is None or (pattern is not None and pattern.search(path_name(path))):
        return p
      lr_p = jnp.asarray(lr, p.dtype)
      return p - p * jnp.asarray(weight_decay, p.dtype) * lr_p

    return jax.tree_util.tree_map_with_path(leaf, params, is_leaf=lambda x: x is None)

  def update_fn(updates, state, params=None, **extra_args):
    del extra_args
    if needs_params:
      checks.require_params(fn, params)
    for reference, what in ((state.accumulators, "gradient accumulators"), (state.average, "EMA")):
      if reference is not None:
        checks.check_same_structure(fn, updates, reference, what, shapes=True)
    count = state.count
    grads = updates
    if loss_scale_factor is not None:
      grads = numerics.tree_map(lambda g: (g / loss_scale_factor).astype(g.dtype), grads)
    if accumulate:
      is_update = (count + 1) % accumulate == 0
      summed = numerics.tree_map(lambda g, a: g + a, grads, state.accumulators)
      accumulators = _select(is_update, numerics.zeros_like(summed), summed)
      grads = _select(is_update, numerics.tree_map(lambda s: s / accumulate, summed), grads)
    else:
      accumulators = None
    if clip is not None:
      grads = clip(grads)
    decayed = params
    if weight_decay is not None:
      decayed = decay(params, numerics.resolve(learning_rate, count))
    step, inner_state = inner.update(grads, state.inner_state, decayed)
    if accumulate:
      inner_state = _select(is_update, inner_state, state.inner_state)
    if weight_decay is None and not use_ema:
      # `var -= step` (on real updates only): exactly `params + updates`.
      if accumulate:
        step = numerics.tree_map(lambda u: jnp.where(is_update, u, jnp.zeros_like(u)), step)
      return step, KerasOptimizerState(
          count=numerics.safe_increment(count), inner_state=inner_state,
          accumulators=accumulators, average=None)
    new_params = numerics.tree_map(lambda p, u: (p + u).astype(p.dtype), decayed, step)
    if accumulate:
      new_params = _select(is_update, new_params, params)
    average = None
    if use_ema:
      iterations = count // accumulate if accumulate else count
      momentum = jnp.where(iterations != 0, ema_momentum, 0.0)
      average = numerics.tree_map(
          lambda a, p: (momentum * a + (1 - momentum) * p).astype(p.dtype),
          state.average, new_params)
      if ema_overwrite_frequency is not None:
        overwrite = (iterations + 1) % ema_overwrite_frequency == 0
        new_params = _select(overwrite, average, new_params)
    out = numerics.tree_map(lambda n, p: (n - p).astype(p.dtype), new_params, params)
    return out, KerasOptimizerState(
        count=numerics.safe_increment(count), inner_state=inner_state,
        accumulators=accumulators, average=average)

  return base.GradientTransformationExtraArgs(init_fn, update_fn)


def finalize_variable_values(params: base.Params, state: base.OptState) -> base.Params:
  """The weights Keras's `optimizer.finalize_variable_values` leaves: the EMA when `use_ema`.

  Keras calls it at the end of `fit()`: with `use_ema=True` the model's
  variables are overwritten with their moving average; otherwise they are left
  as they are.

  Args:
    params: the current params.
    state: the state of a `jopt.keras` optimizer, or a state that contains one
      (e.g. inside `jopt.chain`).

  Returns:
    The EMA weights (same tree and dtypes as `params`) if the optimizer keeps
    one, else `params` unchanged.
  """
  found = [s for s in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, KerasOptimizerState))
           if isinstance(s, KerasOptimizerState)]
  if not found:
    raise ValueError(
        "finalize_variable_values: `state` holds no `jopt.keras` optimizer state "
        "(KerasOptimizerState); pass the state returned by a `jopt.keras` optimizer.")
  if len(found) > 1:
    raise ValueError(
        f"finalize_variable_values: `state` holds {len(found)} `jopt.keras` optimizer states; "
        "pass the one that updates `params`.")
  average = found[0].average
  if average is None:
    return params
  checks.check_same_structure("finalize_variable_values", params, average, "EMA", shapes=True)
  return numerics.tree_map(lambda a, p: a.astype(p.dtype), average, params)


# --- shared by the optimizer factories ---

BASE_ARGS = (
    "weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum",
    "ema_overwrite_frequency", "loss_scale_factor", "gradient_accumulation_steps", "name",
    "exclude_from_weight_decay",
)

BASE_ARGS_DOC = """learning_rate: a float or a schedule `count -> lr`, where count 0 is the first
      `update` call (Keras's `optimizer.iterations` 0), e.g.
      `jopt.keras.exponential_decay(...)`.
    {rule_args}
    weight_decay: None (off) or the rate; applied before the update rule as
      `w -= w * weight_decay * lr` to every leaf not excluded.
    clipnorm: bound on each leaf's gradient norm (None or 0: off).
    clipvalue: bound on each gradient element (None or 0: off).
    global_clipnorm: bound on the norm of all gradients together (None or 0:
      off). At most one of the three clipping arguments may be set.
    use_ema: keep an EMA of the weights (read it with `finalize_variable_values`).
    ema_momentum: the EMA's momentum, in [0, 1].
    ema_overwrite_frequency: None, or replace the weights by their EMA every
      this many updates.
    loss_scale_factor: None, or the factor the loss was multiplied by; the
      gradients are divided by it first.
    gradient_accumulation_steps: None, or `k >= 2`: the weights change on every
      k-th call only, with the mean of the last k gradients (schedules still
      count calls, as in Keras).
    name: Keras's optimizer name; accepted and unused.
    exclude_from_weight_decay: jopt's keyword for Keras's
      `optimizer.exclude_from_weight_decay(var_names=...)`: regular expressions
      searched (`re.search`) in each leaf's path joined with "/" (`dense/bias`);
      matching leaves are not decayed. Keras matches variable names instead."""


def build(fn: str, rule: Callable[[base.ScalarOrSchedule], base.GradientTransformation],
          args: dict, rule_needs_params: bool = False) -> base.GradientTransformationExtraArgs:
  """`keras_optimizer` with the base arguments taken from a factory's `locals()`."""
  return keras_optimizer(
      fn, rule, learning_rate=args["learning_rate"], rule_needs_params=rule_needs_params,
      **{k: args[k] for k in BASE_ARGS})


def document(rule_args: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
  """Fills the `{base_args}` placeholder of a factory's docstring with the shared argument docs."""

  def decorate(factory):
    factory.__doc__ = factory.__doc__.replace(
        "{base_args}", BASE_ARGS_DOC.format(rule_args=rule_args.strip()))
    return factory

  return decorate
