"""The generated bad-input table: every public factory x bad types x bad values, trees and dtypes.

Each case is run through jopt (and, for the README's side-by-side counts, through optax on the same
inputs) and lands in one category:

- ``build_clear``: a `TypeError`/`ValueError` when the factory is called, naming the function and the
  argument;
- ``update_clear``: a `TypeError`/`ValueError` at `init`/`update`, naming the function (and the path
  for tree cases);
- ``valid``: built and ran, finite result, and the input has a meaning (a documented `None`, an inf
  that disables a threshold, a negative value that is allowed);
- ``unclear``: any other exception (an internal numpy/jax message, or one naming neither);
- ``silent``: accepted although it is nonsense (a bad type, NaN, an inf with no meaning), or the result
  is not finite.

`python tests/reliability/bad_input_table.py [--optax] [--out FILE] [--namespaces-only | --no-namespaces]`
prints the counts: the top-level factories and trees, then jopt.keras, jopt.transformers, jopt.torch
and jopt.losses (see `loss_input_table.py`).
"""

import collections.abc
import dataclasses
import inspect
import math
import re
import sys
import types
import typing
import warnings
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

CATEGORIES = ("build_clear", "update_clear", "valid", "unclear", "silent")

# Not factories with hyperparameters: tree functions, training/tuning drivers, combinators of
# transforms only, and helpers called with trees.
NOT_FACTORIES = {
    "apply_updates", "incremental_update", "periodic_update", "init_empty_state", "init_train_state",
    "initialize_distributed", "make_global_batch", "process_batch_slice", "process_info",
    "hyperparams", "grid_search", "random_search", "sweep", "meta_gradient", "meta_tune",
    "train_step_body", "make_train_step", "value_and_grad_from_state", "scale_gradient",
    "skip_large_updates", "skip_not_finite", "per_example_global_norm_clip",
    "per_example_layer_norm_clip", "microbatch", "stateless", "stateless_with_tree_map",
    "with_extra_args_support", "chain", "named_chain", "identity", "set_to_zero", "centralize",
    "scale_by_sign", "zero_nans", "keep_params_nonnegative", "flatten", "mask_and", "mask_by_path",
    "monitor", "snapshot", "measure_with_ema", "partition", "multi_transform", "freeze",
    "selective_transform", "masked", "conditionally_mask", "conditionally_transform",
    "apply_if_finite", "hypergradient_descent", "join_schedules", "sgdr_schedule", "fused",
    "inject_hyperparams", "inject_stateful_hyperparams", "weight_decay_mask", "mask_by_ndim",
    "lbfgs", "scale_by_lbfgs", "scale_by_zoom_linesearch", "scale_by_backtracking_linesearch",
}

