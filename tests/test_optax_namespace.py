"""optax's public namespace, walked: every name at the same path in jopt, with optax's signature.

One test per optax namespace (`optax`, `optax.losses`, ..., and `optax.contrib` against
`jopt.contrib`); each failure lists, compactly, the names jopt lacks and the signatures that
differ. `python tests/test_optax_namespace.py` prints the whole summary.

Signatures: optax's parameters, in optax's order, with equal names, kinds and defaults; jopt may add
keyword-only parameters with defaults. Defaults are compared by value (dtypes as dtypes, enums by
name), transform objects (lbfgs's `linesearch`) by the state their `init` builds on a small tree,
callables and other objects by what they return on a few probe inputs. Classes: NamedTuple fields
and field defaults, enum members, constructor and public-method signatures. Names jopt leaves out
on purpose are listed, with the reason, in `tests/optax_exclusions.py`.
"""

import enum
import functools
import importlib
import inspect
import json
import subprocess
import sys
import types
import typing
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optax_exclusions import EXCLUDED_MODULES
from optax_exclusions import EXCLUDED_NAMES
from optax_exclusions import is_excluded

# optax's public submodules other than contrib (walked against jopt's same-named ones).
SUBMODULES = (
    "assignment", "experimental", "losses", "microbatching", "perturbations", "projections",
    "schedules", "second_order", "transforms", "tree", "tree_utils",
)
NAMESPACES = ("",) + SUBMODULES  # "" is the top level.


# --- what optax exposes ---


def _module(root, path):
  return root if not path else importlib.import_module(f"{root.__name__}.{path}")


def public_names(path):
  """Public non-module names of `optax.<path>`: dir, `__all__`, and names optax serves with a warning."""
  mod = _module(optax, path)
  names = {n for n in dir(mod) if not n.startswith("_")}
  names |= set(getattr(mod, "__all__", ()))
  names |= {n for n, (_, fn) in getattr(mod, "_deprecations", {}).items() if fn is not None}
  out = []
  for n in sorted(names):
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")
      obj = getattr(mod, n)
    if not isinstance(obj, types.ModuleType):
      out.append(n)
  return out


def optax_get(path, name):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    return getattr(_module(optax, path), name)


def optax_warns_deprecated(path, name):
  """Whether optax warns with DeprecationWarning when `optax.<path>.<name>` is looked up or called."""
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    obj = getattr(_module(optax, path), name)
  if any(issubclass(w.category, DeprecationWarning) for w in caught):
    return True
  code = getattr(inspect.unwrap(obj), "__code__", None)
  wrapper = getattr(getattr(obj, "__code__", None), "co_qualname", "")
  if "warn_deprecated_function" in wrapper:
    return True
  try:
    return code is not None and "DeprecationWarning" in inspect.getsource(obj)
  except (OSError, TypeError):
    return False


# --- comparing two objects ---

SMALL_PARAMS = {"b": jnp.zeros((3,), jnp.float32), "w": jnp.ones((2, 3), jnp.float32)}


def _probe_calls():
  """Argument tuples a default callable may accept, tried in order; each entry is a list of calls."""
  return [
      [(jnp.asarray(x),) for x in (0, 1, 5, 100, 10_000)],
      [(jnp.linspace(-2.0, 2.0, 6).reshape(2, 3),)],
      [(jax.random.PRNGKey(0), (3,))],
      [(SMALL_PARAMS,)],
  ]


def _outputs_close(a, b):
  la, ta = jax.tree.flatten(a)
  lb, tb = jax.tree.flatten(b)
  if ta != tb:
    return False
  for x, y in zip(la, lb):
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape or not np.allclose(x, y, rtol=1e-6, atol=0, equal_nan=True):
      return False
  return True


