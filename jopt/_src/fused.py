"""The fused multi-tensor path: `fused(tx)` keeps the state in a few flat buffers and runs each transform as a few large ops.

An optimizer step is memory-bound, but on a tree of many small leaves its cost
is dominated by a fixed per-leaf overhead (one kernel per leaf per op). `fused(tx)` concatenates the leaves of each
*group* (same dtype, same masks) into one flat buffer, runs `tx` on the tree of
group buffers, and splits the updates back into the params' tree. Leaves larger
than `max_fused_leaf_size` elements stay their own group (in their own shape,
no copy), so large leaves cost what they cost on the per-leaf path.

Only transforms whose result on a leaf does not depend on how the leaves are
cut can be fused: elementwise ones (Adam, momentum, RMSprop, Lion, weight
decay, scaling, schedules) and the global-norm clip (a sum over all elements).
Transforms with per-leaf statistics (block RMS clipping, trust ratios, factored
second moments, gradient centralization, NovoGrad, LARS/LAMB) and every
transform jopt does not know are rejected when `fused` is called, never run
silently wrong. `masked` (and `add_decayed_weights(mask=...)`) is supported: a
mask splits the groups, so masked state stays as small as on the per-leaf path.

PyTorch's multi-tensor ("foreach") optimizers solve the same problem
(https://github.com/pytorch/pytorch/pull/49039).
"""

import dataclasses
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jopt._src import base
from jopt._src import checks
from jopt._src import combine
from jopt._src import masking

# Factories (by name, in `jopt._src`) whose update acts on each element alone.
ELEMENTWISE = frozenset({
    "identity", "scale", "scale_by_schedule", "scale_by_learning_rate",
    "scale_by_adam", "scale_by_amsgrad", "scale_by_adamax", "scale_by_adan",
    "scale_by_belief", "scale_by_yogi", "scale_by_radam", "scale_by_lion",
    "scale_by_rms", "scale_by_stddev", "scale_by_sign", "scale_by_rss",
    "scale_by_optimistic_gradient", "scale_by_polyak_sgd",
    "trace", "ema", "add_decayed_weights", "add_l1_decay", "l1_proximal",
    "clip", "keep_params_nonnegative", "zero_nans",
})
# Factories that reduce over every element of every leaf: the same on flat buffers.
GLOBAL = frozenset({"clip_by_global_norm"})
# Factories known to need per-leaf statistics (named in the error).
PER_LEAF = frozenset({
    "clip_by_block_rms", "scale_by_trust_ratio", "scale_by_factored_rms",
    "scale_by_param_block_rms", "scale_by_param_block_norm", "centralize",
    "scale_by_novograd", "scale_by_lars", "scale_by_lamb", "adaptive_grad_clip",
    "per_example_global_norm_clip", "scale_by_muon", "normalize_by_update_norm",
})

DEFAULT_MAX_FUSED_LEAF_SIZE = 1 << 16
DEFAULT_LEAVES_PER_GROUP = 64


class FusedState(NamedTuple):
  """State of `fused(tx)`: `tx`'s state over the flat group buffers."""

  inner_state: Any  # tx's state for a dict {group name: 1-D buffer}.


@dataclasses.dataclass(frozen=True)
class _Node:
  kind: str  # "leaf", "chain", "named_chain" or "masked".
  tx: Any = None
  children: tuple = ()
  names: tuple = ()
  mask: Any = None
  mask_index: int = -1
  mask_extra: bool = False


def _cells(fn: Callable[..., Any]) -> dict:
  code = getattr(fn, "__code__", None)
  closure = getattr(fn, "__closure__", None) or ()
  if code is None:
    return {}
  return {name: cell.cell_contents for name, cell in zip(code.co_freevars, closure)}


def _factory(tx: Any) -> tuple[str, str]:
  fn = tx.update
  module = getattr(fn, "__module__", "") or ""
  qualname = getattr(fn, "__qualname__", "") or type(fn).__name__
  return module, qualname.split(".<locals>")[0]