# Required arguments that are not a learning rate, per factory (jopt and optax take the same).
BASE = {
    "add_l1_decay": dict(l1=0.01),
    "add_noise": dict(eta=0.01, gamma=0.55),
    "noisy_sgd": dict(learning_rate=0.1),
    "adaptive_grad_clip": dict(clipping=0.1),
    "clip": dict(max_delta=1.0),
    "clip_by_block_rms": dict(threshold=1.0),
    "clip_by_global_norm": dict(max_norm=1.0),
    "constant_schedule": dict(value=0.1),
    "cosine_decay_schedule": dict(init_value=0.1, decay_steps=10),
    "cosine_onecycle_schedule": dict(transition_steps=10, peak_value=0.1),
    "cyclic_schedule": dict(init_value=0.01, peak_value=0.1, step_size_up=5),
    "differentially_private_aggregate": dict(l2_norm_clip=1.0, noise_multiplier=0.1, key=0),
    "dpsgd": dict(learning_rate=0.1, l2_norm_clip=1.0, noise_multiplier=0.1, seed=0),
    "early_stopping": dict(patience=3),
    "elastic_net_proximal": dict(l1=0.01, l2=0.01, learning_rate=0.1),
    "ema": dict(decay=0.9),
    "exponential_decay": dict(init_value=0.1, transition_steps=5, decay_rate=0.5),
    "group_lasso_proximal": dict(strength=0.01, learning_rate=0.1),
    "inverse_time_decay": dict(init_value=0.1, decay_steps=5, decay_rate=0.5),
    "l1_proximal": dict(l1=0.01, learning_rate=0.1),
    "linear_onecycle_schedule": dict(transition_steps=10, peak_value=0.1),
    "linear_schedule": dict(init_value=0.1, end_value=0.01, transition_steps=10),
    "lookahead": dict(sync_period=2, slow_step_size=0.5),
    "multistep_decay": dict(init_value=0.1, milestones=[3, 6]),
    "piecewise_constant_schedule": dict(init_value=0.1, boundaries_and_scales={3: 0.5}),
    "piecewise_interpolate_schedule": dict(interpolate_type="linear", init_value=0.1,
                                           boundaries_and_scales={3: 0.5}),
    "polynomial_schedule": dict(init_value=0.1, end_value=0.01, power=2, transition_steps=10),
    "scale": dict(step_size=0.1),
    "scale_by_rprop": dict(learning_rate=0.1),
    "scale_learning_rate": dict(base_lr=0.1, base_batch_size=32, batch_size=64),
    "scale_by_schedule": dict(step_size_fn=lambda c: 0.1),
    "step_decay": dict(init_value=0.1, step_size=3),
    "trace": dict(decay=0.9),
    "warmup_constant_schedule": dict(init_value=0.0, peak_value=0.1, warmup_steps=3),
    "warmup_cosine_decay_schedule": dict(init_value=0.0, peak_value=0.1, warmup_steps=3, decay_steps=10),
    "warmup_exponential_decay_schedule": dict(init_value=0.0, peak_value=0.1, warmup_steps=3,
                                              transition_steps=5, decay_rate=0.5),
    "warmup_linear_decay_schedule": dict(init_value=0.0, peak_value=0.1, warmup_steps=3, decay_steps=10),
    "scale_by_polyak": dict(),
    "polyak_sgd": dict(),
    "reduce_on_plateau": dict(),
}

# Arguments that take another transformation: filled with the library's own sgd.
INNER = {"apply_every": None, "lookahead": "fast_optimizer", "MultiSteps": "opt"}

# (factory, argument) where inf (and so 1e300, inf in float32) has a meaning: a threshold or bound
# that inf disables, a tolerance, or a schedule value that may be anything.
INF_OK = {
    ("clip", "max_delta"), ("clip_by_global_norm", "max_norm"), ("clip_by_block_rms", "threshold"),
    ("adaptive_grad_clip", "clipping"), ("adafactor", "clipping_threshold"),
    ("differentially_private_aggregate", "l2_norm_clip"), ("dpsgd", "l2_norm_clip"),
    ("rprop", "max_step_size"), ("scale_by_rprop", "max_step_size"),
    ("polyak_sgd", "max_learning_rate"), ("scale_by_polyak", "max_learning_rate"),
    ("early_stopping", "patience"), ("reduce_on_plateau", "patience"),
}

BAD_TYPES = {
    "str": "0.1", "none": None, "bool": True, "list": [0.1], "array2d": np.ones((2, 2)),
    "complex": 0.1 + 0.1j,
}
BAD_VALUES = {"nan": math.nan, "inf": math.inf, "neg": -1.0, "huge": 1e300}
BAD_FLAGS = {"str": "false", "none": None, "int": 1, "list": [True]}


@dataclasses.dataclass(frozen=True)
class Case:
  """One generated input: `factory(**kwargs)` with `arg` set to a bad `label` value."""

  factory: str
  arg: str
  label: str
  kwargs: tuple  # ((name, value), ...) with the bad value in place
  allowed: tuple  # the categories jopt must land in

  @property
  def id(self) -> str:
    return f"{self.factory}-{self.arg}-{self.label}"


def _union_args(annotation: Any) -> tuple:
  if typing.get_origin(annotation) in (typing.Union, types.UnionType):
    return typing.get_args(annotation)
  return (annotation,)


def _admits_none(p: inspect.Parameter) -> bool:
  return p.default is None or type(None) in _union_args(p.annotation)


