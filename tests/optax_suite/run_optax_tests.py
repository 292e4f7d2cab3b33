"""Runs optax's own test suite twice, as shipped against optax and with its imports pointed at jopt.

  python tests/optax_suite/run_optax_tests.py [--workers 2] [--files GLOB ...] [--markdown PATH]

Copies every `*_test.py` of the installed optax wheel into a temporary directory twice: once
unchanged, once with each `import optax...` / `from optax... import` rewritten to `joptax`, a mirror
of optax's module tree whose attributes are jopt's objects wherever jopt exports the name (optax's
otherwise: private helpers, `optax._src.test_utils`, names jopt lacks; see `joptax.py`). Each copy of
each file runs in its own `pytest -q -p no:cacheprovider` process (a pool of `--workers`), and the
plugin `optax_suite_plugin.py` records every test's outcome and which jopt names it used.

Writes `results.json` (per test: outcome with optax, outcome with jopt, jopt names used, failure
message) and a markdown table (per file: tests, passed with optax, passed with jopt, the tests that
pass with optax and fail with jopt, marked expected per `expected_failures.py` or not). Exit status 1
when an unexpected failure exercised a jopt name.
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


def optax_dir() -> pathlib.Path:
  import optax  # pylint: disable=g-import-not-at-top
  return pathlib.Path(optax.__file__).parent


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


def run_one(rel: str, side: str, root: pathlib.Path, timeout: float):
  """Runs one copy of one file; returns (rel, side, record dict, seconds)."""
  side_root = root / side
  record = root / "records" / f"{side}__{rel.replace('/', '__')}.json"
  record.parent.mkdir(exist_ok=True)
  env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "PYTEST_ADDOPTS")}
  env.update(JAX_PLATFORMS="cpu", PYTHONPATH=str(HERE), OPTAX_SUITE_RECORD=str(record),
             PYTHONDONTWRITEBYTECODE="1")
  if side == "jopt":
    env.update(OPTAX_SUITE_SHIM="1", JOPTAX_ROOT=str(side_root))
  cmd = [sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "-p", "optax_suite_plugin", "--rootdir", str(side_root), rel]
  start = time.time()
  try:
    proc = subprocess.run(cmd, cwd=side_root, env=env, capture_output=True, text=True, timeout=timeout)
    tail = proc.stdout[-3000:] + proc.stderr[-3000:]
  except subprocess.TimeoutExpired:
    tail = f"timed out after {timeout:.0f} s"
  seconds = time.time() - start
  if record.exists():
    data = json.loads(record.read_text())
  else:
    data = {"tests": {}, "collection_errors": [{"nodeid": rel, "message": tail}], "collection_jopt": []}
  data["seconds"] = seconds
  return rel, side, data


def expected_reason(test_id: str):
  for pattern, reason in EXPECTED_FAILURES.items():
    if fnmatch.fnmatchcase(test_id, pattern):
      return reason
  return None


def summarize(files, records):
  """Per-test rows and per-file counts from the two runs' records."""
  tests, per_file = {}, {}
  for rel in files:
    a, b = records[(rel, "optax")], records[(rel, "jopt")]
    ids = sorted(set(a["tests"]) | set(b["tests"]))
    row = {"tests": len(ids), "passed_optax": 0, "passed_jopt": 0, "failing": [], "expected": [],
           "no_jopt": [],
           "errors_optax": [e["nodeid"] for e in a["collection_errors"]],
           "errors_jopt": [e["nodeid"] for e in b["collection_errors"]],
           "collection_error_messages": [e["message"][-600:] for e in b["collection_errors"]],
           "seconds": a["seconds"] + b["seconds"], "collection_jopt": b["collection_jopt"]}
    for tid in ids:
      ta = a["tests"].get(tid, {"outcome": "missing", "message": ""})
      tb = b["tests"].get(tid, {"outcome": "missing", "message": ""})
      jopt_names = sorted(set(tb.get("jopt", [])))
      exercises = bool(jopt_names or b["collection_jopt"])
      tests[tid] = {"optax": ta["outcome"], "jopt": tb["outcome"], "jopt_names": jopt_names,
                    "exercises_jopt": exercises, "message": tb["message"],
                    "optax_message": ta["message"]}
      row["passed_optax"] += ta["outcome"] == "passed"
      row["passed_jopt"] += tb["outcome"] == "passed"
      if ta["outcome"] == "passed" and tb["outcome"] != "passed":
        reason = expected_reason(tid)
        tests[tid]["expected"] = reason
        if reason:
          row["expected"].append(tid)
        elif exercises:
          row["failing"].append(tid)
        else:  # failed without touching a jopt object: not jopt's doing (flaky, environment).
          row["no_jopt"].append(tid)
    # A file that failed to collect against jopt: its tests are all missing there.
    if row["errors_jopt"] and not b["tests"]:
      for tid in [t for t in a["tests"] if a["tests"][t]["outcome"] == "passed"]:
        if tid not in row["failing"] and tid not in row["expected"]:
          (row["expected"] if expected_reason(tid) else row["failing"]).append(tid)
    per_file[rel] = row
  return tests, per_file


