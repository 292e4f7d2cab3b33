"""Runs optax's own test suite as shipped against optax and with its imports pointed at jopt.

  python tests/optax_suite/run_optax_tests.py [--workers 2] [--files GLOB ...] [--side both|jopt|optax]
      [--markdown PATH] [--json PATH] [--write-baseline PATH]

Copies every `*_test.py` of the installed optax wheel into a temporary directory twice: once
unchanged, once with each `import optax...` / `from optax... import` rewritten to `joptax`, a mirror
of optax's module tree whose attributes are jopt's objects wherever jopt exports the name (optax's
otherwise: private helpers, `optax._src.test_utils`, names jopt lacks; see `joptax.py`). Each copy of
each file runs in its own `pytest -q -p no:cacheprovider` process (a pool of `--workers`), and the
plugin `optax_suite_plugin.py` records every test's outcome and which jopt names it used.

`--side jopt` runs only the jopt copies and takes optax's outcomes from `optax_baseline.json`
(written by `--side optax --write-baseline`; optax's results depend only on optax and jax, whose
versions it records: with other versions installed the optax side is run as well).

Writes `results.json` (per test: outcome with optax, outcome with jopt, jopt names used, failure
message) and a markdown table (per file: tests, passed with optax, passed with jopt, the tests that
pass with optax and fail with jopt: listed in `expected_failures.py` with the reason, or not). Exit
status 1 for any unexpected failure (a test that passes with optax, fails with jopt and is not
listed, or is listed and fails for another reason) or stale entry (a listed test that passes).
"""

import argparse
import concurrent.futures
import fnmatch
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from expected_failures import EXPECTED_FAILURES  # noqa: E402  pylint: disable=g-import-not-at-top

BASELINE = HERE / "optax_baseline.json"


def optax_dir() -> pathlib.Path:
  import optax  # pylint: disable=g-import-not-at-top
  return pathlib.Path(optax.__file__).parent


def test_files() -> list:
  """Every `*_test.py` shipped in the installed optax wheel, as paths under `optax/`."""
  root = optax_dir()
  return sorted(str(p.relative_to(root)) for p in root.rglob("*_test.py"))


def versions() -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top
  return {"optax": optax.__version__, "jax": jax.__version__}


_IMPORT = re.compile(r"^(\s*)import\s+optax((?:\.\w+)*)(\s+as\s+\w+)?(\s*(?:#.*)?)$")
_FROM = re.compile(r"^(\s*)from\s+optax((?:\.\w+)*)(\s+import\b.*)$")


def rewrite(source: str) -> str:
  """The test file with its optax imports pointed at `joptax` (the same module paths, jopt's objects)."""
  out = []
  for line in source.splitlines(keepends=True):
    body, nl = (line[:-1], "\n") if line.endswith("\n") else (line, "")
    m = _IMPORT.match(body)
    if m:
      indent, sub, alias, tail = m.groups()
      if alias:  # `import optax.a.b as x` binds x to optax.a.b.
        body = f"{indent}import joptax{sub}{alias}{tail}"
      else:  # `import optax` / `import optax.tree` bind the name `optax` to the top package.
        body = f"{indent}import joptax as optax{tail}"
    else:
      m = _FROM.match(body)
      if m:
        indent, sub, rest = m.groups()
        body = f"{indent}from joptax{sub}{rest}"
    out.append(body + nl)
  return "".join(out)


def prepare(files, root: pathlib.Path, src_root: pathlib.Path):
  """Writes the unchanged copies under root/optax and the rewritten ones under root/jopt."""
  for side in ("optax", "jopt"):
    (root / side).mkdir(parents=True, exist_ok=True)
    (root / side / "pytest.ini").write_text("[pytest]\n")  # pins the rootdir; no inherited options.
  for rel in files:
    text = (src_root / rel).read_text()
    for side, body in (("optax", text), ("jopt", rewrite(text))):
      dest = root / side / rel
      dest.parent.mkdir(parents=True, exist_ok=True)
      dest.write_text(body)


def _empty_record(rel, message=None):
  errors = [{"nodeid": rel, "message": message}] if message is not None else []
  return {"tests": {}, "collection_errors": errors, "collection_jopt": [], "seconds": 0.0}


