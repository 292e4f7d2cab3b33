"""optax's own test suite against jopt (slow lane): whatever passes with optax passes with jopt, or is listed.

The slow tests run every `*_test.py` shipped in the optax wheel with its imports pointed at jopt
(`run_optax_tests.py`), in `CHUNKS` groups of files (one pytest process each, so `pytest -n 2`
spreads them), and compare with optax's outcomes recorded in `optax_baseline.json` (when the
installed optax/jax versions are the recorded ones; otherwise the optax side runs as well). A chunk
fails for each test that passes with optax and fails with jopt unless `expected_failures.py` lists
it with the reason and jopt's message matches the listed one, for each listed entry that is stale
(passes now, or matches no test), and for a file that does not import with jopt.
"""

import fnmatch
import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE))

from expected_failures import EXPECTED_FAILURES  # noqa: E402  pylint: disable=g-import-not-at-top
from expected_failures import Expected  # noqa: E402  pylint: disable=g-import-not-at-top
import run_optax_tests  # noqa: E402  pylint: disable=g-import-not-at-top

CHUNKS = 8


def chunks(files, seconds, n=CHUNKS):
  """`files` in `n` groups of about equal recorded time (longest first into the lightest group)."""
  groups = [[] for _ in range(n)]
  load = [0.0] * n
  for rel in sorted(files, key=lambda f: (-seconds.get(f, 10.0), f)):
    i = load.index(min(load))
    groups[i].append(rel)
    load[i] += seconds.get(rel, 10.0)
  return [sorted(g) for g in groups if g]


def _chunk_params():
  try:
    files = run_optax_tests.test_files()
  except ImportError:  # no optax installed: nothing to compare with
    return []
  baseline = run_optax_tests.load_baseline() or {"files": {}}
  seconds = {rel: entry["seconds"] for rel, entry in baseline["files"].items()}
  return [pytest.param(group, id=f"chunk{i}") for i, group in enumerate(chunks(files, seconds))]


@pytest.fixture(scope="session")
def copies(tmp_path_factory):
  """optax's test files, unchanged and rewritten, under one directory (per pytest worker)."""
  root = tmp_path_factory.mktemp("optax_suite")
  run_optax_tests.prepare(run_optax_tests.test_files(), root, run_optax_tests.optax_dir())
  return root


@pytest.mark.slow
@pytest.mark.parametrize("group", _chunk_params())
def test_optax_tests_pass_with_jopt(group, copies):
  tag = "__".join(p.replace("/", "_") for p in group)[:80]
  records = {(rel, "jopt"): rec
             for rel, rec in run_optax_tests.run_files(group, "jopt", copies, 3000.0, tag).items()}
  baseline = run_optax_tests.load_baseline()
  if baseline is None:  # other optax/jax versions than recorded: run optax's side too.
    optax_side = run_optax_tests.run_files(group, "optax", copies, 3000.0, tag)
    records.update({(rel, "optax"): rec for rel, rec in optax_side.items()})
  else:
    for rel in group:
      records[(rel, "optax")] = run_optax_tests.optax_record_from_baseline(
          baseline, rel, records[(rel, "jopt")])
  tests, per_file = run_optax_tests.summarize(group, records)
  problems = []
  for rel, row in per_file.items():
    if row["errors_jopt"] and not row["errors_optax"]:
      problems.append(f"{rel}: does not import with jopt: {row['collection_error_messages']}")
    for tid in row["failing"]:
      t = tests.get(tid, {})
      problems.append(f"{tid}: {t.get('listed_but', '')} {t.get('message', '')[:300]}")
  problems += [f"stale entry in expected_failures.py: {s}"
               for s in run_optax_tests.stale_entries(tests, group)]
  assert not problems, (
      f"{len(problems)} problems (a test that passes with optax fails with jopt: fix jopt, or list "
      "it in expected_failures.py with the reason):\n" + "\n".join(problems))


# --- fast checks of the mechanism ---------------------------------------------------------------------

