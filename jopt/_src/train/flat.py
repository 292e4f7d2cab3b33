"""`make_train_step(..., flat=True)`: params, gradients and optimizer state kept in a few flat buffers."""

import dataclasses
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jopt._src import base
from jopt._src import combine
from jopt._src.train import pmap as pmap_lib
from jopt._src.train import state as state_lib
from jopt._src.train import trainer as trainer_lib
from jopt._src.transforms import masking
from jopt._src.wrappers import flat_layout
from jopt._src.wrappers import fused as fused_lib

# Leaves above this many elements get a buffer of their own (no slice copy in the forward pass).
FLAT_MAX_LEAF_SIZE = fused_lib.DEFAULT_MAX_FUSED_LEAF_SIZE
# No cap on the leaves per buffer: the optimizer pays per buffer (a kernel each: Adam on 5000
# leaves of 16 in buffers of 8 leaves is ~90x slower than in one). The views pay at compile
# time: XLA:CPU compiles one kernel per distinct fusion and reuses it for identical ones (the
# tree step of 50 identical layers compiles 7 kernels for its 104 fusions), but a view's offset
# is a constant inside its fusion, so no two views share a kernel (105 kernels). Buffers of a
# few leaves with identical layouts would share them again (a 100-layer MLP: 33 s uncapped,
# 9 s at 8 leaves per buffer, 10 s for the tree step), at the optimizer's expense.
FLAT_LEAVES_PER_GROUP = 1 << 30
# Composites whose children all see the whole tree: split into parts, each flat or on views.
_SPLITTABLE = ("chain", "named_chain", "with_extra_args_support")


@jax.tree_util.register_pytree_with_keys_class
class FlatParams:
  """Parameters stored as a few flat buffers, with the `FlatLayout` that maps them to the tree.

  A pytree whose leaves are the buffers (a dict, group name -> 1-D array, in
  `layout.groups` order) and whose static part is the layout, so `jit`, `pmap`,
  shardings and orbax see only the buffers.

  Attributes:
    buffers: group name -> 1-D buffer (the group's leaves back to back, then padding).
    layout: the `FlatLayout`.
  """

  def __init__(self, buffers: dict, layout: flat_layout.FlatLayout):
    self.buffers = buffers
    self.layout = layout

  def tree(self) -> Any:
    """The parameter tree (each leaf a slice of its buffer, reshaped)."""
    return self.layout.unflatten(self.buffers)

  def views(self) -> Any:
    """The parameter tree for a loss function: `tree`, with the flat gradient as its transpose."""
    return self.layout.views(self.buffers)

  def tree_flatten_with_keys(self):
    return [(jax.tree_util.DictKey(k), self.buffers[k]) for k in self.layout.groups], self.layout

  def tree_flatten(self):
    return [self.buffers[k] for k in self.layout.groups], self.layout

  @classmethod
  def tree_unflatten(cls, layout, children):
    return cls(dict(zip(layout.groups, children)), layout)

  def __repr__(self) -> str:
    shapes = {k: getattr(v, "shape", v) for k, v in self.buffers.items()}
    return f"FlatParams({shapes})"


# --- the optimizer over the buffers: `fused`'s rebuild where it can, the tree of views elsewhere ---


@dataclasses.dataclass(frozen=True, eq=False)
class _Plan:
  """How one transform runs on the buffers: "flat" (rebuilt over groups), "views" or "chain" (parts)."""

  kind: str
  tx: Any
  spec: Any = None  # fused's parsed tree ("flat").
  parts: tuple = ()  # ("chain").
  why: tuple = ()  # ("views"): what keeps it off the buffers.


def _plan(tx: Any, path: str = "") -> _Plan:
  problems: list = []
  spec = fused_lib.parse(tx, path, problems)
  if spec is not None and not problems:
    try:
      fused_lib.check_rebuild(spec)
      return _Plan("flat", tx, spec=spec)
    except ValueError as e:
      problems.append(str(e).split("\n")[0])
  decl = base.fusion_info(tx)
  if (decl is not None and decl.kind == "composite" and decl.name in _SPLITTABLE
      and "rebuild" in decl.info):
    kids = tuple(decl.info.get("children", ()))
    names = decl.info.get("names")
    steps = [f"{decl.name}[{names[i]!r}]" if names else f"{decl.name}[{i}]" for i in range(len(kids))]
    parts = tuple(_plan(k, f"{path} > {s}" if path else s) for k, s in zip(kids, steps))
    return _Plan("chain", tx, parts=parts)
  return _Plan("views", tx, why=tuple(p.replace("fused: ", "") for p in problems))