def _same_behaviour(ours, theirs):
  """None if the two callables agree on the first probe optax's accepts, else why not."""
  for calls in _probe_calls():
    try:
      expected = [theirs(*args) for args in calls]
    except Exception:  # pylint: disable=broad-except
      continue
    try:
      got = [ours(*args) for args in calls]
    except Exception as e:  # pylint: disable=broad-except
      return f"raises {type(e).__name__} where optax's returns"
    if not all(_outputs_close(g, e) for g, e in zip(got, expected)):
      return f"returns other values on {[a for a in calls[0] if not isinstance(a, dict)]!r}"
    return None
  return "no probe input to compare them on"


def _state_shape(state):
  """The structure of an optimizer state: class names, field names, leaf shapes and dtypes."""
  if isinstance(state, tuple) and hasattr(state, "_fields"):
    return (type(state).__name__, tuple((f, _state_shape(getattr(state, f))) for f in state._fields))
  if isinstance(state, (tuple, list)):
    return (type(state).__name__, tuple(_state_shape(s) for s in state))
  if isinstance(state, dict):
    return ("dict", tuple((k, _state_shape(v)) for k, v in sorted(state.items())))
  if state is None:
    return None
  arr = jnp.asarray(state)
  return (arr.shape, str(arr.dtype))


def _is_dtype_like(x):
  if isinstance(x, np.dtype) or (isinstance(x, type) and issubclass(x, np.generic)):
    return True
  return type(x).__name__ == "_ScalarMeta"  # jnp.float32 and friends.


def default_diff(ours, theirs):
  """None if two parameter defaults are the same, else a short description of the difference."""
  if ours is theirs:
    return None
  if isinstance(theirs, enum.Enum):
    if isinstance(ours, enum.Enum) and type(ours).__name__ == type(theirs).__name__ and ours.name == theirs.name:
      return None
    return f"{ours!r} != optax {theirs!r}"
  if _is_dtype_like(theirs):
    if _is_dtype_like(ours) and jnp.dtype(ours) == jnp.dtype(theirs):
      return None
    return f"{ours!r} != optax {theirs!r}"
  if isinstance(theirs, optax.GradientTransformation):
    if type(ours) is not type(theirs):
      return f"{type(ours).__name__} != optax {type(theirs).__name__}"
    a, b = _state_shape(ours.init(SMALL_PARAMS)), _state_shape(theirs.init(SMALL_PARAMS))
    return None if a == b else f"its init builds {a} != optax {b}"
  if isinstance(theirs, (tuple, list)):
    if type(ours) is not type(theirs) or len(ours) != len(theirs):
      return f"{ours!r} != optax {theirs!r}"
    diffs = [default_diff(a, b) for a, b in zip(ours, theirs)]
    return next((d for d in diffs if d), None)
  if isinstance(theirs, (bool, int, float, complex, str, bytes, type(None), type)):
    if type(ours) is type(theirs) and ours == theirs:
      return None
    return f"{ours!r} != optax {theirs!r}"
  if isinstance(theirs, (np.ndarray, jax.Array)):
    ok = isinstance(ours, (np.ndarray, jax.Array)) and np.array_equal(np.asarray(ours), np.asarray(theirs))
    return None if ok else f"{ours!r} != optax {theirs!r}"
  if callable(theirs) and not inspect.isclass(theirs):
    if not callable(ours):
      return f"{ours!r} is not callable (optax's is)"
    why = _same_behaviour(ours, theirs)
    return None if why is None else f"default function {why}"
  # An object (a noise distribution): the same class name and the same public methods.
  if type(ours).__name__ != type(theirs).__name__:
    return f"{type(ours).__name__} object != optax {type(theirs).__name__} object"
  for meth in _public_methods(type(theirs)):
    if not hasattr(ours, meth):
      return f"object lacks method {meth}"
    why = _same_behaviour(getattr(ours, meth), getattr(theirs, meth))
    if why is not None:
      return f"object's {meth} {why}"
  return None


def _signature(obj):
  try:
    return inspect.signature(obj)
  except (TypeError, ValueError):
    return None