def _is_flag(p: inspect.Parameter) -> bool:
  return p.annotation is bool


def _is_int(p: inspect.Parameter) -> bool:
  return int in _union_args(p.annotation) and float not in _union_args(p.annotation) or (
      type(p.default) is int and p.annotation in (inspect.Parameter.empty, int))


def _is_numeric(p: inspect.Parameter) -> bool:
  if _is_flag(p) or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
    return False
  args = _union_args(p.annotation)
  if any(a in (float, int, jax.Array) for a in args) or any(
      "ArrayLike" in repr(a) or "ScalarOrSchedule" in repr(a) for a in args):
    return True
  return isinstance(p.default, (int, float)) and not isinstance(p.default, bool)


def namespace(lib: Any) -> Optional[str]:
  """"keras", "transformers", "torch" or "losses" for `jopt.<namespace>`, None for jopt and optax."""
  name = getattr(lib, "__name__", "")
  return name.split(".", 1)[1] if name.startswith("jopt.") else None


def base_kwargs(lib: Any, name: str) -> Optional[dict]:
  """Valid arguments for `lib.<name>`: the required ones, or None if unknown."""
  fn = getattr(lib, name)
  signature = inspect.signature(fn).parameters
  ns = namespace(lib)
  table = NAMESPACE_BASE[ns] if ns in NAMESPACE_BASE else BASE
  kwargs = {k: v for k, v in table.get(name, {}).items() if k in signature}
  for p in signature.values():
    if p.name in kwargs or p.default is not inspect.Parameter.empty:
      continue
    if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
      continue
    if p.name in ("learning_rate", "lr"):
      kwargs[p.name] = 0.1
    elif p.name in ("inner", "fast_optimizer", "opt", "tx", "optimizer", "direction"):
      kwargs[p.name] = lib.sgd(0.1)
    else:
      return None
  return kwargs


def factories(lib: Any) -> list[str]:
  """The public factories of `lib` (jopt or optax) that take hyperparameters."""
  out, seen = [], set()
  ns = namespace(lib)
  skip = NAMESPACE_NOT_FACTORIES.get(ns, set()) if ns else NOT_FACTORIES
  # Lowercase names first: `jopt.keras.Adam` is `jopt.keras.adam`, counted once.
  names = lib.__all__ if hasattr(lib, "__all__") else dir(lib)
  for name in sorted(names, key=lambda n: (n != n.lower(), n)):
    fn = getattr(lib, name, None)
    if not callable(fn) or isinstance(fn, type) or name[0] == "_" or name in skip:
      continue
    if ns and id(fn) in seen:  # a namespace's class-name alias (`jopt.keras.Adam`)
      continue
    seen.add(id(fn))
    try:
      params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
      continue
    if any(_is_numeric(p) or _is_flag(p) or (ns and _extra_kind(ns, name, p)) for p in params) and (
        base_kwargs(lib, name) is not None):
      out.append(name)
  return sorted(out)


def generate(lib: Any, names: Optional[list[str]] = None) -> list[Case]:
  """Every bad-type, bad-value and bad-flag case for the factories `names` of `lib`."""
  cases = []
  ns = namespace(lib)
  for name in names if names is not None else factories(lib):
    base = base_kwargs(lib, name)
    for p in inspect.signature(getattr(lib, name)).parameters.values():
      kind = _extra_kind(ns, name, p) if ns else None
      if kind:
        for label, value, allowed in _extra_values(ns, name, p, kind, base):
          cases.append(Case(name, p.name, label, tuple({**base, p.name: value}.items()), allowed))
      elif _is_flag(p):
        for label, value in BAD_FLAGS.items():
          if label == "none" and _admits_none(p):
            continue
          cases.append(Case(name, p.name, label, tuple({**base, p.name: value}.items()),
                            ("build_clear",)))
      elif _is_numeric(p):
        bad = dict(BAD_TYPES, **BAD_VALUES)
        if _is_int(p):
          bad["fraction"] = 2.5
        for label, value in bad.items():
          allowed = ("build_clear",)
          if label == "none" and _admits_none(p):
            allowed = ("valid", "build_clear") if p.default is not None else ("valid",)
          elif label in ("inf", "huge") and ((name, p.name) in INF_OK if ns is None else
                                             (ns, name, p.name) in NAMESPACE_INF_OK):
            allowed = ("valid", "build_clear")
          elif label == "neg" or (ns and (ns, name, p.name, label) in NAMESPACE_VALID):
            allowed = ("build_clear", "valid")
          allowed = NAMESPACE_ALLOWED.get((ns, name, p.name, label), allowed)
          cases.append(Case(name, p.name, label, tuple({**base, p.name: value}.items()), allowed))
  return cases


