"""Applying a transform to part of a tree (`masked`, `multi_transform`) and the mask builders
(`weight_decay_mask`, `mask_by_ndim`, `mask_by_path`, `mask_and`) that choose the part.

Each builder returns a function `params -> tree of bools` that any jopt `mask` argument accepts. They work
on plain dicts and lists, flax linen params and `flax.nnx.State`.
"""

import fnmatch
from typing import Any, Callable, Hashable, Mapping, NamedTuple, Optional, Sequence, Union

import jax

from jopt._src import checks
from jopt._src import base
from jopt._src import combine
from jopt._src.tree_utils import state_access

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


@checks.public
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
  inner = combine.with_extra_args_support(inner)

  def init_fn(params):
    if state_access.is_params_marker(params):
      # `tree_map_params` (jopt's or optax's) maps a function over the state's params-shaped
      # slots by passing a marker: there is no tree to mask, the marker goes through.
      return MaskedState(inner_state=inner.init(params))
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

  return base.declare_fusion(
      base.GradientTransformationExtraArgs(init_fn, update_fn), "composite", "masked",
      children=(inner,), mask=mask, forwards=True,
      rebuild=lambda kids, remask: masked(
          kids[0], remask(mask), mask_compatible_extra_args=mask_compatible_extra_args))


class MultiTransformState(NamedTuple):
  """State of `multi_transform`: label -> that label's (masked) inner state."""

  inner_states: Any  # dict: label -> MaskedState of the label's transform.


def _labels_tree(param_labels: Any, tree: Any) -> Any:
  return param_labels(tree) if callable(param_labels) else param_labels


@checks.public
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
  transforms = {k: combine.with_extra_args_support(v) for k, v in transforms.items()}

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
    if state_access.is_params_marker(params):  # see `masked`
      return MultiTransformState(
          inner_states={k: MaskedState(inner_state=tx.init(params)) for k, tx in transforms.items()}
      )
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

  return base.declare_fusion(
      base.GradientTransformationExtraArgs(init_fn, update_fn), "composite", "multi_transform",
      children=tuple(transforms.values()), names=tuple(transforms), labels=param_labels,
      rebuild=lambda kids, remask: multi_transform(
          dict(zip(transforms, kids)), remask(param_labels),
          mask_compatible_extra_args=mask_compatible_extra_args))


# --- mask builders: which parameters to decay, by number of dimensions or by path name ---

MaskFn = Callable[[Any], Any]

# The names conventionally left out of weight decay: biases, normalization
# scales and offsets, embedding tables.
NO_DECAY_NAMES = ("bias", "scale", "embedding")


def path_to_str(path: Sequence[Any]) -> str:
  """A key path as `"a/b/0/c"` (dict keys, attribute names, indices).

  A final `.value` attribute (the array inside an `nnx.Variable`) is dropped,
  so `nnx.State` with and without `Variable` leaves gives the same names.
  """
  parts = []
  for k in path:
    if isinstance(k, jax.tree_util.DictKey):
      parts.append(str(k.key))
    elif isinstance(k, jax.tree_util.GetAttrKey):
      parts.append(k.name)
    elif isinstance(k, jax.tree_util.SequenceKey):
      parts.append(str(k.idx))
    elif isinstance(k, jax.tree_util.FlattenedIndexKey):
      parts.append(str(k.key))
    else:
      parts.append(str(k))
  if len(path) > 1 and isinstance(path[-1], jax.tree_util.GetAttrKey) and path[-1].name == "value":
    parts.pop()
  return "/".join(parts)


def _check_patterns(fn: str, name: str, patterns: Any) -> tuple:
  if patterns is None:
    return ()
  if isinstance(patterns, str):
    return (patterns,)
  patterns = tuple(patterns)
  if not all(isinstance(p, str) for p in patterns):
    raise ValueError(f"{fn}: `{name}` must be a string or a sequence of strings, got {patterns!r}.")
  return patterns


def _matches(path_str: str, patterns: tuple) -> bool:
  parts = path_str.split("/")
  return any(
      fnmatch.fnmatchcase(path_str, pat) or any(fnmatch.fnmatchcase(part, pat) for part in parts)
      for pat in patterns
  )