def _parse(tx: Any, counter: list, inside_mask: bool) -> _Node:
  """The tree of chains, masks and leaf transforms that make up `tx`."""
  if not (hasattr(tx, "init") and hasattr(tx, "update")):
    raise TypeError(f"fused: expected a GradientTransformation, got {type(tx).__name__}.")
  module, name = _factory(tx)
  if not module.startswith("jopt._src"):
    raise ValueError(
        f"fused: cannot fuse `{module}.{name}`: only jopt's own transforms are known "
        "to be elementwise. Use the transform without `fused`."
    )
  cells = _cells(tx.update)
  if name == "with_extra_args":
    return _parse(cells["tx"], counter, inside_mask)
  if name == "chain":
    return _Node("chain", children=tuple(_parse(t, counter, inside_mask) for t in cells["transforms"]))
  if name == "named_chain":
    pairs = cells["transforms"]
    return _Node(
        "named_chain",
        children=tuple(_parse(t, counter, inside_mask) for _, t in pairs),
        names=tuple(n for n, _ in pairs),
    )
  if name == "with_mask":  # a checked `masked`, as built by `add_decayed_weights(mask=...)`.
    return _parse(cells["inner"], counter, inside_mask)
  if name == "masked":
    if inside_mask:
      raise ValueError("fused: a `masked` transform inside another `masked` is not supported.")
    index = len(counter)
    counter.append(cells["mask"])
    return _Node(
        "masked", children=(_parse(cells["inner"], counter, True),), mask=cells["mask"],
        mask_index=index, mask_extra=cells.get("mask_compatible_extra_args", False),
    )
  # Shared helpers (e.g. `leafwise_with_params`) carry the public name in `fn`.
  if isinstance(cells.get("fn"), str):
    name = cells["fn"]
  if name in ELEMENTWISE or name in GLOBAL:
    return _Node("leaf", tx=tx)
  why = (
      "it computes a per-leaf statistic (a norm or a factored moment over each leaf), which "
      "would be taken over a whole flat buffer" if name in PER_LEAF else
      "it is not known to be elementwise"
  )
  raise ValueError(
      f"fused: cannot fuse `{name}`: {why}. Use this optimizer without `fused`, or fuse "
      f"only the elementwise part. Fusable: {sorted(ELEMENTWISE | GLOBAL)}."
  )


def _rebuild(node: _Node, group_masks: list) -> Any:
  """`node` as a transform on the dict of group buffers (masks become dicts of bools)."""
  if node.kind == "leaf":
    return node.tx
  kids = [_rebuild(c, group_masks) for c in node.children]
  if node.kind == "chain":
    return combine.chain(*kids)
  if node.kind == "named_chain":
    return combine.named_chain(*zip(node.names, kids))
  return masking.masked(
      kids[0], group_masks[node.mask_index], mask_compatible_extra_args=node.mask_extra
  )


@dataclasses.dataclass(frozen=True)
class _Layout:
  """Where each leaf of a tree lives in the group buffers."""

  treedef: Any
  shapes: tuple
  groups: dict  # group name -> tuple of leaf indices, in tree order.
  group_masks: list  # one {group name: bool} per `masked` node.

  def flatten(self, tree: Any) -> dict:
    """One buffer per group: a lone leaf as it is, else the concatenation of the raveled leaves."""
    leaves = self.treedef.flatten_up_to(tree)
    out = {}
    for name, idx in self.groups.items():
      if len(idx) == 1:
        # No reshape: a bitcast between the donated param and its update would
        # stop XLA from writing the new param in place (it inserts a copy).
        out[name] = leaves[idx[0]]
      else:
        out[name] = jnp.concatenate([jnp.ravel(leaves[i]) for i in idx])
    return out

  def unflatten(self, flat: dict) -> Any:
    leaves = [None] * len(self.shapes)
    for name, idx in self.groups.items():
      buf = flat[name]
      if len(idx) == 1:
        leaves[idx[0]] = buf
        continue
      offset = 0
      for i in idx:
        size = int(np.prod(self.shapes[i], dtype=np.int64))
        leaves[i] = jax.lax.slice(buf, (offset,), (offset + size,)).reshape(self.shapes[i])
        offset += size
    return self.treedef.unflatten(leaves)


def _leaf_bits(fn: str, mask: Any, tree: Any, treedef: Any) -> list:
  """One Python bool per leaf of `tree`: what `masked(..., mask)` would select."""
  mask_tree = masking.resolve_mask(fn, mask, tree)
  full = jax.tree.map(
      lambda m, sub: jax.tree.map(lambda _: m, sub), mask_tree, tree,
  )
  bits = treedef.flatten_up_to(full)
  out = []
  for b in bits:
    value = checks.concrete_value(b)
    if value is None or value.shape != ():
      raise ValueError(f"{fn}: a mask must hold Python bools known at trace time, got {b!r}.")
    out.append(bool(value))
  return out