# --- the namespaces jopt.keras, jopt.transformers, jopt.torch -----------------------------------------
# The same generator with each framework's own required arguments, plus the argument kinds those
# namespaces add: pairs (`betas`, `eps`), lists of numbers (`milestones`, `boundaries`), string
# choices (`mode`, `anneal_strategy`), callables (`lr_lambda`, `scale_fn`), lists of schedules and
# `scheduler_specific_kwargs`.

NAMESPACES = ("keras", "transformers", "torch")

NAMESPACE_BASE = {
    "keras": {
        "cosine_decay": dict(initial_learning_rate=0.1, decay_steps=10),
        "cosine_decay_restarts": dict(initial_learning_rate=0.1, first_decay_steps=5),
        "exponential_decay": dict(initial_learning_rate=0.1, decay_steps=5, decay_rate=0.5),
        "inverse_time_decay": dict(initial_learning_rate=0.1, decay_steps=5, decay_rate=0.5),
        "piecewise_constant_decay": dict(boundaries=[3, 6], values=[0.1, 0.05, 0.01]),
        "polynomial_decay": dict(initial_learning_rate=0.1, decay_steps=10),
    },
    "transformers": {
        # A manual learning rate: with the default `relative_step=True` every `lr` is refused.
        "adafactor": dict(lr=0.01, relative_step=False),
        "get_constant_schedule_with_warmup": dict(num_warmup_steps=2),
        "get_cosine_schedule_with_warmup": dict(num_warmup_steps=2, num_training_steps=10),
        "get_cosine_with_hard_restarts_schedule_with_warmup": dict(num_warmup_steps=2,
                                                                   num_training_steps=10),
        "get_cosine_with_min_lr_schedule_with_warmup": dict(num_warmup_steps=2, num_training_steps=10,
                                                            min_lr_rate=0.1),
        "get_cosine_with_min_lr_schedule_with_warmup_lr_rate": dict(
            num_warmup_steps=2, num_training_steps=10, min_lr_rate=0.1),
        "get_inverse_sqrt_schedule": dict(num_warmup_steps=2),
        "get_linear_schedule_with_warmup": dict(num_warmup_steps=2, num_training_steps=10),
        "get_polynomial_decay_schedule_with_warmup": dict(num_warmup_steps=2, num_training_steps=10),
        "get_wsd_schedule": dict(num_warmup_steps=2, num_decay_steps=3, num_training_steps=10),
        "lr_scheduler": dict(name="linear", learning_rate=0.1, num_warmup_steps=2,
                             num_training_steps=10),
    },
    "torch": {
        "step_lr": dict(lr=0.1, step_size=3),
        "multi_step_lr": dict(lr=0.1, milestones=[3, 6]),
        "exponential_lr": dict(lr=0.1, gamma=0.9),
        "cosine_annealing_lr": dict(lr=0.1, T_max=10),
        "cosine_annealing_warm_restarts": dict(lr=0.1, T_0=5),
        "cyclic_lr": dict(base_lr=0.01, max_lr=0.1, step_size_up=5),
        "lambda_lr": dict(lr=0.1, lr_lambda=lambda epoch: 0.95 ** epoch),
        "one_cycle_lr": dict(max_lr=0.1, total_steps=20),
        "per_epoch": dict(schedule=lambda epoch: 0.1 * 0.5 ** epoch, steps_per_epoch=4),
        "sequential_lr": dict(schedules=[lambda c: 0.01 + 0.0 * c, lambda c: 0.1 * 0.9 ** c],
                              milestones=[3]),
        "reduce_lr_on_plateau": dict(lr=0.1),
        "trace_with_dampening": dict(momentum=0.9),
    },
}

