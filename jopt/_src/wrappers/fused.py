"""The fused multi-tensor path: `fused(tx)` keeps the state in a few flat buffers and runs each transform as a few large ops.

An optimizer step is memory-bound, but on a tree of many small leaves its cost
is dominated by a fixed per-leaf overhead (one kernel per leaf per op). `fused(tx)` concatenates the leaves of each
*group* (same dtype, same masks) into one flat buffer, runs `tx` on the tree of
group buffers, and splits the updates back into the params' tree. Leaves larger
than `max_fused_leaf_size` elements stay their own group (in their own shape,
no copy), so large leaves cost what they cost on the per-leaf path.

Only transforms whose result on a leaf does not depend on how the leaves are
cut can be fused. `fused` reads what each transform declared with
`base.declare_fusion` where it was built, never its code: "elementwise" (Adam,
momentum, RMSprop, Lion, weight decay, the L1 and elastic-net proximal steps,
schedules) and "global" (the global-norm clip: a sum over all elements) run on
the buffers; "composite" ones (`chain`, `named_chain`, `masked`,
`multi_transform`, `inject_hyperparams`, `apply_if_finite`, `MultiSteps` ...)
are fusable when all they hold is; "per_leaf" ones (block RMS clipping, trust
ratios, factored second moments, gradient centralization) and every transform
that declares nothing (another library's) are rejected when `fused` is called,
never run silently wrong. A mask (`masked`, `add_decayed_weights(mask=...)`,
`multi_transform`'s labels) splits the groups, so masked state stays as small
as on the per-leaf path.

PyTorch's multi-tensor ("foreach") optimizers solve the same problem
(https://github.com/pytorch/pytorch/pull/49039).
"""

import dataclasses
import re
from typing import Any, NamedTuple, Optional

import jax

from jopt._src import base
from jopt._src import checks
from jopt._src import combine
from jopt._src.transforms import masking
from jopt._src.wrappers import flat_layout

# Declared kinds that run unchanged on flat buffers.
FUSABLE_KINDS = frozenset({"elementwise", "global"})

DEFAULT_MAX_FUSED_LEAF_SIZE = 1 << 16
DEFAULT_LEAVES_PER_GROUP = 64


class FusedState(NamedTuple):
  """State of `fused(tx)`: `tx`'s state over the flat group buffers."""

  inner_state: Any  # tx's state for a dict {group name: 1-D buffer}.


@dataclasses.dataclass(frozen=True, eq=False)
class _Node:
  """A transform as `fused` sees it: its declaration and its parsed children."""

  tx: Any
  decl: base.FusionInfo
  path: str  # where it sits, for messages ("" at the top).
  children: tuple = ()
  masked: bool = False  # it or a transform inside applies a mask or labels.

  @property
  def selector(self) -> Optional[str]:
    """Which of `mask` and `labels` this node applies itself (None for neither)."""
    for key in ("mask", "labels"):
      if key in self.decl.info:
        return key
    return None


def _where(path: str) -> str:
  return f" (in {path})" if path else ""


def _undeclared(tx: Any) -> str:
  """How to name a transform that declared nothing: its update function, for display only."""
  text = re.sub(r" at 0x[0-9a-fA-F]+", "", repr(tx.update))
  module = getattr(tx.update, "__module__", None)
  return f"`{text}` from `{module}`" if module else f"`{text}`"


def _child_path(node_path: str, decl: base.FusionInfo, i: int, n: int) -> str:
  names = decl.info.get("names")
  if names is not None:
    step = f"{decl.name}[{names[i]!r}]"
  elif n > 1:
    step = f"{decl.name}[{i}]"
  elif decl.info.get("forwards") and "mask" not in decl.info:
    return node_path  # a transparent wrapper (`with_extra_args_support`).
  else:
    step = decl.name
  return f"{node_path} > {step}" if node_path else step


def parse(tx: Any, path: str, problems: list) -> Optional[_Node]:
  """The declared tree of `tx`; appends one line per transform it cannot fuse to `problems`."""
  if not (hasattr(tx, "init") and hasattr(tx, "update")):
    raise TypeError(f"fused: expected a GradientTransformation, got {type(tx).__name__}.")
  decl = base.fusion_info(tx)
  where = _where(path)
  if decl is None:
    problems.append(
        f"{_undeclared(tx)}{where}: it is unknown to jopt (it declares no fusion kind with "
        "`declare_fusion`, so whether it is elementwise is not known)"
    )
    return None
  if decl.kind in FUSABLE_KINDS:
    return _Node(tx, decl, path)
  if decl.kind == "per_leaf":
    why = decl.info.get("why", "a statistic of each leaf")
    problems.append(
        f"`{decl.name}`{where}: it works leaf by leaf ({why}), which on the flat buffers "
        "would span many leaves at once"
    )
    return None
  if decl.kind != "composite":
    problems.append(f"`{decl.name}`{where}: {decl.info.get('why', 'it is not fusable')}")
    return None
  kids = tuple(decl.info.get("children", ()))
  nodes = [parse(k, _child_path(path, decl, i, len(kids)), problems) for i, k in enumerate(kids)]
  if any(n is None for n in nodes):
    return None
  node = _Node(tx, decl, path, tuple(nodes))
  masked = node.selector is not None or any(n.masked for n in nodes)
  if masked and "rebuild" not in decl.info:
    problems.append(
        f"`{decl.name}`{where}: it holds a mask but cannot be rebuilt over the flat buffers' "
        "groups, so the mask could not be applied to them"
    )
    return None
  return dataclasses.replace(node, masked=masked)


