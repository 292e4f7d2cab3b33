"""The optax names jopt deliberately leaves out, each with its reason (the one list; read by the namespace walk and the optax-suite runner)."""

# Keyed by the dotted path under `optax` ("" for the top level); each value maps
# a name to why jopt does not have it. `tests/test_optax_namespace.py` checks
# that each entry is still true: the name exists in optax and warns
# (DeprecationWarning on access or call) where the reason says "deprecated",
# and jopt does not have it (an entry jopt implements is stale: delete it).
DEPRECATED = "deprecated: optax warns (DeprecationWarning)"

EXCLUDED_NAMES = {
    # e.g. "tree_utils": {"tree_l2_norm": f"{DEPRECATED} on access; use tree_norm"},
}

# Whole optax submodules jopt does not mirror.
EXCLUDED_MODULES = {
    "experimental": (
        "optax.experimental (aggregating): optax's explicitly experimental API, with no stability"
        " promise; not one of the namespaces jopt mirrors"
    ),
}


def is_excluded(path: str, name: str) -> bool:
  """Whether `optax.<path>.<name>` is one of the names jopt leaves out."""
  return name in EXCLUDED_NAMES.get(path, {}) or path.split(".")[0] in EXCLUDED_MODULES