def _specs(plan: _Plan) -> list:
  if plan.kind == "flat":
    return [plan.spec]
  return [s for p in plan.parts for s in _specs(p)]


def _on_views(plan: _Plan) -> tuple:
  if plan.kind == "views":
    return plan.why
  return tuple(w for p in plan.parts for w in _on_views(p))


def _views_tx(tx: Any, layout: flat_layout.FlatLayout) -> base.GradientTransformationExtraArgs:
  """`tx` run on the tree of views of the buffers, its updates flattened back (per-leaf statistics)."""
  tx = combine.with_extra_args_support(tx)

  def init_fn(buffers):
    return tx.init(layout.unflatten(buffers))

  def update_fn(updates, state, params=None, **extra_args):
    tree_params = None if params is None else layout.unflatten(params)
    new, state = tx.update(layout.unflatten(updates), state, tree_params, **extra_args)
    return layout.flatten(new), state

  return base.GradientTransformationExtraArgs(init_fn, update_fn)


def _buffers_tx(plan: _Plan, layout: flat_layout.FlatLayout) -> base.GradientTransformationExtraArgs:
  """The transform on the dict of buffers that `plan` describes, for `layout`'s groups."""
  if plan.kind == "flat":
    return combine.with_extra_args_support(fused_lib.rebuild(plan.spec, layout.group_masks))
  if plan.kind == "views":
    return _views_tx(plan.tx, layout)
  kids = [_buffers_tx(p, layout) for p in plan.parts]
  return combine.with_extra_args_support(
      base.fusion_info(plan.tx).info["rebuild"](kids, lambda m: m))


def _flat_transform(plan: _Plan) -> base.GradientTransformationExtraArgs:
  """The optimizer on `FlatParams`: its state is the buffers' transform's state."""
  cache: dict = {}

  def for_layout(layout):
    if layout not in cache:
      cache[layout] = _buffers_tx(plan, layout)
    return cache[layout]

  def init_fn(params: FlatParams):
    return for_layout(params.layout).init(params.buffers)

  def update_fn(updates: FlatParams, state, params: Optional[FlatParams] = None, **extra_args):
    layout = updates.layout
    buffers = None if params is None else params.buffers
    new, state = for_layout(layout).update(updates.buffers, state, buffers, **extra_args)
    return FlatParams(new, layout), state

  return base.GradientTransformationExtraArgs(init_fn, update_fn)


# --- converting optimizer states between the tree and the buffers ---


_LEAF = jax.tree.structure(0)


def _one_level(x: Any):
  return jax.tree.flatten(x, is_leaf=lambda y: y is not x)


def _is_buffers(node: Any, layout: flat_layout.FlatLayout) -> bool:
  if not (isinstance(node, dict) and list(node) and set(node) == set(layout.groups)):
    return False
  return all(
      isinstance(v, masking.MaskedNode) or tuple(getattr(v, "shape", (None,))) == (layout.size(k),)
      for k, v in node.items()
  )


def _is_param_tree(node: Any, layout: flat_layout.FlatLayout) -> bool:
  try:
    leaves = layout.treedef.flatten_up_to(node)
  except (ValueError, TypeError):
    return False
  return all(
      isinstance(l, masking.MaskedNode) or tuple(getattr(l, "shape", (None,))) == shape
      for l, shape in zip(leaves, layout.shapes)
  )


def _is_group_scalars(node: Any, layout: flat_layout.FlatLayout) -> bool:
  if not (isinstance(node, dict) and list(node) and set(node) == set(layout.groups)):
    return False
  return all(isinstance(v, masking.MaskedNode) or jnp.shape(v) == () for v in node.values())


def _is_leaf_scalars(node: Any, layout: flat_layout.FlatLayout) -> bool:
  try:
    leaves = layout.treedef.flatten_up_to(node)
  except (ValueError, TypeError):
    return False
  return all(isinstance(l, masking.MaskedNode) or jnp.shape(l) == () for l in leaves)