# Not factories with hyperparameters: `finalize_variable_values(params, state)` takes trees.
NAMESPACE_NOT_FACTORIES = {"keras": {"finalize_variable_values"}}

# (namespace, factory, argument) where inf has a meaning: ASGD's `t0` = inf never starts averaging;
# Transformers' Adafactor `clip_threshold` = inf never clips.
NAMESPACE_INF_OK = {
    ("torch", "asgd", "t0"), ("torch", "scale_by_asgd", "t0"),
    # ReduceLROnPlateau's `patience` = inf never reduces (as `jopt.reduce_on_plateau`); OneCycleLR's
    # `div_factor` / `final_div_factor` = inf start / end the cycle at 0.
    ("torch", "reduce_lr_on_plateau", "patience"), ("torch", "one_cycle_lr", "div_factor"),
    ("torch", "one_cycle_lr", "final_div_factor"),
    ("transformers", "adafactor", "clip_threshold"),
}

# (namespace, factory, argument, label) also allowed to be valid (a documented meaning).
NAMESPACE_VALID = {
    ("transformers", "adafactor", "decay_rate", "neg"),  # c <= 0: the default is -0.8
    # Documented as "a Python number" (Keras) / computed in float (Transformers): a fraction is a
    # fraction of a period.
    ("keras", "cosine_decay_restarts", "first_decay_steps", "fraction"),
    ("transformers", "get_cosine_with_hard_restarts_schedule_with_warmup", "num_cycles", "fraction"),
}

# (namespace, factory, argument, label) -> the categories allowed, where the default rule is wrong.
NAMESPACE_ALLOWED = {
    # `relative_step=False` (the base case) needs a learning rate: None is refused there.
    ("transformers", "adafactor", "lr", "none"): ("build_clear",),
    # Defaults of None that need another argument instead, refused as the framework refuses them.
    ("transformers", "lr_scheduler", "num_warmup_steps", "none"): ("build_clear",),
    ("transformers", "lr_scheduler", "num_training_steps", "none"): ("build_clear",),
    ("transformers", "get_cosine_with_min_lr_schedule_with_warmup", "min_lr_rate", "none"):
        ("build_clear",),
    ("transformers", "get_cosine_with_min_lr_schedule_with_warmup_lr_rate", "min_lr_rate", "none"):
        ("build_clear",),
    ("transformers", "get_wsd_schedule", "num_training_steps", "none"): ("build_clear",),
    ("torch", "one_cycle_lr", "total_steps", "none"): ("build_clear",),
}

_NUMBER_TYPES = (float, int, jax.Array)


def _is_number_type(a: Any) -> bool:
  return a in _NUMBER_TYPES or "ArrayLike" in repr(a) or any(
      b in (float, int) for b in _union_args(a))


def _extra_kind(ns: Optional[str], name: str, p: inspect.Parameter) -> Optional[str]:
  """The kind of a namespace argument the plain generator does not cover, or None."""
  if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
    return None
  args = [a for a in _union_args(p.annotation) if a is not type(None)]
  if len(args) != 1:
    return None
  a = args[0]
  origin = typing.get_origin(a)
  if a is str:
    return None if (ns == "keras" and p.name == "name") else "choice"
  if a is dict or origin is dict:
    return "dict"
  if origin is collections.abc.Callable:
    return "callable"
  if origin is collections.abc.Sequence:
    (item,) = typing.get_args(a) or (Any,)
    if item is str:
      return "strings"
    if typing.get_origin(item) is collections.abc.Callable:
      return "schedules"
    if _is_number_type(item):
      if isinstance(p.default, tuple) and len(p.default) == 2:
        return "pair"
      return "numbers"
  return None


def _nan_schedule(count):
  return jnp.nan * count


def _vector_schedule(count):
  return jnp.ones(3) * count