@checks.public
def mask_by_path(
    exclude: Optional[Sequence[str]] = NO_DECAY_NAMES,
    include: Optional[Sequence[str]] = None,
) -> MaskFn:
  """A mask function selecting leaves by their path names.

  A leaf is selected (True) when its path matches one of `include` (or
  `include` is None) and matches none of `exclude`. A pattern is a shell-style
  wildcard (`fnmatch`, case-sensitive) matched against every component of the
  path and against the whole path joined with `/`: `"bias"` matches
  `{"Dense_0": {"bias": ...}}`, `"*norm*"` any component containing `norm`,
  `"encoder/*/kernel"` a full path.

  Args:
    exclude: patterns of leaves to leave out; default `("bias", "scale",
      "embedding")`.
    include: patterns of the only leaves to consider, or None for all.

  Returns:
    A function `params -> tree of bools` with the params' structure.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> params = {"dense": {"kernel": jnp.ones((2, 3)), "bias": jnp.ones(3)}}
    >>> jopt.mask_by_path()(params)
    {'dense': {'bias': False, 'kernel': True}}
  """
  exclude = _check_patterns("mask_by_path", "exclude", exclude)
  include = _check_patterns("mask_by_path", "include", include) if include is not None else None

  def mask_fn(params):
    def leaf(path, _):
      name = path_to_str(path)
      selected = include is None or _matches(name, include)
      return bool(selected and not _matches(name, exclude))

    return jax.tree_util.tree_map_with_path(leaf, params)

  return mask_fn


@checks.public
def mask_by_ndim(min_ndim: int = 2) -> MaskFn:
  """A mask function selecting leaves with at least `min_ndim` dimensions.

  The default (`ndim >= 2`) selects kernels and embedding tables and leaves out
  biases, normalization scales and scalars.

  Args:
    min_ndim: the smallest number of dimensions selected, >= 0.

  Returns:
    A function `params -> tree of bools` with the params' structure.
  """
  checks.check_int("mask_by_ndim", "min_ndim", min_ndim, 0)
  return lambda params: jax.tree.map(lambda x: bool(jax.numpy.ndim(x) >= min_ndim), params)


def _broadcast_mask(mask_tree: Any, params: Any) -> Any:
  """A (prefix) mask tree expanded to the full structure of `params`."""
  return jax.tree.map(lambda m, sub: jax.tree.map(lambda _: bool(m), sub), mask_tree, params)


@checks.public
def mask_and(*masks: Mask) -> MaskFn:
  """A mask function selecting the leaves every one of `masks` selects.

  Args:
    *masks: trees of bools (the params' structure or a prefix of it) or mask
      functions, e.g. `mask_and(mask_by_ndim(2), mask_by_path(exclude=("embedding",)))`.

  Returns:
    A function `params -> tree of bools` with the params' full structure.
  """
  if not masks:
    raise ValueError("mask_and: give at least one mask.")

  def mask_fn(params):
    trees = [_broadcast_mask(resolve_mask("mask_and", m, params), params) for m in masks]
    return jax.tree.map(lambda *ms: all(ms), *trees)

  return mask_fn


@checks.public
def weight_decay_mask(
    min_ndim: int = 2, exclude: Optional[Sequence[str]] = NO_DECAY_NAMES
) -> MaskFn:
  """The usual weight-decay mask: leaves with `ndim >= min_ndim` whose path matches none of `exclude`.

  With the defaults, kernels are decayed; biases, normalization `scale`s,
  `embedding` tables and scalars are not (the convention of BERT/GPT-style
  training recipes).

  Args:
    min_ndim: the smallest number of dimensions decayed.
    exclude: path-name patterns never decayed (see `mask_by_path`).

  Returns:
    A function `params -> tree of bools`.

  Example:
    >>> import jopt
    >>> tx = jopt.adamw(1e-3, weight_decay=0.05, mask=jopt.weight_decay_mask())
  """
  return mask_and(mask_by_ndim(min_ndim), mask_by_path(exclude=exclude))
