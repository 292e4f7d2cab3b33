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


# --- CPU time per test -------------------------------------------------------------------------------
# `pytest --cpu-durations=N` lists the N tests that used the most CPU time (user + sys of the test
# process and of the subprocesses it waited for: setup, call and teardown) and the CPU seconds per test
# folder; `--cpu-report=PATH` writes every test's CPU seconds as JSON. CPU time, unlike `--durations`'
# wall time, does not grow when other jobs share the cores. Works under xdist (each worker measures its
# own tests and sends the figure with the report).
import collections  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402

import pytest  # noqa: E402

_CPU_START = {}
_CPU_TIMES = {}


def _cpu_seconds():
  own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
  return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def pytest_addoption(parser):
  group = parser.getgroup("cpu time")
  group.addoption("--cpu-durations", type=int, default=None, metavar="N",
                  help="show the N tests that used the most CPU time (0: all) and CPU seconds per folder")
  group.addoption("--cpu-report", default=None, metavar="PATH", help="write each test's CPU seconds to PATH")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
  _CPU_START[item.nodeid] = _cpu_seconds()
  yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
  if call.when == "teardown" and item.nodeid in _CPU_START:
    item.user_properties.append(("cpu_s", _cpu_seconds() - _CPU_START.pop(item.nodeid)))
  yield


def pytest_runtest_logreport(report):
  if report.when == "teardown":
    for key, value in report.user_properties:
      if key == "cpu_s":
        _CPU_TIMES[report.nodeid] = value


def pytest_terminal_summary(terminalreporter, exitstatus, config):
  del exitstatus
  path, n = config.getoption("--cpu-report"), config.getoption("--cpu-durations")
  if path:
    with open(path, "w") as f:
      json.dump(_CPU_TIMES, f, indent=0)
  if n is None or not _CPU_TIMES:
    return
  folders = collections.Counter()
  for nodeid, seconds in _CPU_TIMES.items():
    folders[os.path.dirname(nodeid.split("::")[0])] += seconds
  tr = terminalreporter
  tr.write_sep("=", f"CPU seconds per folder ({sum(_CPU_TIMES.values()):.1f} s in {len(_CPU_TIMES)} tests; "
                    f"this process in all, collection and imports included: {_cpu_seconds():.1f} s)")
  for folder, seconds in folders.most_common():
    tr.write_line(f"{seconds:9.1f}s  {folder}")
  ranked = sorted(_CPU_TIMES.items(), key=lambda kv: -kv[1])[: n or None]
  tr.write_sep("=", f"slowest {len(ranked)} tests by CPU time")
  for nodeid, seconds in ranked:
    tr.write_line(f"{seconds:9.2f}s  {nodeid}")


# Every compiled program goes to the persistent cache, not only those that took 0.2 s (of wall time, so the
# set cached depended on the machine's load): a warm fast lane then compiles almost nothing (measured on a
# third of the fast lane: 37 -> 25 CPU-s warm, cold unchanged; 7 MB of cache).
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