def _extra_values(ns: str, name: str, p: inspect.Parameter, kind: str, base: dict) -> list:
  """(label, bad value, allowed categories) for an argument of an extra kind."""
  clear, either = ("build_clear",), ("build_clear", "valid")
  none_ok = _admits_none(p)
  out = []
  if not none_ok:
    out.append(("none", None, clear))
  if kind == "choice":
    out += [("bogus", "bogus", clear), ("int", 1, clear)]
  elif kind == "dict":
    out += [("str", "num_cycles", clear), ("list", [1], clear), ("unknown_key", {"bogus": 1}, clear)]
  elif kind == "callable":
    out += [("str", "0.1", clear), ("number", 0.5, clear), ("vector", _vector_schedule, clear),
            ("nan", _nan_schedule, clear)]
  elif kind == "schedules":
    good = list(base[p.name])
    out += [("str", "0.1", clear), ("schedule", good[0], clear), ("item_number", [0.1] + good[1:], clear),
            ("item_nan", [_nan_schedule] + good[1:], clear)]
  elif kind == "strings":
    out += [("int", 1, clear), ("item_int", [1], clear), ("bad_regex", ["("], clear)]
  elif kind in ("pair", "numbers"):
    good = list(base[p.name]) if p.name in base else list(p.default)
    item_int = all(isinstance(x, int) for x in good)
    out += [("str", "0.9", clear), ("scalar", good[0], clear)]
    if kind == "pair":
      out += [("short", tuple(good[:1]), clear), ("long", tuple(good) + (good[-1],), clear)]
    else:
      out.append(("empty", [], either))
    items = dict(BAD_TYPES, **BAD_VALUES)
    del items["list"]
    if item_int:
      items["fraction"] = 2.5
    for label, value in items.items():
      allowed = either if label == "neg" else clear
      bad = [value] + good[1:] if label != "inf" else good[:-1] + [value]
      out.append((f"item_{label}", tuple(bad) if kind == "pair" else bad, allowed))
  return out


# --- running a case -----------------------------------------------------------------------------

def small_params():
  return {"w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), "b": jnp.array([0.5, -0.25, 1.0])}


def _loss(params):
  return sum(jnp.sum(jnp.sin(x) ** 2) for x in jax.tree.leaves(params))


def _internal(message: str) -> bool:
  """Whether an error message is numpy's or jax's own, not a message written for the user."""
  return bool(re.search(r"ufunc|unsupported operand|incompatible shapes|'NoneType'|has no attribute|"
                        r"not subscriptable|object is not|could not convert|Traceback|"
                        r"ConcretizationTypeError|TracerBoolConversion", message))


def is_clear(error: BaseException, factory: str, arg: Optional[str]) -> bool:
  """A TypeError/ValueError whose message names the function (and `arg` when given)."""
  if not isinstance(error, (TypeError, ValueError)):
    return False
  message = str(error)
  if _internal(message):
    return False
  names_fn = re.search(rf"(^|[\s.`'(]){re.escape(factory)}\b", message) is not None
  names_arg = arg is None or re.search(rf"\b{re.escape(arg)}\b", message) is not None
  return names_fn and names_arg


def _finite(tree: Any) -> bool:
  return all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(tree)
             if jnp.issubdtype(jnp.result_type(x), jnp.inexact))


def run_built(lib: Any, obj: Any, steps: int = 2) -> bool:
  """Runs what a factory returned: a transformation for `steps` updates, a schedule at a few
  counts; True if every output is finite."""
  if hasattr(obj, "init") and hasattr(obj, "update"):
    params = small_params()
    state = obj.init(params)
    extra_ok = "ExtraArgs" in type(obj).__name__
    for _ in range(steps):
      value, grads = jax.value_and_grad(_loss)(params)
      kw = dict(value=value, grad=grads, value_fn=_loss) if extra_ok else {}
      updates, state = obj.update(grads, state, params, **kw)
      params = jax.tree.map(lambda p, u: p + u, params, updates)
    return _finite(params)
  if callable(obj):
    return all(_finite(obj(jnp.asarray(c))) for c in (0, 1, 7, 50))
  return _finite(obj)