def test_chunks_cover_every_file_once():
  files = [f"f{i}" for i in range(20)]
  seconds = {f: float(i) for i, f in enumerate(files)}
  groups = chunks(files, seconds, n=4)
  assert sorted(f for g in groups for f in g) == sorted(files)
  loads = [sum(seconds[f] for f in g) for g in groups]
  assert max(loads) - min(loads) <= max(seconds.values())


def test_baseline_is_current_and_covers_every_file():
  """The recorded optax outcomes are for the installed optax and jax, and for every shipped file."""
  baseline = run_optax_tests.load_baseline()
  assert baseline is not None, (
      f"{run_optax_tests.BASELINE} is missing or for other versions than {run_optax_tests.versions()}: "
      "regenerate it with `run_optax_tests.py --side optax --write-baseline "
      "tests/optax_suite/optax_baseline.json`")
  assert sorted(baseline["files"]) == run_optax_tests.test_files()


def test_expected_failures_are_well_formed():
  files = set(run_optax_tests.test_files())
  for pattern, entry in EXPECTED_FAILURES.items():
    assert isinstance(entry, Expected) and entry.reason and entry.message, pattern
    assert pattern.split("::", 1)[0] in files, f"{pattern}: no such optax test file"


def test_rewrite_points_imports_at_joptax():
  """The import rewrite: every optax import form in optax's tests, nothing else touched."""
  src = (
      "import optax\n"
      "import optax.tree\n"
      "import optax.microbatching._microbatching as microbatching\n"
      "from optax import tree_utils as otu\n"
      "from optax._src import alias  # comment\n"
      "from optax.contrib import (\n    _muon,\n)\n"
      "  import optax\n"
      "x = 'import optax'\n"
      "import optaxx\n"
  )
  assert run_optax_tests.rewrite(src) == (
      "import joptax as optax\n"
      "import joptax as optax\n"
      "import joptax.microbatching._microbatching as microbatching\n"
      "from joptax import tree_utils as otu\n"
      "from joptax._src import alias  # comment\n"
      "from joptax.contrib import (\n    _muon,\n)\n"
      "  import joptax as optax\n"
      "x = 'import optax'\n"
      "import optaxx\n"
  )


def test_joptax_resolves_to_jopt_where_jopt_has_the_name():
  """`joptax.<optax path>.<name>`: jopt's object where jopt exports the name (found through the
  public name optax publishes the object under), optax's own otherwise (private helpers, test utils)."""
  import jopt  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top
  import joptax  # pylint: disable=g-import-not-at-top
  from joptax._src import alias, test_utils, transform  # pylint: disable=g-import-not-at-top
  from joptax.transforms import _combining  # pylint: disable=g-import-not-at-top
  import joptax.schedules._schedule as schedule  # pylint: disable=g-import-not-at-top
  from joptax.losses import _classification  # pylint: disable=g-import-not-at-top
  from joptax.assignment import _hungarian_algorithm  # pylint: disable=g-import-not-at-top

  assert alias.adam is jopt.adam and joptax.adam is jopt.adam
  assert transform.scale_by_adam is jopt.scale_by_adam
  assert _combining.partition is jopt.transforms.partition  # found by object identity, own name first.
  assert schedule.linear_schedule is jopt.linear_schedule
  assert _classification.softmax_cross_entropy is jopt.losses.softmax_cross_entropy
  assert _hungarian_algorithm.hungarian_algorithm is jopt.assignment.hungarian_algorithm
  assert joptax.tree_utils.tree_get is jopt.tree_utils.tree_get
  assert test_utils.assert_trees_all_close is optax._src.test_utils.assert_trees_all_close
  from joptax._src import factorized, utils  # pylint: disable=g-import-not-at-top
  assert factorized._decay_rate_pow is optax._src.factorized._decay_rate_pow  # private: optax's.
  assert utils.MultiNormalDiagFromLogScale is optax._src.utils.MultiNormalDiagFromLogScale
  assert joptax.GradientTransformation is optax.GradientTransformation
  assert joptax.contrib.muon is jopt.contrib.muon
  assert {"jopt.adam", "jopt.contrib.muon"} <= joptax.RESOLVED_TO_JOPT
  # Every public name of every public optax namespace that jopt has at the same path resolves to
  # jopt's object (none silently stays optax's).
  import importlib  # pylint: disable=g-import-not-at-top
  import types  # pylint: disable=g-import-not-at-top
  checked = []
  for path in joptax.public_index.__globals__["PUBLIC_PATHS"]:
    suffix = f".{path}" if path else ""
    try:
      ours = importlib.import_module("jopt" + suffix)
    except ImportError:  # optax.experimental: not in jopt, its tests run on optax's objects
      continue
    mirror = importlib.import_module("joptax" + suffix)
    for name in dir(importlib.import_module("optax" + suffix)):
      obj = getattr(ours, name, None)
      if name.startswith("_") or obj is None or isinstance(obj, types.ModuleType):
        continue
      assert getattr(mirror, name) is obj, f"optax{suffix}.{name}"
      checked.append(f"{path}.{name}")
  assert len(checked) > 400