def _convert_scalars(value: Any, layout: flat_layout.FlatLayout, to_flat: bool, path: str) -> Any:
  """One scalar per leaf (tree) <-> one per group (flat), e.g. `zero_nans`' `found_nan` flags.

  Flat -> tree: each leaf gets its group's value. Tree -> flat: a group's flags
  are OR-ed (a bool per group means "some leaf of the group"); other scalars
  must agree within the group.
  """
  if not to_flat:
    leaves = [None] * len(layout.shapes)
    for name, idx in layout.groups.items():
      v = value[name]
      for i in idx:
        leaves[i] = v if isinstance(v, masking.MaskedNode) else jnp.array(v, copy=True)
    return layout.treedef.unflatten(leaves)
  leaves = layout.treedef.flatten_up_to(value)
  out = {}
  for name, idx in layout.groups.items():
    vals = [leaves[i] for i in idx]
    if all(isinstance(v, masking.MaskedNode) for v in vals):
      out[name] = masking.MaskedNode()
    elif jnp.result_type(vals[0]) == jnp.bool_:
      out[name] = jnp.any(jnp.stack([jnp.asarray(v) for v in vals]))
    else:
      first = np.asarray(vals[0])
      if any(not np.array_equal(np.asarray(v), first) for v in vals[1:]):
        raise ValueError(
            f"the optimizer state at {path or 'the top'} holds a scalar per leaf, and the leaves of "
            f"buffer {name!r} disagree; the flat step keeps one per buffer.")
      out[name] = jnp.array(vals[0], copy=True)
  return out


def _convert(value: Any, target: Any, layout: flat_layout.FlatLayout, to_flat: bool, path: str) -> Any:
  """`value` (a state in one layout) in the structure of `target` (the other layout's state, abstract).

  Params-shaped parts (a tree like the params on the tree side, a dict of group
  buffers on the flat side, `MaskedNode` where a mask hides them) are flattened
  or unflattened; a scalar per leaf (tree side) is one per group on the flat side
  (`_convert_scalars`); everything else (counts, hyperparameters, per-leaf
  states run on views) is copied.
  """
  flat_node, tree_node = (target, value) if to_flat else (value, target)
  if _is_buffers(flat_node, layout) and _is_param_tree(tree_node, layout):
    return layout.flatten(value) if to_flat else layout.unflatten(value)
  if _is_group_scalars(flat_node, layout) and _is_leaf_scalars(tree_node, layout):
    return _convert_scalars(value, layout, to_flat, path)
  v_kids, v_def = _one_level(value)
  t_kids, t_def = _one_level(target)
  if v_def == _LEAF and t_def == _LEAF:
    if value is not None and tuple(jnp.shape(value)) != tuple(target.shape):
      raise ValueError(
          f"the optimizer state leaf at {path or 'the top'} has shape {tuple(jnp.shape(value))}, "
          f"expected {tuple(target.shape)}; was it made by this optimizer for these params?")
    return jnp.array(value, copy=True)
  if v_def != t_def:
    raise ValueError(
        f"the optimizer state at {path or 'the top'} is {v_def}, expected {t_def}; was it made by "
        "this optimizer for these params?")
  return t_def.unflatten(
      [_convert(v, t, layout, to_flat, f"{path}[{i}]") for i, (v, t) in enumerate(zip(v_kids, t_kids))])


# --- the trainer ---


def _layout(plan: _Plan, pad_to: int, params: Any) -> flat_layout.FlatLayout:
  return fused_lib.layout_for(
      params, _specs(plan), max_leaf_size=FLAT_MAX_LEAF_SIZE,
      leaves_per_group=FLAT_LEAVES_PER_GROUP, pad_to=pad_to, keep_lone_shape=False)