def signature_diffs(ours, theirs):
  """Differences between two callables' signatures (empty if jopt's is optax's plus keyword-only extras)."""
  sig_o, sig_t = _signature(ours), _signature(theirs)
  if sig_t is None:
    return []
  if sig_o is None:
    return ["jopt's has no signature"]
  po, pt = list(sig_o.parameters.values()), list(sig_t.parameters.values())
  names_t = [p.name for p in pt]
  shared_o = [p.name for p in po if p.name in names_t]
  diffs = []
  missing = [n for n in names_t if n not in shared_o]
  if missing:
    diffs.append(f"lacks parameters {missing}")
  pos_o = [(p.name, p.kind.name) for p in po if p.kind != p.KEYWORD_ONLY]
  pos_t = [(p.name, p.kind.name) for p in pt if p.kind != p.KEYWORD_ONLY]
  if pos_o != pos_t:
    diffs.append(f"positional {pos_o} != optax {pos_t}")
  elif shared_o != [n for n in names_t if n in shared_o]:
    diffs.append(f"order {shared_o} != optax {names_t}")
  by_name = {p.name: p for p in po}
  for p in pt:
    q = by_name.get(p.name)
    if q is None:
      continue
    if q.kind != p.kind:
      diffs.append(f"{p.name}: kind {q.kind.name} != optax {p.kind.name}")
    if (q.default is q.empty) != (p.default is p.empty):
      diffs.append(f"{p.name}: default {'none' if q.default is q.empty else repr(q.default)} != optax "
                   f"{'none' if p.default is p.empty else repr(p.default)}")
    elif p.default is not p.empty:
      why = default_diff(q.default, p.default)
      if why:
        diffs.append(f"{p.name}: {why}")
  for q in po:
    if q.name not in names_t and not (q.kind == q.KEYWORD_ONLY and q.default is not q.empty):
      if q.kind not in (q.VAR_KEYWORD,) or not any(p.kind == p.VAR_KEYWORD for p in pt):
        diffs.append(f"extra parameter {q.name} must be keyword-only with a default")
  return diffs


def _public_methods(cls):
  return sorted(n for n, v in vars(cls).items() if not n.startswith("_") and callable(v))


def _is_namedtuple_class(x):
  return inspect.isclass(x) and issubclass(x, tuple) and hasattr(x, "_fields")


def _is_typing_alias(x):
  return typing.get_origin(x) is not None


def object_diffs(ours, theirs):
  """Every way jopt's object differs from optax's under the same name (empty: the same)."""
  if ours is theirs:
    return []
  if _is_typing_alias(theirs):
    if typing.get_origin(ours) != typing.get_origin(theirs):
      return [f"type alias {ours!r} != optax {theirs!r}"]
    return []
  if inspect.isclass(theirs):
    if not inspect.isclass(ours):
      return [f"not a class (optax's is): {type(ours).__name__}"]
    if _is_namedtuple_class(theirs):
      if not _is_namedtuple_class(ours):
        return ["not a NamedTuple (optax's is)"]
      diffs = []
      if ours._fields != theirs._fields:
        diffs.append(f"fields {ours._fields} != optax {theirs._fields}")
      for k, v in theirs._field_defaults.items():
        if k not in ours._field_defaults:
          diffs.append(f"field {k}: no default (optax {v!r})")
        elif default_diff(ours._field_defaults[k], v):
          diffs.append(f"field {k}: {default_diff(ours._field_defaults[k], v)}")
      return diffs
    if issubclass(theirs, enum.Enum):
      if not issubclass(ours, enum.Enum):
        return ["not an Enum (optax's is)"]
      mo, mt = [m.name for m in ours], [m.name for m in theirs]
      return [] if mo == mt else [f"members {mo} != optax {mt}"]
    if getattr(theirs, "_is_protocol", False):
      return [f"__call__: {d}" for d in signature_diffs(ours.__call__, theirs.__call__)]
    diffs = [f"constructor: {d}" for d in signature_diffs(ours, theirs)]
    for meth in _public_methods(theirs):
      if not hasattr(ours, meth):
        diffs.append(f"lacks method {meth}")
      else:
        diffs += [f"{meth}: {d}" for d in signature_diffs(getattr(ours, meth), getattr(theirs, meth))]
    return diffs
  if callable(theirs):
    if not callable(ours) or inspect.isclass(ours) != inspect.isclass(theirs):
      return [f"{type(ours).__name__} != optax {type(theirs).__name__}"]
    return signature_diffs(ours, theirs)
  why = default_diff(ours, theirs)
  return [why] if why else []


