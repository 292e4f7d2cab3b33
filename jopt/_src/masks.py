"""Mask helpers: which parameters to decay, by number of dimensions or by path name.

Each helper returns a function `params -> tree of bools` that any jopt `mask`
argument accepts (`add_decayed_weights`, `adamw`, `add_l1_decay`,
`l1_proximal`, `masked`, ...). They work on plain dicts and lists, flax linen
params (`{"params": {...}}`) and `flax.nnx.State` (with raw arrays, as
`nnx.Optimizer` passes them, or with `nnx.Variable` leaves).
"""

import fnmatch
from typing import Any, Callable, Optional, Sequence

import jax

from jopt._src import masking

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


def mask_by_ndim(min_ndim: int = 2) -> MaskFn:
  """A mask function selecting leaves with at least `min_ndim` dimensions.

  The default (`ndim >= 2`) selects kernels and embedding tables and leaves out
  biases, normalization scales and scalars.

  Args:
    min_ndim: the smallest number of dimensions selected, >= 0.

  Returns:
    A function `params -> tree of bools` with the params' structure.
  """
  if isinstance(min_ndim, bool) or not isinstance(min_ndim, int) or min_ndim < 0:
    raise ValueError(f"mask_by_ndim: `min_ndim` must be an integer >= 0, got {min_ndim!r}.")
  return lambda params: jax.tree.map(lambda x: bool(jax.numpy.ndim(x) >= min_ndim), params)


def _broadcast_mask(mask_tree: Any, params: Any) -> Any:
  """A (prefix) mask tree expanded to the full structure of `params`."""
  return jax.tree.map(lambda m, sub: jax.tree.map(lambda _: bool(m), sub), mask_tree, params)


def mask_and(*masks: masking.Mask) -> MaskFn:
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
    trees = [_broadcast_mask(masking.resolve_mask("mask_and", m, params), params) for m in masks]
    return jax.tree.map(lambda *ms: all(ms), *trees)

  return mask_fn


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
