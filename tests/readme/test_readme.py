"""The README's snippets and commands, run as written; the figures it quotes, checked against what they print.

Blocks are found by heading or `<!-- SECTION:name -->` marker (tests/readme/readme_blocks.py), so the
test follows the README as it changes. What runs:
- every ```python block that is self-contained once the README's usual imports are given (`jax`, `jnp`,
  `np`, `jopt`); a line `expr  # literal` or `print(...)  # output` in it is checked against the comment;
- the Quickstart snippet, also with `optax` in place of `jopt` (the README's drop-in claim): same numbers;
- each command whose output the README quotes (`python examples/regularization_demo.py` prints: ```...```):
  the cheap ones always, the worked examples and ```bash commands when JOPT_README_ALL=1 (minutes each;
  their `--workdir`/`--docs` go to a temporary folder).
Subprocesses, several seconds each: slow lane.
"""

import ast
import builtins
import os
import re
import subprocess
import sys

import pytest

import readme_blocks as rb

pytestmark = pytest.mark.slow

SECTIONS = rb.read_sections()
PRELUDE = "import jax, jax.numpy as jnp, numpy as np, jopt\n"
ALL = os.environ.get("JOPT_README_ALL") == "1"
# Commands cheap enough to run in every slow-lane run (a few CPU-seconds each).
CHEAP = {
    "python examples/regularization_demo.py",
    "python examples/log_learning_rate.py",
}
NEVER = re.compile(r"^make (test|test-all|optax-tests|bench|clean)\b|\[--")  # recursion, placeholders


def _run(args, *, code=None, timeout=900):
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=rb.REPO)
  cmd = [sys.executable, "-c", code] if code is not None else re.sub(r"^python3? ", sys.executable + " ", args)
  proc = subprocess.run(cmd, cwd=rb.REPO, capture_output=True, text=True, timeout=timeout, env=env,
                        shell=isinstance(cmd, str))
  assert proc.returncode == 0, f"{args if code is None else 'snippet'} failed:\n{proc.stderr[-4000:]}"
  return proc.stdout


def _free_names(source: str) -> set:
  """Names a snippet reads but never binds (imports, assignments, defs, arguments, comprehensions)."""
  tree = ast.parse(source)
  bound, read = set(), set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Name):
      (bound if isinstance(node.ctx, (ast.Store, ast.Del)) else read).add(node.id)
    elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
      bound.add(node.name)
    elif isinstance(node, ast.arg):
      bound.add(node.arg)
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
      bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
  return read - bound - set(dir(builtins)) - {"jax", "jnp", "np", "jopt"}


def _python_blocks():
  out = []
  for s in SECTIONS:
    for block in s.blocks:
      if block.lang == "python":
        out.append(pytest.param(block, id=f"line{block.line}-{s.title.split(':')[0][:24].strip()}"))
  return out


@pytest.mark.parametrize("block", _python_blocks())
def test_python_snippet_runs_and_prints_what_the_readme_says(block):
  try:
    tree = ast.parse(block.text)
  except SyntaxError as e:
    pytest.fail(f"README line {block.line}: the python block does not parse: {e}")
  if any(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) and n.value.value is Ellipsis
         for n in ast.walk(tree)):
    pytest.skip(f"README line {block.line}: an excerpt (has `...`)")
  free = _free_names(block.text)
  if free:
    pytest.skip(f"README line {block.line}: an excerpt (uses {sorted(free)} defined elsewhere)")
  code, n_checks = rb.instrument(block.text)
  out = _run(None, code=rb.CHECK_PRELUDE + PRELUDE + code + "\nprint('README-CHECKS', len(__readme_checks))\n")
  assert f"README-CHECKS {n_checks}" in out, out[-2000:]


def test_quickstart_snippet_equals_optax():
  """The Quickstart snippet as written, then with `optax` for `jopt`: the same params and updates."""
  quick = [b for b in rb.section("quickstart", SECTIONS).blocks if b.lang == "python"]
  assert quick, "the Quickstart section has no python block"
  snippet = quick[0].text
  assert "jopt" in snippet
  as_optax = re.sub(r"\bjopt\b", "optax", snippet)
  code = f"""
import numpy as np
import jax
ours, theirs = {{}}, {{}}
exec({snippet!r}, ours)
exec({as_optax!r}, theirs)
names = [k for k, v in ours.items() if isinstance(v, (dict, jax.Array)) and not k.startswith("__")
         and k in theirs and jax.tree.leaves(v)]
assert {{"params", "updates"}} <= set(names), names
for k in names:
  for a, b in zip(jax.tree.leaves(ours[k]), jax.tree.leaves(theirs[k]), strict=True):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-8, err_msg=k)
print("compared", sorted(names))
"""
  out = _run(None, code=code)
  assert "compared" in out and "'params'" in out


