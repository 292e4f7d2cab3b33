"""`joptax`: optax's module tree with every name jopt exports resolved to jopt's object, the rest to optax's.

`import joptax` installs an import hook for the `joptax.*` module names: `joptax.<path>` mirrors
`optax.<path>` (public namespaces and private modules alike). An attribute lookup
`joptax.<path>.<name>` finds optax's object, then the public optax names it is published under (its
own name first, then aliases, e.g. `optax._src.alias.adam` is `optax.adam`), and returns jopt's object
at the first of those paths jopt has (`jopt.adam`); otherwise optax's own object (private helpers,
optax's test utilities, names jopt lacks). A module `joptax.<path>_test` whose rewritten copy exists
under `$JOPTAX_ROOT` is that copy (`from optax._src import alias_test` in another test file).

`RESOLVED_TO_JOPT` collects the `path.name`s that were answered with a jopt object different from
optax's, so a test run can tell which tests exercised jopt.
"""

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types
import warnings

PUBLIC_PATHS = (
    "", "assignment", "contrib", "experimental", "losses", "microbatching", "perturbations",
    "projections", "schedules", "second_order", "transforms", "tree", "tree_utils",
)
_SCALARS = (bool, int, float, complex, str, bytes, tuple, type(None))

RESOLVED_TO_JOPT = set()
_index = None


def _quiet_getattr(mod, name):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    return getattr(mod, name)


def _public_names(mod):
  names = {n for n in dir(mod) if not n.startswith("_")} | set(getattr(mod, "__all__", ()))
  names |= {n for n, (_, fn) in getattr(mod, "_deprecations", {}).items() if fn is not None}
  return sorted(names)


def public_index():
  """`{id(obj): [(path, name), ...]}`: where optax publishes each of its objects."""
  global _index
  if _index is None:
    _index = {}
    for path in PUBLIC_PATHS:
      mod = importlib.import_module("optax" + (f".{path}" if path else ""))
      for name in _public_names(mod):
        try:
          obj = _quiet_getattr(mod, name)
        except AttributeError:
          continue
        if isinstance(obj, (types.ModuleType,) + _SCALARS):
          continue
        _index.setdefault(id(obj), []).append((path, name))
  return _index


def _jopt_module(path):
  try:
    return importlib.import_module("jopt" + (f".{path}" if path else ""))
  except ImportError:
    return None


def jopt_counterpart(optax_modname, name):
  """(jopt's object, "path.name") for `optax_modname.name`, or (None, None) when jopt has no such name."""
  real = _quiet_getattr(sys.modules[optax_modname], name)
  own_path = optax_modname[len("optax."):] if optax_modname != "optax" else ""
  candidates = []
  if own_path in PUBLIC_PATHS and not name.startswith("_"):
    candidates.append((own_path, name))
  if not isinstance(real, _SCALARS):
    places = public_index().get(id(real), [])
    candidates += sorted(places, key=lambda pn: pn[1] != name)  # its own name first.
  for path, public_name in candidates:
    mod = _jopt_module(path)
    if mod is not None and hasattr(mod, public_name):
      return getattr(mod, public_name), "jopt" + (f".{path}" if path else "") + f".{public_name}"
  return None, None


class ShimModule(types.ModuleType):
  """Mirrors one optax module; attribute lookups go to jopt's object where jopt has the name."""

  def __getattr__(self, name):
    if name.startswith("__") and name.endswith("__"):
      raise AttributeError(name)
    optax_modname = self.__dict__["_optax_name"]
    optax_mod = importlib.import_module(optax_modname)
    try:
      real = _quiet_getattr(optax_mod, name)
    except AttributeError:
      try:  # a submodule not imported yet.
        real = importlib.import_module(f"{optax_modname}.{name}")
      except ImportError:
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}") from None
    if isinstance(real, types.ModuleType) and real.__name__.startswith("optax"):
      return importlib.import_module("j" + real.__name__)
    if name.startswith("_"):
      return real
    ours, where = jopt_counterpart(optax_modname, name)
    if ours is None:
      return getattr(optax_mod, name)  # optax's, with its deprecation warning if any.
    if ours is not real:
      RESOLVED_TO_JOPT.add(where)
    return ours

  def __dir__(self):
    return dir(importlib.import_module(self.__dict__["_optax_name"]))


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
  """Creates `joptax.*` modules: rewritten test files from `$JOPTAX_ROOT`, else optax mirrors."""

  def find_spec(self, fullname, path=None, target=None):
    if not fullname.startswith("joptax."):
      return None
    optax_name = "optax" + fullname[len("joptax"):]
    rel = optax_name.split(".")[1:]
    root = os.environ.get("JOPTAX_ROOT")
    if root and rel:
      candidate = os.path.join(root, *rel) + ".py"
      if rel[-1].endswith("_test") and os.path.exists(candidate):
        return importlib.util.spec_from_file_location(fullname, candidate)
    if importlib.util.find_spec(optax_name) is None:
      return None
    return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

  def create_module(self, spec):
    mod = ShimModule(spec.name)
    mod.__dict__["_optax_name"] = "optax" + spec.name[len("joptax"):]
    mod.__path__ = []
    return mod

  def exec_module(self, module):
    pass


def install():
  """Registers the import hook (idempotent) and turns this module into the `joptax` package mirror."""
  if not any(isinstance(f, _Finder) for f in sys.meta_path):
    sys.meta_path.insert(0, _Finder())


install()
_SELF = sys.modules[__name__]


class _TopLevel(ShimModule):
  """`joptax` itself: optax's top level, plus this module's bookkeeping names."""

  def __getattr__(self, name):
    if name in ("RESOLVED_TO_JOPT", "public_index", "jopt_counterpart", "install"):
      return _SELF.__dict__[name]
    return ShimModule.__getattr__(self, name)


if __name__ == "joptax":
  _top = _TopLevel("joptax")
  _top.__dict__["_optax_name"] = "optax"
  _top.__path__ = []
  _top.__file__ = __file__
  _top.RESOLVED_TO_JOPT = RESOLVED_TO_JOPT
  sys.modules["joptax"] = _top