def categorize(lib: Any, case: Case) -> tuple[str, str]:
  """(category, detail) of `case` run through `lib`."""
  fn = getattr(lib, case.factory)
  kwargs = dict(case.kwargs)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:
      built = fn(**kwargs)
    except Exception as e:  # pylint: disable=broad-except
      return ("build_clear" if is_clear(e, case.factory, case.arg) else "unclear"), repr(e)[:300]
    try:
      finite = run_built(lib, built)
    except Exception as e:  # pylint: disable=broad-except
      if isinstance(e, (TypeError, ValueError)) and not _internal(str(e)) and (
          case.arg in str(e) or case.factory in str(e)):
        return "update_clear", repr(e)[:300]
      return "unclear", repr(e)[:300]
  if not finite:
    return "silent", "non-finite result"
  return ("valid" if "valid" in case.allowed else "silent"), "accepted"


# --- tree and dtype mismatches, and non-finite gradients --------------------------------------------

TREE_CASES = {
    "missing_leaf": lambda g: {"w": g["w"]},
    "extra_leaf": lambda g: {**g, "c": jnp.ones(2)},
    "wrong_shape": lambda g: {**g, "b": jnp.ones((2, 3))},
    "broadcast_shape": lambda g: {**g, "b": jnp.ones((4, 3))},
    "int_grad": lambda g: {**g, "b": jnp.ones(3, jnp.int32)},
}


def categorize_tree(lib: Any, name: str, kwargs: dict, mutate: Callable[[Any], Any]) -> tuple[str, str]:
  """A gradient tree that does not match the params: must be a clear error at update."""
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    tx = getattr(lib, name)(**kwargs)
    params = small_params()
    state = tx.init(params)
    value, grads = jax.value_and_grad(_loss)(params)
    grads = mutate(grads)
    kw = dict(value=value, grad=grads, value_fn=_loss) if "ExtraArgs" in type(tx).__name__ else {}
    try:
      updates, _ = tx.update(grads, state, params, **kw)
      new = lib.apply_updates(params, updates)
    except Exception as e:  # pylint: disable=broad-except
      clear = isinstance(e, (TypeError, ValueError)) and not _internal(str(e)) and re.search(
          r"\[?'[wbc]'\]?|tree|structure", str(e)) is not None
      return ("update_clear" if clear else "unclear"), repr(e)[:300]
  same = jax.tree.structure(new) == jax.tree.structure(params) and all(
      np.shape(a) == np.shape(b) and jnp.result_type(a) == jnp.result_type(b)
      for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(params)))
  return ("valid" if same and _finite(new) else "silent"), "accepted"


def for_library(case: Case, lib: Any) -> Case:
  """`case` with its inner transformations (built by jopt) rebuilt by `lib`."""
  kwargs = tuple((k, lib.sgd(0.1) if hasattr(v, "init") and hasattr(v, "update") else v)
                 for k, v in case.kwargs)
  return dataclasses.replace(case, kwargs=kwargs)


def summarize(results: list[tuple[str, str]]) -> dict[str, int]:
  counts = {c: 0 for c in CATEGORIES}
  for category, _ in results:
    counts[category] += 1
  return counts


def namespace_rows(optax_too: bool) -> tuple[list, list]:
  """(rows, failures) of jopt.keras, jopt.transformers, jopt.torch and jopt.losses (with optax.losses
  on the same loss inputs when `optax_too`)."""
  import importlib  # pylint: disable=import-outside-toplevel
  import jopt.losses  # pylint: disable=import-outside-toplevel
  import loss_input_table  # pylint: disable=import-outside-toplevel
  rows, failures = [], []
  for ns in NAMESPACES:
    lib = importlib.import_module(f"jopt.{ns}")
    names = factories(lib)
    cases = generate(lib, names)
    results = [categorize(lib, c) for c in cases]
    rows.append((f"jopt.{ns} ({len(names)} factories)", summarize(results)))
    failures += [(f"jopt.{ns}", c.id, r) for c, r in zip(cases, results) if r[0] not in c.allowed]
  losses = types.SimpleNamespace(losses=jopt.losses)
  cases = loss_input_table.generate(losses)
  results = [loss_input_table.categorize(losses, c) for c in cases]
  rows.append((f"jopt.losses ({len(loss_input_table.BASE)} functions)", summarize(results)))
  failures += [("jopt.losses", c.id, r) for c, r in zip(cases, results) if r[0] not in c.allowed]
  if optax_too:
    import optax  # pylint: disable=import-outside-toplevel
    theirs = [loss_input_table.categorize(optax, c) for c in cases]
    rows.append(("optax.losses 0.2.8, the same calls", summarize(theirs)))
  return rows, failures