def markdown(per_file, tests, minutes, workers):
  total = {k: sum(r[k] for r in per_file.values()) for k in ("tests", "passed_optax", "passed_jopt")}
  n_fail = sum(len(r["failing"]) for r in per_file.values())
  n_exp = sum(len(r["expected"]) for r in per_file.values())
  lines = [
      "| file | tests | pass (optax) | pass (jopt) | fail with jopt only: unexpected / expected |",
      "|---|---:|---:|---:|---|",
  ]
  for rel, r in per_file.items():
    cells = []
    if r["failing"]:
      cells.append("**" + ", ".join(f"`{t.split('::', 1)[1]}`" for t in r["failing"][:12])
                   + (f" (+{len(r['failing']) - 12})" if len(r["failing"]) > 12 else "") + "**")
    if r["expected"]:
      cells.append(f"{len(r['expected'])} expected")
    if r["no_jopt"]:
      cells.append(f"{len(r['no_jopt'])} without a jopt name: " + ", ".join(
          f"`{t.split('::', 1)[1]}`" for t in r["no_jopt"]))
    if r["errors_jopt"] and not r["errors_optax"]:
      cells.append("collection error with jopt")
    lines.append(f"| `{rel}` | {r['tests']} | {r['passed_optax']} | {r['passed_jopt']} | "
                 f"{'; '.join(cells) or '-'} |")
  lines.append(f"| **total ({len(per_file)} files)** | {total['tests']} | {total['passed_optax']} | "
               f"{total['passed_jopt']} | {n_fail} unexpected, {n_exp} expected |")
  lines.append("")
  lines.append(f"Wall time: {minutes:.1f} min with {workers} workers (each file run twice).")
  reasons = {}
  for tid, t in tests.items():
    if t.get("expected"):
      reasons.setdefault(t["expected"], []).append(tid)
  if reasons:
    lines += ["", "Expected failures (`tests/optax_suite/expected_failures.py`):", ""]
    for reason, ids in reasons.items():
      lines.append(f"- {reason}: " + ", ".join(f"`{i}`" for i in ids))
  return "\n".join(lines) + "\n"


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workers", type=int, default=2)
  parser.add_argument("--files", nargs="*", default=None,
                      help="fnmatch patterns over paths under optax/ (default: every *_test.py)")
  parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per file and side")
  parser.add_argument("--workdir", default=None, help="where to put the copies (default: a temp dir)")
  parser.add_argument("--markdown", default=None, help="also write the table here")
  parser.add_argument("--json", default=None, help="also write results.json here")
  parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
  args = parser.parse_args(argv)

  src_root = optax_dir()
  files = sorted(str(p.relative_to(src_root)) for p in src_root.rglob("*_test.py"))
  if args.files:
    files = [f for f in files if any(fnmatch.fnmatch(f, pat) for pat in args.files)]
  root = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix="optax_suite_"))
  prepare(files, root, src_root)
  # Largest first, so the long files do not start last.
  jobs = sorted(((rel, side) for rel in files for side in ("optax", "jopt")),
                key=lambda j: -(src_root / j[0]).stat().st_size)
  start = time.time()
  records = {}
  with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
    futures = [pool.submit(run_one, rel, side, root, args.timeout) for rel, side in jobs]
    for fut in concurrent.futures.as_completed(futures):
      rel, side, data = fut.result()
      records[(rel, side)] = data
      n_pass = sum(t["outcome"] == "passed" for t in data["tests"].values())
      print(f"[{time.time() - start:6.0f}s] {side:5s} {rel}: {n_pass}/{len(data['tests'])} passed "
            f"({data['seconds']:.0f} s)", flush=True)
  minutes = (time.time() - start) / 60
  tests, per_file = summarize(files, records)
  table = markdown(per_file, tests, minutes, args.workers)
  results = {"minutes": minutes, "workers": args.workers, "files": per_file, "tests": tests}
  (root / "results.json").write_text(json.dumps(results, indent=1))
  (root / "README_table.md").write_text(table)
  if args.json:
    pathlib.Path(args.json).write_text(json.dumps(results, indent=1))
  if args.markdown:
    pathlib.Path(args.markdown).write_text(table)
  print(table)
  unexpected = [t for r in per_file.values() for t in r["failing"]]
  for tid in unexpected:
    print(f"UNEXPECTED {tid}: {tests.get(tid, {}).get('message', '')}")
  print(f"results: {root / 'results.json'}")
  if not args.keep and not args.workdir:
    shutil.rmtree(root / "optax", ignore_errors=True)
  return 1 if unexpected else 0


if __name__ == "__main__":
  sys.exit(main())