def _layout(tree: Any, masks: list, max_leaf: int, leaves_per_group: int) -> _Layout:
  leaves, treedef = jax.tree.flatten(tree)
  bits = [_leaf_bits("fused", m, tree, treedef) for m in masks]
  groups: dict = {}
  for i, leaf in enumerate(leaves):
    dtype = jnp.result_type(leaf)
    size = int(np.prod(jnp.shape(leaf), dtype=np.int64))
    name = jnp.dtype(dtype).name
    if masks:
      name += "_m" + "".join("1" if b[i] else "0" for b in bits)
    if size > max_leaf:
      name += f"_leaf{i:06d}"
    groups.setdefault(name, []).append(i)
  # Split long groups: XLA's compile time grows with the square of the number
  # of slices taken from one buffer, while the step time barely moves.
  split = {}
  for name, idx in sorted(groups.items()):
    if len(idx) <= leaves_per_group:
      split[name] = tuple(idx)
      continue
    for k, start in enumerate(range(0, len(idx), leaves_per_group)):
      split[f"{name}_g{k:04d}"] = tuple(idx[start:start + leaves_per_group])
  groups = split
  group_masks = [
      {g: b[idx[0]] for g, idx in groups.items()} for b in bits
  ]
  shapes = tuple(tuple(jnp.shape(l)) for l in leaves)
  return _Layout(treedef=treedef, shapes=shapes, groups=groups, group_masks=group_masks)


def fused(
    tx: base.GradientTransformation,
    max_fused_leaf_size: int = DEFAULT_MAX_FUSED_LEAF_SIZE,
    leaves_per_group: int = DEFAULT_LEAVES_PER_GROUP,
) -> base.GradientTransformationExtraArgs:
  """Runs `tx` on a few flat buffers (per dtype and mask) instead of once per leaf.

  For every leaf of the updates, `fused(tx)` gives the same updates as `tx`
  (bit-for-bit up to XLA's choice of fused multiply-adds; tested to rtol 1e-6),
  but the state is a dict of buffers and each elementwise operation runs once
  per group of up to `leaves_per_group` leaves instead of once per leaf.

  Where the cost goes: gradients and params arrive as trees, so each step
  concatenates the small leaves of a group (one kernel per group) and splits the
  flat updates back into the tree (one slice per leaf, which XLA fuses into
  `apply_updates`' add). What is saved is the optimizer's own kernels: per-leaf
  Adam runs three kernels per leaf, fused Adam one per group. Groups are capped at
  `leaves_per_group` leaves because XLA's compile time grows with the square of the
  number of slices taken from one buffer.

  Leaves with more than `max_fused_leaf_size` elements are not concatenated:
  each is its own group, kept in its own shape, so large leaves cost exactly what
  they cost on the per-leaf path (unlike `optax.flatten`, which copies every leaf
  twice per step).

  Supported: `chain`, `named_chain`, one level of `masked`, and jopt's
  elementwise transforms (see `ELEMENTWISE`) and `clip_by_global_norm`. Anything
  else raises `ValueError` here, at build time, naming the transform: per-leaf
  statistics would silently be taken over a whole buffer.

  Args:
    tx: the transform or optimizer to fuse, e.g. `jopt.adamw(1e-3)`.
    max_fused_leaf_size: leaves larger than this many elements stay separate.
    leaves_per_group: at most this many leaves are concatenated into one buffer.

  Returns:
    A `GradientTransformationExtraArgs` with state `FusedState`. The state
    layout depends only on the params' structure, shapes, dtypes and masks;
    it checkpoints like any tree of arrays (e.g. with orbax).

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> params = {f"b{i}": jnp.zeros(8) for i in range(100)}
    >>> tx = jopt.fused(jopt.adamw(1e-3), leaves_per_group=128)
    >>> state = tx.init(params)
    >>> jax.tree.map(jnp.shape, state.inner_state[0].mu)
    {'float32': (800,)}
  """
  checks.check_positive_int("fused", "max_fused_leaf_size", max_fused_leaf_size)
  checks.check_positive_int("fused", "leaves_per_group", leaves_per_group)
  masks: list = []
  spec = _parse(tx, masks, False)

  def flat_tx(layout: _Layout) -> base.GradientTransformationExtraArgs:
    return combine.with_extra_args(_rebuild(spec, layout.group_masks))

  def init_fn(params):
    layout = _layout(params, masks, max_fused_leaf_size, leaves_per_group)
    return FusedState(inner_state=flat_tx(layout).init(layout.flatten(params)))

  def update_fn(updates, state, params=None, **extra_args):
    if not isinstance(state, FusedState):
      raise ValueError(
          f"fused: expected a FusedState (made by this transform's `init`), got "
          f"{type(state).__name__}."
      )
    layout = _layout(updates, masks, max_fused_leaf_size, leaves_per_group)
    if params is not None:
      checks.check_same_structure("fused", updates, params, "params")
    flat_params = None if params is None else layout.flatten(params)
    flat_updates, inner_state = flat_tx(layout).update(
        layout.flatten(updates), state.inner_state, flat_params, **extra_args
    )
    return layout.unflatten(flat_updates), FusedState(inner_state=inner_state)

  return base.GradientTransformationExtraArgs(init_fn, update_fn)
