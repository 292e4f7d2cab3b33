"""Published-style optax programs run unchanged but for the import: `import optax` vs `import jopt as optax`.

Each program in this folder is executed twice from the same source text; the second time only its
optax import lines are rewritten (`import optax` -> `import jopt as optax`, `import optax.x as y` ->
`import jopt.x as y`, `from optax... import` -> `from jopt... import`). Their losses, metrics and final
parameters must agree.
"""

import pathlib
import re

import jax
import numpy as np
import pytest

import jopt

HERE = pathlib.Path(__file__).parent
_IMPORT = re.compile(r"^(\s*)import\s+optax((?:\.\w+)*)(\s+as\s+\w+)?\s*$")
_FROM = re.compile(r"^(\s*)from\s+optax((?:\.\w+)*)(\s+import\b.*)$")


def with_jopt(source: str) -> str:
  """The same program with its optax imports pointed at jopt (nothing else changes)."""
  out = []
  for line in source.splitlines():
    m = _IMPORT.match(line)
    if m:
      indent, sub, alias = m.groups()
      line = f"{indent}import jopt{sub}{alias}" if alias else f"{indent}import jopt as optax"
    else:
      m = _FROM.match(line)
      if m:
        line = f"{m.group(1)}from jopt{m.group(2)}{m.group(3)}"
    out.append(line)
  return "\n".join(out) + "\n"


def load(name: str, use_jopt: bool) -> dict:
  """Executes `tests/programs/<name>` (not as __main__) and returns its namespace."""
  path = HERE / name
  source = path.read_text()
  if use_jopt:
    source = with_jopt(source)
  namespace = {"__name__": f"program_{path.stem}_{'jopt' if use_jopt else 'optax'}", "__file__": str(path)}
  exec(compile(source, str(path), "exec"), namespace)  # pylint: disable=exec-used
  return namespace


def assert_close(ours, theirs, rtol, atol, what):
  la, ta = jax.tree.flatten(ours)
  lb, tb = jax.tree.flatten(theirs)
  assert ta == tb, f"{what}: structures differ: {ta} vs {tb}"
  for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(ours)[0], lb):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol,
                               err_msg=f"{what} at {jax.tree_util.keystr(path)}")


@pytest.mark.parametrize("name", sorted(p.name for p in HERE.glob("*.py") if not p.name.startswith("test_")))
def test_only_import_lines_change(name):
  """The jopt run differs from the optax run in the import lines only, and binds jopt objects."""
  source = (HERE / name).read_text()
  changed = [(a, b) for a, b in zip(source.splitlines(), with_jopt(source).splitlines()) if a != b]
  assert changed, f"{name} imports no optax"
  for before, after in changed:
    assert re.match(r"\s*(import|from)\s+optax\b", before) and "jopt" in after, (before, after)
  namespace = load(name, use_jopt=True)
  assert namespace["optax"] is jopt


@pytest.mark.slow
def test_nnx_digits_classifier():
  """Flax NNX CNN + `adamw` + `softmax_cross_entropy_with_integer_labels`: same metrics and weights."""
  theirs = load("nnx_digits_classifier.py", use_jopt=False)["main"](train_steps=60, eval_every=20)
  ours = load("nnx_digits_classifier.py", use_jopt=True)["main"](train_steps=60, eval_every=20)
  assert_close(ours["history"], theirs["history"], rtol=1e-4, atol=1e-5, what="metrics")
  assert_close(ours["params"], theirs["params"], rtol=1e-3, atol=1e-5, what="params")
  assert theirs["history"]["train_loss"][-1] < theirs["history"]["train_loss"][0]  # it learns.


@pytest.mark.slow
@pytest.mark.parametrize("target_update", ["incremental", "periodic"])
def test_dqn_target_networks(target_update):
  """CleanRL-style DQN, target network by `incremental_update` or `periodic_update`: same run."""
  runs = []
  for use_jopt in (False, True):
    ns = load("dqn_target_networks.py", use_jopt=use_jopt)
    runs.append(ns["main"](ns["Args"](total_timesteps=400, target_update=target_update)))
  theirs, ours = runs
  np.testing.assert_array_equal(ours["returns"], theirs["returns"])  # the same episodes.
  assert_close(ours["losses"], theirs["losses"], rtol=1e-3, atol=1e-6, what="TD losses")
  assert_close(ours["params"], theirs["params"], rtol=1e-3, atol=1e-5, what="online params")
  assert_close(ours["target_params"], theirs["target_params"], rtol=1e-3, atol=1e-5, what="target params")
  # The target really lags the online network (else the comparison above proves little).
  lag = jax.tree.leaves(jax.tree.map(lambda a, b: np.abs(np.asarray(a) - np.asarray(b)).max(),
                                     theirs["params"], theirs["target_params"]))
  assert max(lag) > 0


@pytest.mark.slow
def test_lbfgs_fit():
  """L-BFGS with zoom linesearch in a `while_loop`: same minimiser, value and iteration count."""
  theirs = load("lbfgs_fit.py", use_jopt=False)["main"]()
  ours = load("lbfgs_fit.py", use_jopt=True)["main"]()
  for problem in ("logreg", "rosenbrock"):
    assert int(ours[problem]["count"]) == int(theirs[problem]["count"]), problem
    assert_close(ours[problem]["params"], theirs[problem]["params"], rtol=1e-3, atol=1e-4, what=problem)
    assert_close(ours[problem]["value"], theirs[problem]["value"], rtol=1e-3, atol=1e-7, what=problem)