def _selectors(node: _Node) -> list:
  """The nodes applying a mask or labels in `node`'s tree, in order."""
  own = [node] if node.selector else []
  return own + [s for c in node.children if c.masked for s in _selectors(c)]


def _remask(node: _Node, group_masks: dict):
  """`remask(m)`: the groups' version of a mask (or labels) `m` held by `node` or below it."""
  found: dict = {}
  for sel in _selectors(node):
    found.setdefault(id(sel.decl.info[sel.selector]), []).append(group_masks[id(sel)])

  def remask(obj):
    if node.selector and obj is node.decl.info[node.selector]:
      return group_masks[id(node)]
    candidates = found.get(id(obj))
    if not candidates:
      return obj
    if any(c != candidates[0] for c in candidates):
      raise ValueError(
          f"fused: `{node.decl.name}`{_where(node.path)} applies one mask object at several "
          "nesting levels, where it selects different leaves; give each level its own mask."
      )
    return candidates[0]

  return remask


def rebuild(node: _Node, group_masks: dict) -> Any:
  """`node` as a transform on the dict of group buffers (masks become dicts of group values)."""
  if not node.masked:
    return node.tx  # runs unchanged on the buffers.
  kids = [rebuild(c, group_masks) for c in node.children]
  return node.decl.info["rebuild"](kids, _remask(node, group_masks))


def check_rebuild(spec: _Node) -> None:
  """Raises unless rebuilding `spec` with stand-in masks puts exactly those masks in place."""
  if not spec.masked:
    return
  selectors = _selectors(spec)
  tokens = {id(s): {} for s in selectors}  # distinct empty dicts, known by identity.
  problems: list = []
  rebuilt = parse(rebuild(spec, tokens), "", problems)
  placed = [] if rebuilt is None else [s.decl.info[s.selector] for s in _selectors(rebuilt)]
  placed_ids = {id(m) for m in placed}
  lost = [s for s in selectors if id(tokens[id(s)]) not in placed_ids]
  if problems or lost or len(placed) != len(selectors):
    names = ", ".join(f"`{s.decl.name}`{_where(s.path)}" for s in lost or selectors)
    raise ValueError(
        f"fused: cannot fuse {names}: its mask is not handed on when the transforms around it "
        "are rebuilt for the flat buffers (a factory that wraps or copies its `mask` "
        "argument). Use this optimizer without `fused`."
    )


def _is_hidden(x: Any) -> bool:
  return isinstance(x, masking.MaskedNode)


def _selected(node: _Node, leaves: list, treedef: Any, visible: list) -> list:
  """Each leaf's value of `node`'s mask (a bool) or labels on the tree `node` sees (None: hidden).

  A transform inside `masked` sees the params with `MaskedNode()` in place of the
  leaves the mask leaves out (as on the per-leaf path), so its own mask is
  evaluated on that tree.
  """
  view = treedef.unflatten([l if v else masking.MaskedNode() for l, v in zip(leaves, visible)])
  spec = node.decl.info[node.selector]
  if node.selector == "mask":
    spec = masking.resolve_mask("fused", spec, view)
  elif callable(spec):
    spec = spec(view)
  full = jax.tree.map(lambda m, sub: jax.tree.map(lambda _: m, sub), spec, view)
  values = jax.tree.leaves(full, is_leaf=_is_hidden)
  out = []
  for v, seen in zip(values, visible, strict=True):
    if not seen:
      out.append(None)
    elif node.selector == "labels":
      if v not in node.decl.info["names"]:
        raise ValueError(
            f"fused: `{node.decl.name}`{_where(node.path)} has the label {v!r} without a "
            f"transform; it has {list(node.decl.info['names'])}."
        )
      out.append(v)
    else:
      value = checks.concrete_value(v)
      if value is None or value.shape != ():
        raise ValueError(f"fused: a mask must hold Python bools known at trace time, got {v!r}.")
      out.append(bool(value))
  return out


