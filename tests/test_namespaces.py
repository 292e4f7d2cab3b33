"""optax's signatures, state fields and namespaces (jopt.transforms, jopt.microbatching, jopt.schedules) for the
wrappers, stateless helpers, monitoring and microbatching added for optax's namespace."""

import enum
import inspect

import jax.numpy as jnp
import numpy as np
import optax
import optax.microbatching
import pytest

import jopt
import jopt.microbatching
import jopt.schedules
import jopt.transforms
from jopt._src import base as types
from jopt._src import combine
from jopt._src import microbatching
from jopt._src import update as target_updates
from jopt._src.transforms import clipping as per_example_clipping
from jopt._src.transforms import clipping as unitwise_clipping
from jopt._src.transforms import freezing
from jopt._src.transforms import scaling as gradient_scaling
from jopt._src.transforms import stateless
from jopt._src.wrappers import apply_every
from jopt._src.wrappers import conditionality as conditional
from jopt._src.wrappers import flatten as layouts
from jopt._src.wrappers import monitoring

# Every top-level optax name this work adds: name -> the module defining it.
TOP_LEVEL = {
    "AdaptiveGradClipState": types,
    "ApplyEvery": apply_every,
    "ClipByGlobalNormState": types,
    "ClipState": types,
    "ConditionallyMaskState": conditional,
    "ConditionallyTransformState": conditional,
    "MaskOrFn": types,
    "MonitorState": monitoring,
    "NonNegativeParamsState": types,
    "PartitionState": freezing,
    "ScaleByTrustRatioState": types,
    "ScaleState": types,
    "ShouldSkipUpdateFunction": types,
    "SnapshotState": monitoring,
    "TransformInitFn": types,
    "TransformUpdateExtraArgsFn": types,
    "TransformUpdateFn": types,
    "adaptive_grad_clip": unitwise_clipping,
    "apply_every": apply_every,
    "conditionally_mask": conditional,
    "conditionally_transform": conditional,
    "flatten": layouts,
    "freeze": freezing,
    "incremental_update": target_updates,
    "measure_with_ema": monitoring,
    "microbatch": microbatching,
    "monitor": monitoring,
    "partition": freezing,
    "per_example_global_norm_clip": per_example_clipping,
    "per_example_layer_norm_clip": per_example_clipping,
    "periodic_update": target_updates,
    "scale_gradient": gradient_scaling,
    "selective_transform": freezing,
    "set_to_zero": stateless,
    "snapshot": monitoring,
    "stateless": stateless,
    "stateless_with_tree_map": stateless,
    "with_extra_args_support": combine,
}


def _ours(name):
  return getattr(TOP_LEVEL[name], name)


FUNCTIONS = sorted(n for n in TOP_LEVEL if inspect.isfunction(_ours(n)))
STATES = ["ApplyEvery", "ConditionallyMaskState", "ConditionallyTransformState",
          "MonitorState", "PartitionState", "SnapshotState"]
EMPTY_STATES = ["AdaptiveGradClipState", "ClipByGlobalNormState", "ClipState",
                "NonNegativeParamsState", "ScaleByTrustRatioState", "ScaleState"]
NAMESPACE_FUNCTIONS = [
    (jopt.transforms, optax.transforms, "unitwise_norm"),
    (jopt.transforms, optax.transforms, "unitwise_clip"),
    (jopt.microbatching, optax.microbatching, "microbatch"),
    (jopt.microbatching, optax.microbatching, "micro_vmap"),
    (jopt.microbatching, optax.microbatching, "micro_grad"),
    (jopt.microbatching, optax.microbatching, "reshape_batch_axis"),
]


def _same_default(a, b):
  if a is b:
    return True
  if isinstance(a, enum.Enum) and isinstance(b, enum.Enum):
    return a.name == b.name
  if inspect.isfunction(a) and inspect.isfunction(b):
    xs = [jnp.arange(3.0), 2.0, None]
    outs = []
    for x in xs:
      try:
        outs.append((a(x), b(x)))
      except Exception:  # pylint: disable=broad-except
        outs.append(("raised", "raised"))
    return all(np.array_equal(np.asarray(p), np.asarray(q)) if p is not None else q is None
               for p, q in outs)
  try:
    return bool(np.all(a == b)) and type(a) is type(b)
  except Exception:  # pylint: disable=broad-except
    return False