def test_the_readme_has_the_blocks_this_test_reads():
  """The extractor finds what it looks for (a changed README fails here, not silently)."""
  assert [b for b in rb.section("quickstart", SECTIONS).blocks if b.lang == "python"]
  commands = [c for _, c, _, _ in rb.quoted_outputs(SECTIONS)]
  assert "python examples/regularization_demo.py" in commands, commands
  assert any(b.lang == "python" for b in rb.section("schedules", SECTIONS).blocks)


def _redirect_outputs(command, tmp_path):
  """`--workdir=X` / `--docs=X` into tmp_path: running the README must not rewrite the repository."""
  return re.sub(r"--(workdir|docs)=(\S+)", lambda m: f"--{m.group(1)}={tmp_path / m.group(2).strip('/')}",
                command)


def _quoted_params():
  out = []
  for title, command, quoted, line in rb.quoted_outputs(SECTIONS):
    marks = [] if command in CHEAP else [pytest.mark.skipif(not ALL, reason="worked example: JOPT_README_ALL=1")]
    out.append(pytest.param(command, quoted, line, id=f"line{line}-{command.split()[-1][:40]}", marks=marks))
  return out


@pytest.mark.parametrize("command,quoted,line", _quoted_params())
def test_command_prints_the_figures_the_readme_quotes(command, quoted, line, tmp_path):
  printed = _run(_redirect_outputs(command, tmp_path))
  missing = rb.check_quoted_output(quoted, printed)
  assert not missing, (f"README line {line}: `{command}` printed no line matching\n  " + "\n  ".join(missing)
                       + f"\nIt printed:\n{printed[-3000:]}")


def _shell_params():
  out = []
  for title, command, line in rb.shell_commands(SECTIONS):
    if NEVER.search(command):
      continue
    out.append(pytest.param(command, line, id=f"line{line}-{command[:40]}",
                            marks=[pytest.mark.skipif(not ALL, reason="command line run: JOPT_README_ALL=1")]))
  return out


@pytest.mark.parametrize("command,line", _shell_params())
def test_shell_command_runs(command, line, tmp_path):
  if "--data_dir=~/data" in command and not os.path.isdir(os.path.expanduser("~/data")):
    pytest.skip("needs the MNIST files in ~/data")
  _run(_redirect_outputs(command, tmp_path))


# --------------------------------------------------------------------------------------------------
# The extractor itself (cheap; tests/readme is in the slow lane with the rest of this file).

def test_figures_match_rules():
  assert rb.figures_match("L1 prox  5/10  2.44e-07  6.32e-01", "L1 prox 5/10 3.1e-08 6.33e-01")
  assert not rb.figures_match("L1 prox  5/10  2.44e-07  6.32e-01", "L1 prox 4/10 3.1e-08 6.32e-01")
  assert not rb.figures_match("best 0.1867", "best 0.1843")
  assert rb.figures_match("6 trials in 1.3 s; best 0.1654", "6 trials in 9.9 s; best 0.1655")
  assert rb.figures_match("| wall_s | 6.85 |", "| wall_s | 12.5 |")


def test_instrument_turns_commented_results_into_checks():
  code, n = rb.instrument("x = 2\n[x, x * 3]   # [2, 6]\nprint(x, 'a')  # 2 a\ny = x  # prose, not a result\n")
  assert n == 2
  ns = {}
  exec(rb.CHECK_PRELUDE + code, ns)  # pylint: disable=exec-used
  assert ns["__readme_checks"] == [2, 3]
  bad, _ = rb.instrument("x = 2\n[x]   # [3]\n")
  with pytest.raises(AssertionError, match="README line 2"):
    exec(rb.CHECK_PRELUDE + bad, {})  # pylint: disable=exec-used
