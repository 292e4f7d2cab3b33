"""Composing transforms: `chain` and `named_chain`."""

from typing import Any

from jopt._src import checks
from jopt._src import base


def with_extra_args_support(tx: base.GradientTransformation) -> base.GradientTransformationExtraArgs:
  """`tx` as a `GradientTransformationExtraArgs` whose `update` accepts and ignores extra keyword arguments.

  A `GradientTransformationExtraArgs` is returned as it is.

  Args:
    tx: any transform.

  Returns:
    A `GradientTransformationExtraArgs` with `tx`'s `init` and state.
  """
  if isinstance(tx, base.GradientTransformationExtraArgs):
    return tx

  def update_fn(updates, state, params=None, **extra_args):
    del extra_args
    return tx.update(updates, state, params)

  return base.declare_fusion(
      base.GradientTransformationExtraArgs(tx.init, update_fn), "composite",
      "with_extra_args_support", children=(tx,), forwards=True,
      rebuild=lambda kids, remask: with_extra_args_support(kids[0]))


def _check_transforms(fn: str, transforms: Any) -> None:
  for i, tx in enumerate(transforms):
    if not (hasattr(tx, "init") and hasattr(tx, "update")):
      raise TypeError(
          f"{fn}: argument {i} must be a GradientTransformation, got {type(tx).__name__}."
      )


@checks.public
def chain(*args: base.GradientTransformation) -> base.GradientTransformationExtraArgs:
  """Applies transforms in sequence; the state is the tuple of their states.

  `chain(a, b).update(g, (sa, sb), p)` computes `u, sa' = a.update(g, sa, p)`, then
  `u, sb' = b.update(u, sb, p)`. Extra keyword arguments (e.g. `value=loss`) reach
  every transform that accepts them.

  Args:
    *args: the transforms, applied left to right.

  Returns:
    A `GradientTransformationExtraArgs`.

  Example:
    >>> import jopt
    >>> tx = jopt.chain(jopt.clip_by_global_norm(1.0), jopt.scale_by_adam(),
    ...                 jopt.scale_by_learning_rate(1e-3))
  """
  _check_transforms("chain", args)
  transforms = [with_extra_args_support(t) for t in args]

  def init_fn(params):
    return tuple(t.init(params) for t in transforms)

  def update_fn(updates, state, params=None, **extra_args):
    if not isinstance(state, tuple) or len(state) != len(transforms):
      raise ValueError(
          f"chain: expected a state tuple of {len(transforms)} entries (one per "
          f"transform), got {type(state).__name__}"
          f"{' of length ' + str(len(state)) if isinstance(state, tuple) else ''}. "
          "Was the state made by this chain's `init`?"
      )
    new_state = []
    for s, t in zip(state, transforms):
      updates, s = t.update(updates, s, params, **extra_args)
      new_state.append(s)
    return updates, tuple(new_state)

  return base.declare_fusion(
      base.GradientTransformationExtraArgs(init_fn, update_fn), "composite", "chain",
      children=args, rebuild=lambda kids, remask: chain(*kids))


@checks.public
def named_chain(*args: tuple[str, base.GradientTransformation]) -> base.GradientTransformationExtraArgs:
  """`chain` with a name for each transform; the state is a dict keyed by name.

  Args:
    *args: `(name, transform)` pairs, applied left to right; names must be unique.

  Returns:
    A `GradientTransformationExtraArgs` whose state is `{name: state}`.
  """
  names = [name for name, _ in args]
  if len(names) != len(set(names)):
    raise ValueError(f"named_chain: names must be unique, got {names}.")
  _check_transforms("named_chain", [t for _, t in args])
  transforms = [(name, with_extra_args_support(t)) for name, t in args]

  def init_fn(params):
    return {name: t.init(params) for name, t in transforms}

  def update_fn(updates, state, params=None, **extra_args):
    missing = [n for n in names if n not in state]
    if missing:
      raise ValueError(f"named_chain: the state has no entry for {missing}.")
    new_state = {}
    for name, t in transforms:
      updates, new_state[name] = t.update(updates, state[name], params, **extra_args)
    return updates, new_state

  return base.declare_fusion(
      base.GradientTransformationExtraArgs(init_fn, update_fn), "composite", "named_chain",
      children=tuple(t for _, t in args), names=tuple(names),
      rebuild=lambda kids, remask: named_chain(*zip(names, kids)))
