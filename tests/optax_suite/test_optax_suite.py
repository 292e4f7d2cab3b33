"""optax's own test suite against jopt (slow lane): whatever passes with optax and uses jopt passes with jopt.

Runs `run_optax_tests.py` (every `*_test.py` shipped in the optax wheel, unchanged against optax and
with its imports pointed at jopt) and fails for each test that passes with optax, exercises a name
jopt exports, and fails with jopt, unless `expected_failures.py` lists it with a reason. Also fails for
stale entries there (a listed test that now passes, or matches nothing).
"""

import fnmatch
import json
import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE))

from expected_failures import EXPECTED_FAILURES  # noqa: E402  pylint: disable=g-import-not-at-top
import run_optax_tests  # noqa: E402  pylint: disable=g-import-not-at-top


@pytest.fixture(scope="module")
def results(tmp_path_factory):
  out = tmp_path_factory.mktemp("optax_suite") / "results.json"
  proc = subprocess.run([sys.executable, str(HERE / "run_optax_tests.py"), "--workers", "2",
                         "--json", str(out)], capture_output=True, text=True, check=False)
  assert out.exists(), proc.stdout[-4000:] + proc.stderr[-4000:]
  return json.loads(out.read_text())


@pytest.mark.slow
def test_optax_tests_pass_with_jopt(results):
  unexpected = [(rel, tid) for rel, row in results["files"].items() for tid in row["failing"]]
  lines = [f"{tid}: {results['tests'].get(tid, {}).get('message', '')[:200]}" for _, tid in unexpected]
  assert not unexpected, (f"{len(unexpected)} optax tests pass with optax and fail with jopt "
                          "(fix jopt or list them in expected_failures.py with the reason):\n" + "\n".join(lines))


@pytest.mark.slow
def test_expected_failures_are_current(results):
  stale = []
  for pattern in EXPECTED_FAILURES:
    matched = [t for t in results["tests"] if fnmatch.fnmatchcase(t, pattern)]
    if not matched:
      stale.append(f"{pattern}: matches no test")
    elif all(results["tests"][t]["jopt"] == "passed" for t in matched):
      stale.append(f"{pattern}: passes with jopt now")
  assert not stale, "stale entries in expected_failures.py:\n" + "\n".join(stale)


@pytest.mark.slow
def test_every_shipped_test_file_runs(results):
  """All of optax's test files were found and run with optax (a rewrite that breaks one shows here)."""
  files = sorted(str(p.relative_to(run_optax_tests.optax_dir()))
                 for p in run_optax_tests.optax_dir().rglob("*_test.py"))
  assert sorted(results["files"]) == files
  broken = [rel for rel, row in results["files"].items() if row["errors_jopt"] and not row["errors_optax"]]
  assert not broken, f"these files fail to import with jopt: {broken}"


def test_rewrite_points_imports_at_joptax():
  """The import rewrite (fast): every optax import form in optax's tests, nothing else touched."""
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
  """(fast) `joptax.<optax path>.<name>`: jopt's object where jopt exports the name, optax's otherwise."""
  import jopt  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top
  import joptax  # pylint: disable=g-import-not-at-top
  from joptax._src import alias, test_utils  # pylint: disable=g-import-not-at-top
  from joptax.transforms import _combining  # pylint: disable=g-import-not-at-top
  import joptax.schedules._schedule as schedule  # pylint: disable=g-import-not-at-top

  assert alias.adam is jopt.adam and joptax.adam is jopt.adam
  assert _combining.partition is jopt.transforms.partition  # found by object identity, own name first.
  assert schedule.linear_schedule is jopt.linear_schedule
  assert test_utils.assert_trees_all_close is optax._src.test_utils.assert_trees_all_close
  from joptax._src import factorized  # pylint: disable=g-import-not-at-top
  assert factorized._decay_rate_pow is optax._src.factorized._decay_rate_pow  # private: optax's.
  assert joptax.GradientTransformation is optax.GradientTransformation
  assert joptax.contrib.muon is jopt.contrib.muon
  assert {"jopt.adam", "jopt.contrib.muon"} <= joptax.RESOLVED_TO_JOPT


def test_summary_classifies_failures():
  """(fast) Passed with optax and failed with jopt: unexpected if it used jopt, expected if listed."""
  listed = next(iter(EXPECTED_FAILURES))
  rel = listed.split("::")[0]
  ids = {"used": f"{rel}::T::used", "quiet": f"{rel}::T::quiet", "both": f"{rel}::T::both", "listed": listed}
  optax_run = {"tests": {i: {"outcome": "passed", "message": ""} for i in ids.values()},
               "collection_errors": [], "collection_jopt": [], "seconds": 1.0}
  jopt_run = {"tests": {
      ids["used"]: {"outcome": "failed", "message": "boom", "jopt": ["jopt.adam"]},
      ids["quiet"]: {"outcome": "failed", "message": "flaky", "jopt": []},
      ids["both"]: {"outcome": "passed", "message": "", "jopt": ["jopt.adam"]},
      ids["listed"]: {"outcome": "failed", "message": "known", "jopt": ["jopt.adam"]},
  }, "collection_errors": [], "collection_jopt": [], "seconds": 1.0}
  tests, per_file = run_optax_tests.summarize([rel], {(rel, "optax"): optax_run, (rel, "jopt"): jopt_run})
  row = per_file[rel]
  assert row["failing"] == [ids["used"]]
  assert row["expected"] == [listed] and tests[listed]["expected"] == EXPECTED_FAILURES[listed]
  assert row["no_jopt"] == [ids["quiet"]]
  assert (row["tests"], row["passed_optax"], row["passed_jopt"]) == (4, 4, 1)
  assert "**`T::used`**" in run_optax_tests.markdown(per_file, tests, 1.0, 2)