def run_files(rels, side: str, root: pathlib.Path, timeout: float, tag: str) -> dict:
  """Runs the copies of `rels` on one side in one pytest process; returns {rel: record}."""
  side_root = root / side
  record = root / "records" / f"{side}__{tag.replace('/', '__')}.json"
  record.parent.mkdir(exist_ok=True)
  env = {k: v for k, v in os.environ.items()
         if k not in ("XLA_FLAGS", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER", "PYTEST_CURRENT_TEST")}
  env.update(JAX_PLATFORMS="cpu", PYTHONPATH=str(HERE), OPTAX_SUITE_RECORD=str(record),
             PYTHONDONTWRITEBYTECODE="1")
  if side == "jopt":
    env.update(OPTAX_SUITE_SHIM="1", JOPTAX_ROOT=str(side_root))
  cmd = [sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "-p", "optax_suite_plugin", "--rootdir", str(side_root), *rels]
  start = time.time()
  try:
    proc = subprocess.run(cmd, cwd=side_root, env=env, capture_output=True, text=True, timeout=timeout)
    tail = proc.stdout[-3000:] + proc.stderr[-3000:]
  except subprocess.TimeoutExpired:
    tail = f"timed out after {timeout:.0f} s"
  seconds = time.time() - start
  if not record.exists():
    return {rel: dict(_empty_record(rel, tail), seconds=seconds / len(rels)) for rel in rels}
  data = json.loads(record.read_text())
  out = {}
  for rel in rels:
    tests = {t: v for t, v in data["tests"].items() if t.split("::", 1)[0] == rel}
    out[rel] = {
        "tests": tests,
        "collection_errors": [e for e in data["collection_errors"] if e["nodeid"].split("::", 1)[0] == rel],
        "collection_jopt": data["collection_jopt"].get(rel, []),
        # One process for several files: their share of its time, by test count.
        "seconds": seconds * max(len(tests), 1) / max(len(data["tests"]), len(rels)),
    }
  return out


# --- the optax side from a recorded baseline -------------------------------------------------------

def write_baseline(path, optax_records: dict) -> None:
  """Records optax's outcome of each test (only those that did not pass: the rest passed)."""
  files = {}
  for rel, rec in sorted(optax_records.items()):
    files[rel] = {
        "tests": len(rec["tests"]),
        "seconds": round(rec["seconds"], 1),
        "not_passed": {t.split("::", 1)[1]: v["outcome"] for t, v in sorted(rec["tests"].items())
                       if v["outcome"] != "passed"},
        "collection_errors": [e["nodeid"] for e in rec["collection_errors"]],
    }
  pathlib.Path(path).write_text(json.dumps({**versions(), "files": files}, indent=1) + "\n")


def load_baseline(path=BASELINE):
  """The recorded optax outcomes, or None when missing or recorded with other optax/jax versions."""
  path = pathlib.Path(path)
  if not path.exists():
    return None
  data = json.loads(path.read_text())
  return data if all(data.get(k) == v for k, v in versions().items()) else None


def optax_record_from_baseline(baseline, rel, jopt_record) -> dict:
  """optax's record of `rel`: the baseline's outcomes over the test ids the jopt run collected,
  plus placeholder ids for tests the jopt run did not collect (so they count as missing there)."""
  entry = baseline["files"][rel]
  tests = {t: {"outcome": "passed", "message": ""} for t in jopt_record["tests"]}
  for name, outcome in entry["not_passed"].items():
    tests[f"{rel}::{name}"] = {"outcome": outcome, "message": ""}
  for i in range(entry["tests"] - len(tests)):
    tests[f"{rel}::<test not collected with jopt #{i}>"] = {"outcome": "passed", "message": ""}
  return {"tests": tests, "seconds": entry["seconds"], "collection_jopt": [],
          "collection_errors": [{"nodeid": n, "message": ""} for n in entry["collection_errors"]]}


# --- classification --------------------------------------------------------------------------------

def expected_entry(test_id: str):
  """The `Expected(reason, message)` listed for `test_id`, or None."""
  for pattern, entry in EXPECTED_FAILURES.items():
    if fnmatch.fnmatchcase(test_id, pattern):
      return entry
  return None


def summarize(files, records):
  """Per-test rows and per-file counts from the two sides' records {(rel, side): record}.

  A test that passes with optax and not with jopt is `expected` when `expected_failures.py` lists
  it and jopt's message matches the listed one, else `failing` (unexpected); a listed test whose
  message does not match is `failing` too (it fails for another reason than the one given).
  """
  tests, per_file = {}, {}
  for rel in files:
    a, b = records[(rel, "optax")], records[(rel, "jopt")]
    ids = sorted(set(a["tests"]) | set(b["tests"]))
    row = {"tests": len(ids), "passed_optax": 0, "passed_jopt": 0, "failing": [], "expected": [],
           "errors_optax": [e["nodeid"] for e in a["collection_errors"]],
           "errors_jopt": [e["nodeid"] for e in b["collection_errors"]],
           "collection_error_messages": [(e["message"] or "")[-600:] for e in b["collection_errors"]],
           "seconds_optax": a["seconds"], "seconds_jopt": b["seconds"],
           "collection_jopt": b["collection_jopt"], "exercising_jopt": 0}
    for tid in ids:
      ta = a["tests"].get(tid, {"outcome": "missing", "message": ""})
      tb = b["tests"].get(tid, {"outcome": "missing", "message": ""})
      jopt_names = sorted(set(tb.get("jopt", [])))
      exercises = bool(jopt_names or b["collection_jopt"])
      row["exercising_jopt"] += exercises
      tests[tid] = {"optax": ta["outcome"], "jopt": tb["outcome"], "jopt_names": jopt_names,
                    "exercises_jopt": exercises, "message": tb["message"], "expected": None}
      row["passed_optax"] += ta["outcome"] == "passed"
      row["passed_jopt"] += tb["outcome"] == "passed"
      if ta["outcome"] == "passed" and tb["outcome"] != "passed":
        entry = expected_entry(tid)
        if entry is not None and re.search(entry.message, tb["message"] or ""):
          tests[tid]["expected"] = entry.reason
          row["expected"].append(tid)
        else:
          if entry is not None:
            tests[tid]["listed_but"] = f"listed, but the message does not match {entry.message!r}"
          row["failing"].append(tid)
    per_file[rel] = row
  return tests, per_file


def stale_entries(tests, files) -> list:
  """Entries of `expected_failures.py` (for the given files) that match no test or whose tests all pass."""
  stale = []
  for pattern in EXPECTED_FAILURES:
    if pattern.split("::", 1)[0] not in files:
      continue
    matched = [t for t in tests if fnmatch.fnmatchcase(t, pattern)]
    if not matched:
      stale.append(f"{pattern}: matches no test")
    elif all(tests[t]["jopt"] == "passed" for t in matched):
      stale.append(f"{pattern}: passes with jopt now")
  return stale


def markdown(per_file, tests, minutes, workers, side):
  total = {k: sum(r[k] for r in per_file.values())
           for k in ("tests", "passed_optax", "passed_jopt", "exercising_jopt")}
  n_fail = sum(len(r["failing"]) for r in per_file.values())
  n_exp = sum(len(r["expected"]) for r in per_file.values())
  lines = [
      "| file | tests | pass (optax) | pass (jopt) | listed deviations | unexpected |",
      "|---|---:|---:|---:|---:|---|",
  ]
  for rel, r in per_file.items():
    bad = ", ".join(f"`{t.split('::', 1)[1]}`" for t in r["failing"][:8])
    if len(r["failing"]) > 8:
      bad += f" (+{len(r['failing']) - 8})"
    if r["errors_jopt"] and not r["errors_optax"]:
      bad = (bad + "; " if bad else "") + "collection error with jopt"
    lines.append(f"| `{rel}` | {r['tests']} | {r['passed_optax']} | {r['passed_jopt']} | "
                 f"{len(r['expected']) or '-'} | {('**' + bad + '**') if bad else '-'} |")
  lines.append(f"| **total ({len(per_file)} files)** | {total['tests']} | {total['passed_optax']} | "
               f"{total['passed_jopt']} | {n_exp} | {n_fail} |")
  lines.append("")
  how = ("each file run against optax and against jopt" if side == "both" else
         "jopt side run; optax side from `optax_baseline.json`")
  lines.append(f"{total['exercising_jopt']} of {total['tests']} tests use at least one jopt object. "
               f"Wall time: {minutes:.1f} min with {workers} workers ({how}).")
  reasons = {}
  for tid, t in tests.items():
    if t.get("expected"):
      reasons.setdefault(t["expected"], []).append(tid)
  if reasons:
    lines += ["", "Listed deviations (`tests/optax_suite/expected_failures.py`):", ""]
    for reason, ids in reasons.items():
      lines.append(f"- {reason}: " + ", ".join(f"`{i}`" for i in ids))
  return "\n".join(lines) + "\n"


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workers", type=int, default=2)
  parser.add_argument("--files", nargs="*", default=None,
                      help="fnmatch patterns over paths under optax/ (default: every *_test.py)")
  parser.add_argument("--side", choices=("both", "jopt", "optax"), default="both",
                      help="jopt: take optax's outcomes from the baseline (when its versions match)")
  parser.add_argument("--baseline", default=str(BASELINE))
  parser.add_argument("--write-baseline", default=None, help="write optax's outcomes here")
  parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per file and side")
  parser.add_argument("--workdir", default=None, help="where to put the copies (default: a temp dir)")
  parser.add_argument("--markdown", default=None, help="also write the table here")
  parser.add_argument("--json", default=None, help="also write results.json here")
  parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
  args = parser.parse_args(argv)

  src_root = optax_dir()
  files = test_files()
  if args.files:
    files = [f for f in files if any(fnmatch.fnmatch(f, pat) for pat in args.files)]
  baseline = load_baseline(args.baseline) if args.side == "jopt" else None
  if args.side == "jopt" and baseline is None:
    print(f"{args.baseline}: missing or recorded with other optax/jax versions than {versions()}; "
          "running the optax side too.", flush=True)
  sides = {"both": ("optax", "jopt"), "optax": ("optax",),
           "jopt": ("jopt",) if baseline is not None else ("optax", "jopt")}[args.side]
  root = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix="optax_suite_"))
  prepare(files, root, src_root)
  # Largest first, so the long files do not start last.
  jobs = sorted(((rel, side) for rel in files for side in sides),
                key=lambda j: -(src_root / j[0]).stat().st_size)
  start = time.time()
  records = {}
  with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
    futures = {pool.submit(run_files, [rel], side, root, args.timeout, rel): (rel, side)
               for rel, side in jobs}
    for fut in concurrent.futures.as_completed(futures):
      rel, side = futures[fut]
      data = fut.result()[rel]
      records[(rel, side)] = data
      n_pass = sum(t["outcome"] == "passed" for t in data["tests"].values())
      print(f"[{time.time() - start:6.0f}s] {side:5s} {rel}: {n_pass}/{len(data['tests'])} passed "
            f"({data['seconds']:.0f} s)", flush=True)
  minutes = (time.time() - start) / 60
  if args.write_baseline:
    write_baseline(args.write_baseline, {rel: records[(rel, "optax")] for rel in files})
    print(f"baseline: {args.write_baseline}")
  if "jopt" not in sides:
    return 0
  if "optax" not in sides:
    for rel in files:
      records[(rel, "optax")] = optax_record_from_baseline(baseline, rel, records[(rel, "jopt")])
  tests, per_file = summarize(files, records)
  stale = stale_entries(tests, files)
  table = markdown(per_file, tests, minutes, args.workers, "both" if "optax" in sides else "jopt")
  results = {"minutes": minutes, "workers": args.workers, "versions": versions(), "files": per_file,
             "tests": tests, "stale": stale}
  (root / "results.json").write_text(json.dumps(results, indent=1))
  (root / "README_table.md").write_text(table)
  if args.json:
    pathlib.Path(args.json).write_text(json.dumps(results, indent=1))
  if args.markdown:
    pathlib.Path(args.markdown).write_text(table)
  print(table)
  unexpected = [t for r in per_file.values() for t in r["failing"]]
  for tid in unexpected:
    t = tests.get(tid, {})
    print(f"UNEXPECTED {tid}: {t.get('listed_but', '')} {t.get('message', '')}")
  for line in stale:
    print(f"STALE {line}")
  print(f"results: {root / 'results.json'}")
  if not args.keep and not args.workdir:
    shutil.rmtree(root / "optax", ignore_errors=True)
  return 1 if unexpected or stale else 0


if __name__ == "__main__":
  sys.exit(main())