@dataclasses.dataclass(frozen=True)
class FlatTrainer(trainer_lib.Trainer):
  """What `make_train_step(..., flat=True)` returns: a `Trainer` whose state holds `FlatParams`.

  Code written for a `Trainer` runs unchanged: ``unreplicate(state)`` returns the
  state a tree step would hold (params tree, ``tx.init``-shaped optimizer state,
  one copy under `pmap`: what to evaluate and checkpoint), and ``step`` accepts
  such a tree state (a restored checkpoint) and converts it before the step.
  Keep passing the state that ``step`` returned to the next ``step``: a tree
  state is converted (copied) at every call.

  Attributes (beyond `Trainer`'s):
    tx: the optimizer as given (its tree state is what `tree_state_from_flat` returns).
    flat_tx: the optimizer on `FlatParams` that the step runs (for a loop of one's own:
      ``flat_tx.init(trainer.flat_params(params))``).
    on_views: one line per part of the optimizer that runs on the tree of
      views (per-leaf statistics, undeclared transforms), empty when all of it
      runs on the buffers.
    pad_to: every buffer's length is a multiple of this (the mesh axis size under ZeRO-1).
  """

  tx: Any = None
  on_views: tuple = ()
  pad_to: int = 1
  plan: Any = None
  flat_tx: Any = None

  def layout(self, params: Any) -> flat_layout.FlatLayout:
    """The `FlatLayout` of a params tree (arrays or `ShapeDtypeStruct`s) for this optimizer."""
    return _layout(self.plan, self.pad_to, params)

  def flat_params(self, params: Any) -> FlatParams:
    """A params tree as `FlatParams` in this trainer's layout (what `init` stores)."""
    layout = self.layout(params)
    return FlatParams(layout.flatten(params), layout)

  def _local(self, state: state_lib.TrainState) -> state_lib.TrainState:
    if self.parallel == "pmap" and jnp.ndim(state.step) == 1:
      return pmap_lib.unreplicate(state)
    return state

  def params(self, state: state_lib.TrainState) -> Any:
    """The parameter tree of a state (flat or tree; under `pmap`, device 0's copy)."""
    state = self._local(state)
    return state.params.tree() if isinstance(state.params, FlatParams) else state.params

  def tree_state_from_flat(self, state: state_lib.TrainState) -> state_lib.TrainState:
    """The `TrainState` a tree step (`flat=False`) would hold: params tree, `tx.init`-shaped state.

    For checkpoints: save this, and resume with either kind of step. Leaves are
    copies (the flat state may still be donated to a step).
    """
    state = self._local(state)
    if not isinstance(state.params, FlatParams):
      raise ValueError(
          "tree_state_from_flat: `state.params` is not FlatParams; pass a state made by this "
          "trainer's `init` or `step`.")
    layout = state.params.layout
    params = layout.unflatten(state.params.buffers)
    target = jax.eval_shape(self.tx.init, params)
    opt_state = _convert(state.opt_state, target, layout, to_flat=False, path="")
    return state._replace(params=params, opt_state=opt_state)

  def flat_state_from_tree(self, state: state_lib.TrainState) -> state_lib.TrainState:
    """The flat `TrainState` of a tree one (`make_train_step(..., flat=False)`'s or a restored one).

    The result is not yet placed on devices; `step` places it (replicates under
    `pmap`, shards on the mesh). Leaves are copies.
    """
    state = self._local(state)
    if isinstance(state.params, FlatParams):
      raise ValueError("flat_state_from_tree: the state is flat already.")
    layout = self.layout(state.params)
    params = FlatParams(layout.flatten(state.params), layout)
    target = jax.eval_shape(self.flat_tx.init, params)
    try:
      opt_state = _convert(state.opt_state, target, layout, to_flat=True, path="")
    except ValueError as e:
      raise ValueError(f"flat_state_from_tree: {e}") from None
    copy = lambda t: jax.tree.map(lambda x: jnp.array(x, copy=True), t)
    return state._replace(params=params, opt_state=opt_state, step=copy(state.step),
                          model_state=copy(state.model_state), rng=copy(state.rng),
                          nonfinite_steps=copy(state.nonfinite_steps))


