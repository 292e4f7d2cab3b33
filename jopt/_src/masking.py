"""Applying a transform to part of a tree: `masked`."""

from typing import Any, Callable, Hashable, Mapping, NamedTuple, Union

import jax

from jopt._src import base
from jopt._src import combine

Mask = Union[Any, Callable[[base.Params], Any]]


class MaskedState(NamedTuple):
  """State of `masked`: the inner transform's state over the selected leaves."""

  inner_state: Any


class MaskedNode(NamedTuple):
  """Stands for a leaf that a mask excludes; a node without children, so tree maps skip it."""


def is_callable_mask(mask: Mask) -> bool:
  """Whether `mask` is a function of the params (rather than a tree of bools)."""
  leaves = jax.tree.leaves(jax.tree.map(callable, mask))
  return bool(leaves) and all(leaves)


def resolve_mask(fn: str, mask: Mask, tree: Any) -> Any:
  """The mask tree for `tree`: calls a callable mask, checks a tree mask is a prefix of `tree`."""
  mask_tree = mask(tree) if is_callable_mask(mask) else mask
  try:
    jax.tree.map(lambda m, _: m, mask_tree, tree)
  except ValueError as e:
    raise ValueError(
        f"{fn}: `mask` must be a tree of bools with the structure of the params "
        f"(or a prefix of it), or a function returning one.\n"
        f"  mask: {jax.tree.structure(mask_tree)}\n  params: {jax.tree.structure(tree)}"
    ) from e
  return mask_tree


def _mask_tree(tree: Any, mask_tree: Any) -> Any:
  return jax.tree.map(lambda m, t: t if m else MaskedNode(), mask_tree, tree)


def masked(
    inner: base.GradientTransformation,
    mask: Mask,
    *,
    mask_compatible_extra_args: bool = False,
) -> base.GradientTransformationExtraArgs:
  """Applies `inner` only to the leaves where `mask` is True; the others pass through unchanged.

  State is kept only for the selected leaves.

  Args:
    inner: the transform to apply to the selected leaves.
    mask: a tree of bools with the params' structure (or a prefix of it), or a
      function `params -> such a tree`.
    mask_compatible_extra_args: also mask extra keyword arguments whose tree
      structure equals the updates'.

  Returns:
    A `GradientTransformationExtraArgs` with state `MaskedState`.

  Example:
    >>> import jax, jopt
    >>> decay_matrices = jopt.masked(jopt.add_decayed_weights(1e-4),
    ...                              lambda p: jax.tree.map(lambda x: x.ndim > 1, p))
  """
  inner = combine.with_extra_args(inner)

  def init_fn(params):
    mask_tree = resolve_mask("masked", mask, params)
    return MaskedState(inner_state=inner.init(_mask_tree(params, mask_tree)))

  def update_fn(updates, state, params=None, **extra_args):
    mask_tree = resolve_mask("masked", mask, updates)
    if mask_compatible_extra_args:
      structure = jax.tree.structure(updates)
      extra_args = {
          k: _mask_tree(v, mask_tree) if jax.tree.structure(v) == structure else v
          for k, v in extra_args.items()
      }
    masked_params = None if params is None else _mask_tree(params, mask_tree)
    new_updates, inner_state = inner.update(
        _mask_tree(updates, mask_tree), state.inner_state, masked_params, **extra_args
    )
    updates = jax.tree.map(
        lambda m, new, old: new if m else old, mask_tree, new_updates, updates
    )
    return updates, MaskedState(inner_state=inner_state)

  return base.GradientTransformationExtraArgs(init_fn, update_fn)


class MultiTransformState(NamedTuple):
  """State of `multi_transform`: label -> that label's (masked) inner state."""

  inner_states: Any  # dict: label -> MaskedState of the label's transform.


def _labels_tree(param_labels: Any, tree: Any) -> Any:
  return param_labels(tree) if callable(param_labels) else param_labels


def multi_transform(
    transforms: Mapping[Hashable, base.GradientTransformation],
    param_labels: Union[Any, Callable[[base.Params], Any]],
    *,
    mask_compatible_extra_args: bool = False,
) -> base.GradientTransformationExtraArgs:
  """Applies a different transform to each group of leaves, chosen by label.

  Every leaf of `param_labels` (a tree with the params' structure or a prefix
  of it, or a function `params -> such a tree`) names a key of `transforms`;
  `transforms[label]` is applied, as `masked(transforms[label], labels == label)`,
  to exactly the leaves with that label, and keeps state only for them.

  Args:
    transforms: label -> transform.
    param_labels: a tree of labels or a function of the params returning one.
    mask_compatible_extra_args: also mask extra keyword arguments whose tree
      structure equals the updates' (see `masked`).

  Returns:
    A `GradientTransformationExtraArgs` with state `MultiTransformState`.

  Raises:
    ValueError: at `init`/`update`, naming `param_labels`, when a label has no
      transform.

  Example:
    >>> import jopt
    >>> tx = jopt.multi_transform({"adam": jopt.adam(1e-3), "sgd": jopt.sgd(1e-2)},
    ...                           {"w": "adam", "b": "sgd"})
  """
  transforms = {k: combine.with_extra_args(v) for k, v in transforms.items()}

  def masked_transforms(tree):
    labels = _labels_tree(param_labels, tree)
    unknown = set(jax.tree.leaves(labels)) - set(transforms)
    if unknown:
      raise ValueError(
          f"multi_transform: `param_labels` has labels without a transform: "
          f"{sorted(map(str, unknown))}; `transforms` has {sorted(map(str, transforms))}."
      )
    return {
        label: masked(
            tx, jax.tree.map(lambda l, label=label: l == label, labels),
            mask_compatible_extra_args=mask_compatible_extra_args,
        )
        for label, tx in transforms.items()
    }

  def init_fn(params):
    return MultiTransformState(
        inner_states={k: tx.init(params) for k, tx in masked_transforms(params).items()}
    )

  def update_fn(updates, state, params=None, **extra_args):
    inner_states = {}
    for label, tx in masked_transforms(updates).items():
      updates, inner_states[label] = tx.update(
          updates, state.inner_states[label], params, **extra_args
      )
    return updates, MultiTransformState(inner_states=inner_states)

  return base.GradientTransformationExtraArgs(init_fn, update_fn)
