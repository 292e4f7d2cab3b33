"""Test setup: 4 simulated CPU devices (set before jax is imported) and the shared parity harness."""

import os
import sys

_flags = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in _flags:
  os.environ["XLA_FLAGS"] = (_flags + " --xla_force_host_platform_device_count=4").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

sys.path.insert(0, os.path.dirname(__file__))

# JAX's persistent compilation cache: tests that build the same programs (the parity harness runs
# the same optimizers in several files) compile once per machine, and a rerun reuses them.
import jax  # noqa: E402  (after XLA_FLAGS)

jax.config.update(
    "jax_compilation_cache_dir",
    os.environ.get("JOPT_TEST_JAX_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "jopt-tests-jax")),
)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