def flat_train_step(
    make_train_step: Callable[..., trainer_lib.Trainer],
    loss_fn: Callable[..., Any],
    tx: base.GradientTransformation,
    **options: Any,
) -> FlatTrainer:
  """`make_train_step(loss_fn, tx, flat=True, **options)`: the step with params kept in flat buffers.

  The params, their gradients and the optimizer state live in a few 1-D
  buffers, one per group of leaves with the same dtype and the same masks
  (`masked`, `multi_transform`'s labels, `add_decayed_weights(mask=...)`
  split the groups, so each mask is one value per buffer); leaves of more than
  `FLAT_MAX_LEAF_SIZE` elements get a buffer of their own, and at most
  `FLAT_LEAVES_PER_GROUP` leaves share one. Inside the compiled step
  `loss_fn` receives the usual tree, each leaf a view (slice + reshape) of its
  buffer; the views' transpose is a concatenation, so `jax.grad` w.r.t. the
  buffers is the flat gradient directly, and the optimizer runs over the
  buffers: one kernel per buffer instead of several per leaf, and no
  concatenation of the gradients or splitting of the updates.

  The optimizer is `fused`'s rebuild of `tx` over the groups wherever `tx`
  declares itself elementwise or global (the Adam family, momentum, RMSprop,
  Lion, weight decay, proximal steps, schedules, `clip_by_global_norm`,
  `masked`, `multi_transform`, `inject_hyperparams` ...). Parts that take a
  statistic of each leaf (block RMS clipping, trust ratios, factored moments,
  `centralize`) or declare nothing (other libraries' transforms) are not
  rejected: they run on the tree of views of the buffers and their updates are
  flattened back (per part of a `chain`; `trainer.on_views` lists them), with
  the same numbers as the tree step and their state as on the tree step.

  Under ``parallel="mesh"`` with ``shard_opt_state=True`` every buffer is
  padded with zeros to a multiple of the mesh axis size, so ZeRO-1 splits each
  optimizer buffer evenly (a slice per device). The padding's gradient is 0
  and no view reads it.

  Costs: the optimizer step is one kernel per buffer whatever the number of
  leaves, and its compile time no longer grows with the number of leaves. The
  forward pass copies each view that a matmul or convolution reads (a slice is
  not an operand XLA can pass to a matmul), and each copy and each fusion that
  reads a view is a kernel of its own (the view's offset is a constant in it),
  where the tree step compiles one kernel for all the identical layers of a
  deep model: on a model of many identical small layers the flat step runs
  faster and compiles several times slower (see `benchmarks/flat.py`).

  Results equal the tree step's (``flat=False``) up to float reduction order
  (and, where a part runs on views, bf16 roundings that XLA moves across the
  buffers' fusion boundaries).
  Checkpoints: ``trainer.unreplicate(state)`` (= ``tree_state_from_flat``) is
  the tree state (save it with orbax); ``trainer.step`` accepts it back
  (``flat_state_from_tree`` converts it explicitly), so a flat run resumes a
  tree run and back. ``trainer.params(state)`` is the param tree.

  Args:
    make_train_step: the tree step's builder (`make_train_step`).
    loss_fn: ``loss_fn(params_tree, batch[, rng][, model_state=...])``.
    tx: the optimizer.
    **options: `make_train_step`'s other keyword arguments.

  Returns:
    A `FlatTrainer`.
  """
  plan = _plan(tx)

  def flat_loss(params: FlatParams, *args, **kwargs):
    return loss_fn(params.views(), *args, **kwargs)

  flat_tx = _flat_transform(plan)
  inner = make_train_step(flat_loss, flat_tx, **options)
  pad_to = inner.num_devices if options.get("shard_opt_state") else 1

  def init(params, rng=None, model_state=None):
    layout = _layout(plan, pad_to, params)
    return inner.init(FlatParams(layout.flatten(params), layout), rng, model_state)

  def step(state, batch):
    if not isinstance(state.params, FlatParams):  # a tree state: `unreplicate`'s, a checkpoint's
      state = trainer.flat_state_from_tree(state)
    return inner.step(state, batch)

  def unreplicate(state):  # the state as one tree: what to save, evaluate, or resume with `step`
    if not isinstance(state.params, FlatParams):
      return inner.unreplicate(state)
    return trainer.tree_state_from_flat(state)

  fields = {f.name: getattr(inner, f.name) for f in dataclasses.fields(trainer_lib.Trainer)}
  fields.update(init=init, step=step, unreplicate=unreplicate)
  trainer = FlatTrainer(**fields, tx=tx, on_views=_on_views(plan), pad_to=pad_to, plan=plan,
                        flat_tx=flat_tx)
  return trainer
