"""pytest plugin of the optax-suite runner: writes each test's outcome and, against jopt, the jopt names it used.

Loaded with `-p optax_suite_plugin`. `$OPTAX_SUITE_RECORD` is the JSON file to write; with
`$OPTAX_SUITE_SHIM` set it imports `joptax` (the optax mirror over jopt) first and records, per test,
the `joptax` lookups that returned a jopt object, and per test file those made while importing it
(module-level imports and parametrizations).
"""

import json
import os

import pytest

_SHIM = bool(os.environ.get("OPTAX_SUITE_SHIM"))
_tests = {}
_collection_errors = []
_collection_jopt = {}  # test file -> jopt names resolved while collecting it


def _resolved():
  if not _SHIM:
    return set()
  import joptax  # pylint: disable=g-import-not-at-top
  return joptax.RESOLVED_TO_JOPT


def pytest_configure(config):
  del config
  if _SHIM:
    import joptax  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
  is_module = isinstance(collector, pytest.Module)
  if is_module:
    _resolved().clear()
  yield
  if is_module:
    _collection_jopt.setdefault(collector.nodeid, set()).update(_resolved())
    _resolved().clear()


def pytest_collectreport(report):
  if report.failed:
    _collection_errors.append({"nodeid": report.nodeid, "message": str(report.longrepr)[-2000:]})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
  del nextitem
  _resolved().clear()
  yield
  entry = _tests.setdefault(item.nodeid, {"outcome": "passed", "message": ""})
  entry["jopt"] = sorted(_resolved())


def pytest_runtest_logreport(report):
  entry = _tests.setdefault(report.nodeid, {"outcome": "passed", "message": ""})
  if report.failed:
    entry["outcome"] = "failed" if report.when == "call" else "error"
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    entry["message"] = " ".join(text.split())[:400]
  elif report.skipped and entry["outcome"] == "passed":
    entry["outcome"] = "skipped"


def pytest_sessionfinish(session, exitstatus):
  del session
  path = os.environ.get("OPTAX_SUITE_RECORD")
  if path:
    with open(path, "w") as f:
      json.dump({"tests": _tests, "collection_errors": _collection_errors,
                 "collection_jopt": {k: sorted(v) for k, v in _collection_jopt.items()},
                 "exitstatus": int(exitstatus)}, f)