# --- the walk ---


def compare_namespace(path, jopt_root="jopt"):
  """(missing names, {name: [differences]}, excluded names) of `jopt.<path>` against `optax.<path>`."""
  excluded = [n for n in public_names(path) if is_excluded(path, n)]
  names = [n for n in public_names(path) if n not in excluded]
  try:
    mod = importlib.import_module(jopt_root + (f".{path}" if path else ""))
  except ImportError:
    return names, {}, excluded
  missing, diffs = [], {}
  for name in names:
    if not hasattr(mod, name):
      missing.append(name)
      continue
    d = object_diffs(getattr(mod, name), optax_get(path, name))
    if d:
      diffs[name] = d
  return missing, diffs, excluded


def describe(path, missing, diffs):
  where = f"optax.{path}" if path else "optax"
  lines = []
  if missing:
    lines.append(f"{where}: jopt lacks {len(missing)}: {', '.join(missing)}")
  if diffs:
    lines.append(f"{where}: {len(diffs)} signatures differ:")
    lines += [f"  {n}: {'; '.join(d)}" for n, d in diffs.items()]
  return "\n".join(lines)


@pytest.mark.parametrize("path", [p for p in NAMESPACES if p not in EXCLUDED_MODULES] + ["contrib"],
                         ids=lambda p: f"optax.{p}" if p else "optax")
def test_namespace_matches_optax(path):
  """Every public name of `optax.<path>` is in `jopt.<path>`, with optax's signature."""
  missing, diffs, _ = compare_namespace(path)
  if missing or diffs:
    pytest.fail("\n" + describe(path, missing, diffs), pytrace=False)


def test_submodules_are_attributes_after_import_jopt():
  """`import jopt as optax; optax.losses.l2_loss(...)` needs jopt's `__init__` to import each submodule."""
  code = (
      "import json, types, jopt\n"
      f"print(json.dumps([m for m in {list(SUBMODULES) + ['contrib']!r} "
      "if not isinstance(getattr(jopt, m, None), types.ModuleType)]))"
  )
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={"JAX_PLATFORMS": "cpu", "PATH": ""})
  lacking = [m for m in json.loads(out.stdout.strip().splitlines()[-1]) if m not in EXCLUDED_MODULES]
  assert not lacking, f"`import jopt` does not make these submodules attributes of jopt: {lacking}"


@pytest.mark.parametrize("path,name", [(p, n) for p, names in EXCLUDED_NAMES.items() for n in names])
def test_exclusions_are_current(path, name):
  """Each excluded name exists in optax, still warns if its reason says deprecated, and jopt lacks it."""
  reason = EXCLUDED_NAMES[path][name]
  assert name in public_names(path), f"optax.{path}.{name} is not an optax name: delete its exclusion"
  if "deprecated" in reason:
    assert optax_warns_deprecated(path, name), f"optax.{path}.{name} does not warn: {reason!r} is wrong"
  mod = importlib.import_module("jopt" + (f".{path}" if path else ""))
  assert not hasattr(mod, name), f"jopt has {path}.{name}: delete its exclusion"


def test_excluded_modules_exist_in_optax():
  for path in EXCLUDED_MODULES:
    assert isinstance(getattr(optax, path, None), types.ModuleType), f"optax has no submodule {path}"


