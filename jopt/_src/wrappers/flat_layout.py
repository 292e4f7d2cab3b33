"""`FlatLayout`: where each leaf of a tree lives in a few flat buffers (shared by `fused` and the flat training step)."""

import dataclasses
import functools
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from jopt._src.transforms import masking


def _size(shape: tuple) -> int:
  return int(np.prod(shape, dtype=np.int64))


def _hidden(x: Any) -> bool:
  return isinstance(x, masking.MaskedNode)


@dataclasses.dataclass(frozen=True, eq=False)
class FlatLayout:
  """Where each leaf of a tree lives in the group buffers.

  A *group* is a list of leaves (same dtype, same masks) stored back to back in
  one 1-D buffer, in tree order, followed by zeros up to a multiple of
  `pad_to` elements (so a buffer splits evenly over `pad_to` devices).

  Attributes:
    treedef: the tree's structure.
    shapes: each leaf's shape, in tree order.
    dtypes: each leaf's dtype name, in tree order.
    groups: group name -> the indices of its leaves, in tree order.
    group_masks: per node of a declared transform that applies a mask or
      labels: {group name: that mask's bool or label}.
    pad_to: every buffer's length is a multiple of this.
    keep_lone_shape: a group of one leaf is that leaf itself, in its shape (no
      copy of a donated param, `fused`); else it is raveled like the others.
  """

  treedef: Any
  shapes: tuple
  dtypes: tuple
  groups: Mapping[str, tuple]
  group_masks: Mapping[int, Mapping[str, Any]]
  pad_to: int = 1
  keep_lone_shape: bool = True

  # Equal layouts make equal tree structures of the buffers that carry them, so
  # jit caches and output shardings match. A layout is compared at every call of
  # a jitted step whose arguments carry it: the key and hash are computed once.
  @functools.cached_property
  def _key(self) -> tuple:
    masks = tuple(sorted((k, tuple(sorted(v.items()))) for k, v in self.group_masks.items()))
    return (self.treedef, self.shapes, self.dtypes, tuple(self.groups.items()), masks,
            self.pad_to, self.keep_lone_shape)

  @functools.cached_property
  def _hash(self) -> int:
    return hash(self._key)

  def __eq__(self, other: Any) -> bool:
    return self is other or (
        isinstance(other, FlatLayout) and self._hash == other._hash and self._key == other._key)

  def __hash__(self) -> int:
    return self._hash

  def _lone(self, name: str) -> bool:
    return self.keep_lone_shape and len(self.groups[name]) == 1

  def size(self, name: str) -> int:
    """The number of elements of group `name`'s buffer (its leaves and the padding)."""
    idx = self.groups[name]
    if self._lone(name):
      return _size(self.shapes[idx[0]])
    n = sum(_size(self.shapes[i]) for i in idx)
    return -(-n // self.pad_to) * self.pad_to

  def buffer_shapes(self) -> dict:
    """Group name -> `jax.ShapeDtypeStruct` of its buffer."""
    out = {}
    for name, idx in self.groups.items():
      shape = self.shapes[idx[0]] if self._lone(name) else (self.size(name),)
      out[name] = jax.ShapeDtypeStruct(shape, jnp.dtype(self.dtypes[idx[0]]))
    return out

  def flatten(self, tree: Any) -> dict:
    """One buffer per group: the raveled leaves back to back, then zeros up to `pad_to`.

    A group whose leaves are all `MaskedNode` (a masked transform's state) is
    `MaskedNode()`; the leaves' own dtype is kept (e.g. bf16 moments of f32 params).
    """
    leaves = self.treedef.flatten_up_to(tree)
    out = {}
    for name, idx in self.groups.items():
      parts = [leaves[i] for i in idx]
      if all(_hidden(p) for p in parts):
        out[name] = masking.MaskedNode()
        continue
      if any(_hidden(p) for p in parts):
        raise ValueError(f"FlatLayout: group {name!r} is partly masked; its leaves must share masks.")
      if self._lone(name):
        # No reshape: a bitcast between the donated param and its update would
        # stop XLA from writing the new param in place (it inserts a copy).
        out[name] = parts[0]
        continue
      flat = [jnp.ravel(p) for p in parts]
      pad = self.size(name) - sum(_size(self.shapes[i]) for i in idx)
      if pad:
        flat.append(jnp.zeros((pad,), jnp.result_type(parts[0])))
      out[name] = flat[0] if len(flat) == 1 else jnp.concatenate(flat)
    return out

  def unflatten(self, buffers: Mapping[str, Any]) -> Any:
    """The tree: each leaf a slice of its group's buffer, reshaped (`MaskedNode` groups stay hidden)."""
    leaves = [None] * len(self.shapes)
    for name, idx in self.groups.items():
      buf = buffers[name]
      if _hidden(buf) or self._lone(name):
        for i in idx:
          leaves[i] = masking.MaskedNode() if _hidden(buf) else buf
        continue
      offset = 0
      for i in idx:
        size = _size(self.shapes[i])
        if offset == 0 and size == buf.shape[-1]:
          leaves[i] = buf.reshape(buf.shape[:-1] + self.shapes[i])
        else:
          part = jax.lax.slice_in_dim(buf, offset, offset + size, axis=buf.ndim - 1)
          leaves[i] = part.reshape(buf.shape[:-1] + self.shapes[i])
        offset += size
    return self.treedef.unflatten(leaves)

  def views(self, buffers: Mapping[str, Any]) -> Any:
    """`unflatten`, differentiable with a concatenation as its transpose.

    The cotangent of N slices is otherwise N zero-padded copies of the whole
    buffer summed together; here the gradient w.r.t. the buffers is the raveled
    leaf gradients back to back (one copy), as `jax.grad` w.r.t. a flat buffer
    should be.
    """
    return _views(self, dict(buffers))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _views(layout: FlatLayout, buffers: dict) -> Any:
  return layout.unflatten(buffers)


def _views_fwd(layout: FlatLayout, buffers: dict):
  return layout.unflatten(buffers), None


def _views_bwd(layout: FlatLayout, _, cotangent: Any):
  return (layout.flatten(cotangent),)


_views.defvjp(_views_fwd, _views_bwd)


def build(
    tree: Any,
    keys: list,
    group_masks_of: Any,
    *,
    max_leaf_size: int,
    leaves_per_group: int,
    pad_to: int = 1,
    keep_lone_shape: bool = True,
) -> FlatLayout:
  """The layout of `tree`: leaves grouped by dtype and `keys`, large leaves alone, groups capped.

  Args:
    tree: the params (arrays or `ShapeDtypeStruct`s).
    keys: one string per leaf (in tree order): leaves with the same dtype and
      key may share a buffer (the codes of the masks that select them).
    group_masks_of: `groups -> group_masks`, the masks' values per group.
    max_leaf_size: leaves with more elements are a group of their own.
    leaves_per_group: at most this many leaves share a buffer (XLA's compile
      time grows with the square of the number of slices taken from one buffer).
    pad_to: buffer lengths are multiples of this.
    keep_lone_shape: see `FlatLayout`.

  Returns:
    The `FlatLayout`; group names are `<dtype>[<key>][_leafNNNNNN][_gNNNN]`, sorted.
  """
  leaves, treedef = jax.tree.flatten(tree)
  groups: dict = {}
  for i, leaf in enumerate(leaves):
    name = jnp.dtype(jnp.result_type(leaf)).name + keys[i]
    if _size(jnp.shape(leaf)) > max_leaf_size:
      name += f"_leaf{i:06d}"
    groups.setdefault(name, []).append(i)
  split = {}
  for name, idx in sorted(groups.items()):
    if len(idx) <= leaves_per_group:
      split[name] = tuple(idx)
      continue
    for k, start in enumerate(range(0, len(idx), leaves_per_group)):
      split[f"{name}_g{k:04d}"] = tuple(idx[start:start + leaves_per_group])
  return FlatLayout(
      treedef=treedef,
      shapes=tuple(tuple(jnp.shape(l)) for l in leaves),
      dtypes=tuple(jnp.dtype(jnp.result_type(l)).name for l in leaves),
      groups=split,
      group_masks=group_masks_of(split),
      pad_to=pad_to,
      keep_lone_shape=keep_lone_shape,
  )