def main(argv: list[str]) -> None:
  import jopt  # pylint: disable=import-outside-toplevel
  import optax  # pylint: disable=import-outside-toplevel
  out = argv[argv.index("--out") + 1] if "--out" in argv else None
  rows, bad, tree, names, cases, shared = [], [], [], [], [], []
  if "--namespaces-only" not in argv:
    names = factories(jopt)
    if "--only" in argv:
      names = [n for n in names if n in argv[argv.index("--only") + 1].split(",")]
    cases = generate(jopt, names)
    ours = [categorize(jopt, c) for c in cases]
    rows = [("jopt", summarize(ours))]
    shared = [c for c in cases if hasattr(optax, c.factory)
              and c.arg in inspect.signature(getattr(optax, c.factory)).parameters]
    if "--optax" in argv:
      shared_ids = {c.id for c in shared}
      ours_shared = [r for c, r in zip(cases, ours) if c.id in shared_ids]
      theirs = [categorize(optax, for_library(c, optax)) for c in shared]
      rows = [("jopt (all)", summarize(ours)), ("jopt (shared with optax)", summarize(ours_shared)),
              ("optax", summarize(theirs))]
    tree = [(lib_name, name, label, categorize_tree(lib, name, base_kwargs(lib, name), mutate))
            for lib_name, lib in (("jopt", jopt), ("optax", optax))
            for name in TREE_FACTORIES for label, mutate in TREE_CASES.items()]
    for lib_name in ("jopt", "optax"):
      rows.append((f"{lib_name} trees", summarize([r for l, _, _, r in tree if l == lib_name])))
    bad = [(c.id, r) for c, r in zip(cases, ours) if r[0] not in c.allowed]
  if "--no-namespaces" not in argv:
    more, failures = namespace_rows("--optax" in argv)
    rows += more
  else:
    failures = []
  lines = ["| inputs | " + " | ".join(CATEGORIES) + " | total |", "|---" * (len(CATEGORIES) + 2) + "|"]
  for label, counts in rows:
    lines.append(f"| {label} | " + " | ".join(str(counts[c]) for c in CATEGORIES)
                 + f" | {sum(counts.values())} |")
  text = "\n".join(lines)
  print(f"{len(names)} jopt factories, {len(cases)} cases ({len(shared)} shared with optax)")
  print(text)
  for case_id, (category, detail) in bad:
    print("JOPT", category, case_id, detail)
  for ns, case_id, (category, detail) in failures:
    print("JOPT", ns, category, case_id, detail)
  for lib_name, name, label, (category, detail) in tree:
    if lib_name == "jopt" and category not in ("update_clear",):
      print("JOPT tree", category, name, label, detail)
  if out:
    with open(out, "w") as f:
      f.write(text + "\n")


# The optimizers whose trees are checked (every optimizer optax and jopt share, plus two wrappers).
TREE_FACTORIES = [
    "sgd", "adam", "adamw", "adagrad", "rmsprop", "adadelta", "adamax", "amsgrad", "radam",
    "adabelief", "yogi", "lion", "lamb", "lars", "novograd", "adafactor", "nadam", "sm3", "fromage",
    "rprop", "adan", "sign_sgd", "noisy_sgd", "optimistic_gradient_descent", "polyak_sgd",
]

if __name__ == "__main__":
  main(sys.argv[1:])