def _select(node: _Node, leaves: list, treedef: Any, visible: list, out: list) -> None:
  """Appends `(node, values)` for every node applying a mask or labels, with what it selects."""
  if not node.masked:
    return
  if node.selector is None:
    for child in node.children:
      _select(child, leaves, treedef, visible, out)
    return
  values = _selected(node, leaves, treedef, visible)
  out.append((node, values))
  if node.selector == "mask":
    child_visible = [[v is True for v in values]]
  else:
    names = node.decl.info["names"]
    child_visible = [[v is not None and v == name for v in values] for name in names]
  for child, seen in zip(node.children, child_visible):
    _select(child, leaves, treedef, seen, out)


def _code(node: _Node, value: Any) -> str:
  if value is None:
    return "x"
  if node.selector == "mask":
    return "1" if value else "0"
  return f"l{list(node.decl.info['names']).index(value)}"


def layout_for(
    tree: Any,
    specs: list,
    *,
    max_leaf_size: int,
    leaves_per_group: int,
    pad_to: int = 1,
    keep_lone_shape: bool = True,
) -> flat_layout.FlatLayout:
  """The group buffers of `tree` for the parsed transforms `specs`: by dtype and by what their masks select.

  Each spec sees every leaf (they are parts of one `chain`); the masks and labels
  they apply split the groups, so each group is selected alike by all of them.
  """
  leaves, treedef = jax.tree.flatten(tree)
  selections: list = []
  for spec in specs:
    _select(spec, leaves, treedef, [True] * len(leaves), selections)
  keys = [
      "_m" + "".join(_code(node, values[i]) for node, values in selections) if selections else ""
      for i in range(len(leaves))
  ]
  # A group hidden from a node (by an outer mask) gets any valid value there: it never reaches it.
  default = lambda node: False if node.selector == "mask" else node.decl.info["names"][0]

  def group_masks_of(groups: dict) -> dict:
    return {
        id(node): {
            g: default(node) if values[idx[0]] is None else values[idx[0]]
            for g, idx in groups.items()
        }
        for node, values in selections
    }

  return flat_layout.build(
      tree, keys, group_masks_of, max_leaf_size=max_leaf_size,
      leaves_per_group=leaves_per_group, pad_to=pad_to, keep_lone_shape=keep_lone_shape)


@checks.public
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

  Supported: every transform declared "elementwise" or "global" with
  `base.declare_fusion` (jopt's Adam family, momentum, RMSprop, Lion, weight
  decay, the L1 and elastic-net proximal steps, `clip_by_global_norm` ...), and
  the composites made of them: `chain`, `named_chain`, `masked` (nested too),
  `multi_transform`, `inject_hyperparams` (writing a hyperparameter into the
  state works as on the per-leaf path), `apply_if_finite`, `MultiSteps`,
  `conditionally_transform`/`conditionally_mask`. Anything else raises
  `ValueError` here, at build time, naming each transform it cannot fuse and
  why: per-leaf statistics would silently be taken over a whole buffer, and a
  transform that declares nothing (e.g. one of optax's) is unknown.

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
  problems: list = []
  spec = parse(tx, "", problems)
  if problems:
    raise ValueError(
        "".join(f"fused: cannot fuse {p}.\n" for p in problems)
        + "Use this optimizer without `fused`, or fuse only its elementwise part, e.g. "
        "`chain(clip_by_block_rms(1.0), fused(adam(1e-3)))`."
    )
  check_rebuild(spec)

  def flat_tx(layout: flat_layout.FlatLayout) -> base.GradientTransformationExtraArgs:
    return combine.with_extra_args_support(rebuild(spec, layout.group_masks))

  def init_fn(params):
    layout = layout_for(params, [spec], max_leaf_size=max_fused_leaf_size,
                        leaves_per_group=leaves_per_group)
    return FusedState(inner_state=flat_tx(layout).init(layout.flatten(params)))

  def update_fn(updates, state, params=None, **extra_args):
    if not isinstance(state, FusedState):
      raise ValueError(
          f"fused: expected a FusedState (made by this transform's `init`), got "
          f"{type(state).__name__}."
      )
    layout = layout_for(updates, [spec], max_leaf_size=max_fused_leaf_size,
                        leaves_per_group=leaves_per_group)
    checks.check_params_structure("fused", updates, params)
    flat_params = None if params is None else layout.flatten(params)
    flat_updates, inner_state = flat_tx(layout).update(
        layout.flatten(updates), state.inner_state, flat_params, **extra_args
    )
    return layout.unflatten(flat_updates), FusedState(inner_state=inner_state)

  return base.declare_fusion(
      base.GradientTransformationExtraArgs(init_fn, update_fn),
      "unknown", "fused",
      why="it is fused already: its state is laid out for one tree of params")