def _summary(jopt_tests, optax_tests=None):
  rel = "_src/alias_test.py"
  ids = {k: f"{rel}::T::{k}" for k in jopt_tests}
  optax_run = {"tests": {ids[k]: {"outcome": (optax_tests or {}).get(k, "passed"), "message": ""}
                         for k in ids},
               "collection_errors": [], "collection_jopt": [], "seconds": 1.0}
  jopt_run = {"tests": {ids[k]: {"outcome": o, "message": m, "jopt": ["jopt.adam"]}
                        for k, (o, m) in jopt_tests.items()},
              "collection_errors": [], "collection_jopt": [], "seconds": 1.0}
  return run_optax_tests.summarize([rel], {(rel, "optax"): optax_run, (rel, "jopt"): jopt_run})


def test_summary_classifies_failures(monkeypatch):
  """Passes with optax, fails with jopt: expected only if listed with a matching message."""
  monkeypatch.setitem(EXPECTED_FAILURES, "_src/alias_test.py::T::listed*",
                      Expected("a reason", r"rounds to 0"))
  tests, per_file = _summary({
      "bug": ("failed", "boom"), "ok": ("passed", ""), "listed": ("failed", "eps rounds to 0"),
      "listed_other": ("failed", "another error"), "both_fail": ("failed", "x")},
      optax_tests={"both_fail": "failed"})
  row = per_file["_src/alias_test.py"]
  assert sorted(t.rsplit("::", 1)[1] for t in row["failing"]) == ["bug", "listed_other"]
  assert [t.rsplit("::", 1)[1] for t in row["expected"]] == ["listed"]
  assert "listed, but" in tests["_src/alias_test.py::T::listed_other"]["listed_but"]
  assert (row["tests"], row["passed_optax"], row["passed_jopt"]) == (5, 4, 1)
  table = run_optax_tests.markdown(per_file, tests, 1.0, 2, "both")
  assert "`T::bug`" in table and "a reason" in table


def test_stale_entries(monkeypatch):
  monkeypatch.setattr(run_optax_tests, "EXPECTED_FAILURES", {
      "_src/alias_test.py::T::fixed": Expected("r", "m"),
      "_src/alias_test.py::T::gone*": Expected("r", "m"),
      "_src/alias_test.py::T::still": Expected("r", "m"),
  })
  tests, _ = _summary({"fixed": ("passed", ""), "still": ("failed", "m")})
  stale = run_optax_tests.stale_entries(tests, ["_src/alias_test.py"])
  assert sorted(s.split(":")[-1].strip() for s in stale) == ["matches no test", "passes with jopt now"]


def test_baseline_stands_in_for_the_optax_side():
  baseline = {"files": {"a_test.py": {"tests": 4, "seconds": 1.0, "not_passed": {"T::s": "skipped"},
                                      "collection_errors": []}}}
  jopt_record = {"tests": {"a_test.py::T::x": {}, "a_test.py::T::s": {}, "a_test.py::T::y": {}}}
  rec = run_optax_tests.optax_record_from_baseline(baseline, "a_test.py", jopt_record)
  outcomes = sorted(v["outcome"] for v in rec["tests"].values())
  assert outcomes == ["passed", "passed", "passed", "skipped"]  # the 4th: not collected with jopt.
  assert fnmatch.filter(rec["tests"], "*not collected*")
