"""Finding, reading and replacing values in optimizer states by field name, and mapping over their params-shaped parts."""

from collections.abc import Callable
import dataclasses
import typing
from typing import Any, Optional, Protocol, Union

import jax

from jopt._src import base

_DictKey = jax.tree_util.DictKey


@dataclasses.dataclass(frozen=True)
class NamedTupleKey:
  """Path entry for a field of a NamedTuple, carrying the tuple's class name.

  In the paths that `tree_get_all_with_path`, `tree_get` and `tree_set` hand to
  a `filtering(path, value)` function, a NamedTuple field appears as
  `NamedTupleKey(tuple_name, name)` (not jax's `GetAttrKey`), so a filter can
  tell `ScaleByAdamState.count` from `ScaleByScheduleState.count`.

  Attributes:
    tuple_name: the class name of the NamedTuple, e.g. ``"ScaleByAdamState"``.
    name: the field name, e.g. ``"count"``.
  """

  tuple_name: str
  name: str

  def __str__(self):
    return f"{self.tuple_name}.{self.name}"


KeyPath = tuple[Any, ...]
Filtering = Callable[[KeyPath, Any], bool]


def _is_named_tuple(x: Any) -> bool:
  return isinstance(x, tuple) and hasattr(x, "_fields")


def _has_any_key(node: Any, keys: tuple[Any, ...]) -> bool:
  """A NamedTuple with one of `keys` as a field or as its class name, or a dict with one as a key."""
  if _is_named_tuple(node):
    return type(node).__name__ in keys or any(k in node._fields for k in keys)
  return isinstance(node, dict) and any(k in node for k in keys)


def _children(path: KeyPath, node: Any) -> list[tuple[KeyPath, Any]]:
  """The (path, child) pairs one level below a NamedTuple or dict."""
  if _is_named_tuple(node):
    name = type(node).__name__
    return [((*path, NamedTupleKey(name, f)), getattr(node, f)) for f in node._fields]
  return [((*path, _DictKey(k)), v) for k, v in node.items()]


def _nodes_with_path(tree: Any, stop: Callable[[Any], bool]) -> list[tuple[KeyPath, Any]]:
  """Leaves of `tree`, and the nodes where `stop` holds, with NamedTupleKey paths.

  Like `jax.tree_util.tree_leaves_with_path(tree, is_leaf=stop)`, except that
  a NamedTuple's fields get `NamedTupleKey` entries.
  """
  out = []
  for path, node in jax.tree_util.tree_leaves_with_path(
      tree, is_leaf=lambda x: stop(x) or _is_named_tuple(x)
  ):
    if stop(node) or not _is_named_tuple(node):
      out.append((path, node))
      continue
    for child_path, child in _children(path, node):
      out.extend(((*child_path, *p), v) for p, v in _nodes_with_path(child, stop))
  return out


def _all_with_path(tree: Any, key: Any) -> list[tuple[KeyPath, Any]]:
  """Every value under `key`, outermost matches first, then those nested inside each match."""
  holders = [
      (path, node) for path, node in _nodes_with_path(tree, lambda n: _has_any_key(n, (key,)))
      if _has_any_key(node, (key,))
  ]
  found = []
  for path, node in holders:
    if _is_named_tuple(node) and type(node).__name__ == key:
      found.append((path, node))  # the NamedTuple itself, found by class name
    elif _is_named_tuple(node):
      found.append(((*path, NamedTupleKey(type(node).__name__, key)), getattr(node, key)))
    else:
      found.append(((*path, _DictKey(key)), node[key]))
  for path, node in holders:
    for child_path, child in _children(path, node):
      found.extend(((*child_path, *p), v) for p, v in _all_with_path(child, key))
  return found


def tree_get_all_with_path(
    tree: Any,
    key: Any,
    filtering: Optional[Filtering] = None,
) -> list[tuple[KeyPath, Any]]:
  """Every value of `tree` stored under `key`, with its path.

  `key` matches a dict key, a NamedTuple field, or a NamedTuple's class name
  (then the whole NamedTuple is the value). Matches nested inside a match are
  found too. Paths use `NamedTupleKey(tuple_name, field)` for NamedTuple fields,
  and `jax.tree_util.keystr` renders them.

  Args:
    tree: the tree to search, e.g. an optimizer state (jopt's or optax's).
    key: the name to look for, e.g. ``"count"`` or ``"ScaleByAdamState"``.
    filtering: optional `filtering(path, value) -> bool` keeping only some
      matches.

  Returns:
    A list of `(path, value)` pairs: outermost matches in leaf order, then the
    matches nested inside each of them.
  """
  found = _all_with_path(tree, key)
  if filtering is not None:
    found = [(path, value) for path, value in found if filtering(path, value)]
  return found


def tree_get(
    tree: Any,
    key: Any,
    default: Optional[Any] = None,
    filtering: Optional[Filtering] = None,
) -> Any:
  """The one value of `tree` stored under `key` (see `tree_get_all_with_path`).

  Example: `tree_get(adam_state, "count")` is the step count, for jopt and optax
  states alike; `tree_get(state, "ScaleByAdamState")` is the whole Adam state.

  Args:
    tree: the tree to search.
    key: dict key, NamedTuple field or NamedTuple class name.
    default: returned when nothing matches.
    filtering: optional `filtering(path, value) -> bool` to choose among
      matches, e.g. by `path[-1].tuple_name`.

  Returns:
    The matching value, or `default`.

  Raises:
    KeyError: if more than one value matches (use `filtering`).
  """
  found = tree_get_all_with_path(tree, key, filtering=filtering)
  if len(found) > 1:
    paths = ", ".join(jax.tree_util.keystr(p) for p, _ in found)
    raise KeyError(
        f"tree_get: found {len(found)} values for {key!r} (at {paths}); "
        "pass `filtering` to choose one."
    )
  return found[0][1] if found else default