# --- the comparison itself must be able to fail ---


def test_comparison_catches_differences():
  def ref(params, learning_rate=1e-3, *, b1=0.9):
    return params, learning_rate, b1

  def renamed(params, lr=1e-3, *, b1=0.9):
    return params, lr, b1

  def other_default(params, learning_rate=1e-2, *, b1=0.9):
    return params, learning_rate, b1

  def int_default(params, learning_rate=1e-3, *, b1=1):
    return params, learning_rate, b1

  def extra_keyword(params, learning_rate=1e-3, *, b1=0.9, nu_dtype=None):
    return params, learning_rate, b1, nu_dtype

  def extra_positional(params, learning_rate=1e-3, eps=0.0, *, b1=0.9):
    return params, learning_rate, eps, b1

  assert signature_diffs(ref, ref) == []
  assert signature_diffs(extra_keyword, ref) == []
  assert signature_diffs(renamed, ref)
  assert signature_diffs(other_default, ref)
  assert signature_diffs(int_default, ref)
  assert signature_diffs(extra_positional, ref)
  # Defaults: dtypes, enums by name, functions by behaviour, transforms by their state.
  assert default_diff(np.float32, jnp.float32) is None and default_diff(jnp.bfloat16, jnp.float32)
  enum_a = enum.Enum("AccumulationType", "MEAN SUM")
  assert default_diff(enum_a.SUM, optax.microbatching.AccumulationType.SUM) is None
  assert default_diff(enum_a.MEAN, optax.microbatching.AccumulationType.SUM)
  assert default_diff(lambda x: x**0.25, lambda x: x**0.25) is None
  assert default_diff(lambda x: x**0.5, lambda x: x**0.25)
  assert default_diff(optax.scale_by_adam(b1=0.5), optax.scale_by_adam()) is None
  assert default_diff(optax.scale_by_adam(), optax.scale_by_rms())
  # Classes: NamedTuple fields.
  class ScaleByAdamState(typing.NamedTuple):
    count: jax.Array
    mu: typing.Any

  assert object_diffs(ScaleByAdamState, optax.ScaleByAdamState)
  # A namespace that lacks names: the walk reports them (optax's top level against jopt.projections).
  missing, _, _ = compare_namespace("", jopt_root="jopt.projections")
  assert {"sgd", "adam", "chain"} <= set(missing)


def test_walk_sees_optax_names():
  """The walk covers names optax serves outside `__all__` and deprecated names it serves with a warning."""
  top = public_names("")
  for name in ["adam", "scale_by_learning_rate", "warmup_constant_schedule", "dpsgd", "MaskOrFn"]:
    assert name in top
  assert "tree_l2_norm" in public_names("tree_utils")
  assert optax_warns_deprecated("tree_utils", "tree_l2_norm")
  assert optax_warns_deprecated("", "optimistic_adam") and not optax_warns_deprecated("", "adam")


def summary():
  """Every namespace's missing names and signature differences, as text."""
  lines = []
  total_missing = total_diff = 0
  for path in [p for p in NAMESPACES if p not in EXCLUDED_MODULES] + ["contrib"]:
    missing, diffs, excluded = compare_namespace(path)
    total_missing += len(missing)
    total_diff += len(diffs)
    n = len(public_names(path))
    where = f"optax.{path}" if path else "optax"
    lines.append(f"{where}: {n} names, {len(missing)} missing, {len(diffs)} differ, {len(excluded)} excluded")
    text = describe(path, missing, diffs)
    if text:
      lines.append("  " + text.replace("\n", "\n  "))
  for path, why in EXCLUDED_MODULES.items():
    lines.append(f"optax.{path}: excluded ({why})")
  lines.append(f"total: {total_missing} missing, {total_diff} differ")
  return "\n".join(lines)


if __name__ == "__main__":
  print(summary())