def _assert_same_signature(ours, theirs, what):
  ps = list(inspect.signature(ours).parameters.values())
  qs = list(inspect.signature(theirs).parameters.values())
  assert [(p.name, p.kind) for p in ps] == [(q.name, q.kind) for q in qs], what
  for p, q in zip(ps, qs):
    assert _same_default(p.default, q.default), f"{what}.{p.name}: {p.default!r} != {q.default!r}"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_top_level_signature_matches_optax(name):
  _assert_same_signature(_ours(name), getattr(optax, name), name)


@pytest.mark.parametrize("ns,ref,name", NAMESPACE_FUNCTIONS, ids=lambda x: x if isinstance(x, str) else "")
def test_namespace_signature_matches_optax(ns, ref, name):
  _assert_same_signature(getattr(ns, name), getattr(ref, name), name)


@pytest.mark.parametrize("name", STATES)
def test_state_fields_match_optax(name):
  assert _ours(name)._fields == getattr(optax, name)._fields
  assert _ours(name).__name__ == getattr(optax, name).__name__ or name == "PartitionState"


@pytest.mark.parametrize("name", EMPTY_STATES)
def test_empty_state_aliases(name):
  assert getattr(optax, name) is optax.EmptyState
  assert _ours(name) is jopt.EmptyState


def test_protocol_type_names_have_optax_call_signatures():
  for name in ["TransformInitFn", "TransformUpdateFn", "TransformUpdateExtraArgsFn"]:
    ours, theirs = getattr(types, name).__call__, getattr(optax, name).__call__
    assert list(inspect.signature(ours).parameters) == list(inspect.signature(theirs).parameters)
  for ours, theirs in [(types.ConditionFn, optax.transforms.ConditionFn),
                       (types.ShouldSkipUpdateFunction, optax.ShouldSkipUpdateFunction)]:
    assert (list(inspect.signature(ours.__call__).parameters)
            == list(inspect.signature(theirs.__call__).parameters))


def test_mask_or_fn_matches_optax():
  assert types.MaskOrFn == optax.MaskOrFn


def test_every_top_level_name_is_optax_top_level():
  assert all(hasattr(optax, n) for n in TOP_LEVEL)


def test_partition_is_multi_transform():
  """optax's `multi_transform` is `partition`; jopt keeps one function and one state class."""
  assert freezing.partition is jopt.multi_transform
  assert freezing.PartitionState is jopt.MultiTransformState
  assert optax.multi_transform is optax.partition


def _public(module):
  return {n for n in dir(module) if not n.startswith("_") and not inspect.ismodule(getattr(module, n))}


def test_transforms_namespace_covers_optax():
  assert set(jopt.transforms.__all__) == _public(optax.transforms)
  for name in jopt.transforms.__all__:
    obj = getattr(jopt.transforms, name)
    if hasattr(jopt, name):
      assert obj is getattr(jopt, name), name
    assert obj is not getattr(optax.transforms, name) or name in EMPTY_STATES, name


def test_microbatching_namespace_covers_optax():
  assert set(jopt.microbatching.__all__) == _public(optax.microbatching)
  assert {t.name for t in jopt.microbatching.AccumulationType} == {
      t.name for t in optax.microbatching.AccumulationType}
  assert ([f.name for f in jopt.microbatching.Accumulator.__dataclass_fields__.values()]
          == [f.name for f in optax.microbatching.Accumulator.__dataclass_fields__.values()])


SCHEDULES_NOT_YET: set = set()


def test_schedules_namespace_covers_optax():
  missing = _public(optax.schedules) - set(jopt.schedules.__all__)
  assert missing <= SCHEDULES_NOT_YET, missing - SCHEDULES_NOT_YET
  for name in jopt.schedules.__all__:
    assert getattr(jopt.schedules, name) is getattr(jopt, name)
    assert name in _public(optax.schedules)
  assert "inject_stateful_hyperparams" in jopt.schedules.__all__


def test_namespaces_declare_literal_all():
  for module in (jopt.transforms, jopt.schedules, jopt.microbatching):
    assert isinstance(module.__all__, list) and len(set(module.__all__)) == len(module.__all__)
    assert all(hasattr(module, n) for n in module.__all__)