def tree_set(
    tree: Any,
    filtering: Optional[Filtering] = None,
    /,
    **kwargs: Any,
) -> Any:
  """A copy of `tree` with the values stored under each keyword replaced.

  Every value that `tree_get_all_with_path(tree, key, filtering)` finds for a
  keyword `key` is replaced by `kwargs[key]` (a match nested inside a replaced
  value goes with it). Example: `tree_set(state, count=0)`.

  Args:
    tree: the tree, e.g. an optimizer state (jopt's or optax's).
    filtering: optional `filtering(path, value) -> bool`; only matches it
      accepts are replaced.
    **kwargs: names (dict keys, NamedTuple fields or class names) and their new
      values.

  Returns:
    The new tree.

  Raises:
    KeyError: if some keyword matches nothing (after `filtering`).

  Differs from optax: optax skips matches that sit inside a tuple or list of a
  matched node (e.g. with `inject_hyperparams(adam)`, `tree_set(state,
  count=0)` resets the outer count but silently keeps Adam's); jopt replaces
  every match `tree_get_all_with_path` reports.
  """
  for key in kwargs:
    if not tree_get_all_with_path(tree, key, filtering):
      extra = " that pass `filtering`" if filtering is not None else ""
      raise KeyError(f"tree_set: found no values for {key!r}{extra} in {tree}.")
  keys = tuple(kwargs)
  accept = filtering if filtering is not None else (lambda path, value: True)

  def replace(path: KeyPath, node: Any) -> Any:
    if _has_any_key(node, keys):
      if _is_named_tuple(node) and type(node).__name__ in kwargs and accept(path, node):
        return kwargs[type(node).__name__]
      new = {}
      for child_path, child in _children(path, node):
        name = _entry_name(child_path[-1])
        hit = name in kwargs and accept(child_path, child)
        new[name] = kwargs[name] if hit else replace(child_path, child)
      return node._replace(**new) if _is_named_tuple(node) else new
    if _is_named_tuple(node):
      return node._replace(**{
          _entry_name(p[-1]): replace(p, c) for p, c in _children(path, node)
      })
    # Any other node (list, tuple, dict, registered pytree): rebuild one level down.
    children, treedef = jax.tree_util.tree_flatten_with_path(
        node, is_leaf=lambda x: x is not node
    )
    if jax.tree_util.treedef_is_leaf(treedef):
      return node
    return jax.tree.unflatten(treedef, [replace((*path, *p), c) for p, c in children])

  return replace((), tree)


def _entry_name(entry: Any) -> Any:
  """The field name or dict key a `NamedTupleKey` / `DictKey` path entry stands for."""
  return entry.name if isinstance(entry, NamedTupleKey) else entry.key


@jax.tree_util.register_pytree_node_class
class _ParamsMarker:
  """A pytree with no leaves standing in for the params: marks where an init puts params-shaped trees."""

  def tree_flatten(self):
    return (), None

  @classmethod
  def tree_unflatten(cls, aux, children):
    del aux, children
    return cls()


def is_params_marker(params: Any) -> bool:
  """Whether an `init` is being called by `tree_map_params` (jopt's, or optax's) instead of with params.

  Transforms whose init needs the real params tree (e.g. `masked` applying a
  mask tree) should then pass `params` straight to their inner init, as optax's
  `masked` does, so the marker reaches every params-shaped slot of the state.
  """
  # optax's marker is recognised by name: its class is private to optax.
  return isinstance(params, _ParamsMarker) or type(params).__name__ == "_ParamsPlaceholder"


@typing.runtime_checkable
class Initable(Protocol):
  """An object with an `init(params) -> state` method (a `GradientTransformation`)."""

  def init(self, params: base.Params) -> base.OptState:
    """A fresh optimizer state for `params`."""


def tree_map_params(
    initable: Union[Callable[[base.Params], base.OptState], Initable],
    f: Callable[..., Any],
    state: base.OptState,
    /,
    *rest: Any,
    transform_non_params: Optional[Callable[..., Any]] = None,
    is_leaf: Optional[Callable[[base.Params], bool]] = None,
) -> base.OptState:
  """Maps `f` over every params-shaped tree inside an optimizer state.

  Which parts of `state` have the structure of the params (moments, traces)
  is found by calling `initable` on a marker object with no leaves: wherever
  the marker lands in the resulting state, `state` holds a params-shaped tree,
  and `f(leaf, *rest_leaves)` is mapped over it. Typical use: the partition
  specs of an optimizer state from the params' specs,
  `tree_map_params(tx, lambda _, spec: spec, state, param_specs,
  transform_non_params=lambda _: P())`.

  Args:
    initable: the transform (anything with `.init`, jopt's or optax's), or an
      init function.
    f: applied leaf-wise to each params-shaped tree, with the matching leaves
      of `*rest`.
    state: the optimizer state to map over.
    *rest: trees with the params' structure, passed to `f`.
    transform_non_params: applied to every other leaf of `state` (counts,
      keys, hyperparameters); by default they are kept.
    is_leaf: passed to `jax.tree.map` over each params-shaped tree.

  Returns:
    A tree of the structure of `state`.
  """
  marker = _ParamsMarker()
  init = initable.init if isinstance(initable, Initable) else initable
  template = init(marker)
  is_marker = lambda x: isinstance(x, _ParamsMarker)

  def map_part(slot, value):
    if is_marker(slot):
      return jax.tree.map(f, value, *rest, is_leaf=is_leaf)
    return value if transform_non_params is None else transform_non_params(value)

  return jax.tree.map(map_part, template, state, is_leaf=is_marker)
