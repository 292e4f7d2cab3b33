"""Every row of the reference table (`cases.PARITY`): jopt's trajectory equals optax's, step by step.

The test id names the row: `<module under jopt/_src>:<name>-<draw>-<mode>`, e.g.
`transforms/adam:scale_by_amsgrad-1-jit`.
"""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
from cases import OPTIMIZERS, PARITY, Case, run_case
from parity import assert_trees_close, gradient_sequence, random_tree, trajectory


# The fast lane (`make test`) runs a short version of the table; `make test-all` runs every row and mode.
CORE = ("sgd", "adam", "adamw")


def fast_lane(cases=PARITY) -> set:
  """(row index, mode) pairs in the fast lane: the first row of each name, run once.

  For each (name, reference, dtype, mode) the first row is fast; then a name that has an eager row skips
  its jit and pmap rows (the eager row compares the same numbers on a small tree, compiling nothing
  big), except the core optimizers, which keep one row in every mode. Later draws (non-default flags),
  other dtypes' repeats and the float64 references' repeats run in the slow lane.
  """
  eager = {c.name for c in cases if "eager" in c.modes}
  seen, fast = set(), set()
  for i, case in enumerate(cases):
    for mode in case.modes:
      key = (case.name, case.reference, case.options.get("dtype"), mode)
      if key in seen or mode in case.slow:
        continue
      seen.add(key)
      plain = case.reference == "optax" and "dtype" not in case.options
      if case.name not in CORE and plain and mode != "eager" and (case.name in eager or mode == "pmap"):
        continue
      fast.add((i, mode))
  return fast


def _params():
  out, draws, fast = [], collections.Counter(), fast_lane()
  for i, case in enumerate(PARITY):
    draw = draws[case.name]
    draws[case.name] += 1
    for mode in case.modes:
      marks = [] if (i, mode) in fast else [pytest.mark.slow]
      out.append(pytest.param(case, mode, id=f"{case.module}:{case.name}-{draw}-{mode}", marks=marks))
  return out


def assert_matches_optax_float64(jopt_tx, make_optax_tx, *, steps=20, apply_scale=1.0, rtol=1e-5, atol=1e-6):
  """jopt in float32 against optax in float64 (jax's x64 mode), step by step."""
  params = random_tree(jax.random.PRNGKey(100))
  grads = gradient_sequence(params, steps, 0)
  ours = trajectory(jopt_tx, params, grads, "jit", True, None, apply_scale)
  with jax.enable_x64(True):
    to64 = lambda t: jax.tree.map(lambda x: jnp.asarray(np.asarray(x), jnp.float64), t)  # noqa: E731
    ref = trajectory(make_optax_tx(), to64(params), [to64(g) for g in grads], "jit", True, None, apply_scale)
    assert jax.tree.leaves(ref[-1][0])[0].dtype == jnp.float64
    ref = jax.tree.map(np.asarray, ref)
  for t, ((p1, u1), (p2, u2)) in enumerate(zip(ours, ref)):
    assert all(u.dtype == jnp.float32 for u in jax.tree.leaves(u1))
    assert_trees_close(u1, u2, rtol, atol, f"updates at step {t}")
    assert_trees_close(p1, p2, rtol, atol, f"params at step {t}")


@pytest.mark.parametrize("case,mode", _params())
def test_matches_reference(case: Case, mode: str):
  ours, theirs = getattr(jopt, case.name), getattr(optax, case.name)
  if case.reference == "optax":
    run_case(case, mode, ours, theirs)
  elif case.reference == "optax-float64":
    assert mode == "jit", "float64 references run under jit"
    assert_matches_optax_float64(ours(**case.kwargs), lambda: theirs(**case.kwargs), **case.options)
  else:
    raise ValueError(f"unknown reference {case.reference!r}")


def test_fast_lane_covers_every_name():
  fast = fast_lane()
  assert {PARITY[i].name for i, _ in fast} == {c.name for c in PARITY}
  for name in CORE:
    assert {m for i, m in fast if PARITY[i].name == name} == {"eager", "jit", "pmap"}, name


def test_table_is_well_formed():
  modules = {case.module for case in PARITY}
  for case in PARITY:
    assert hasattr(jopt, case.name) and case.name in jopt.__all__, case.name
    assert hasattr(optax, case.name), case.name
    assert set(case.modes) <= {"eager", "jit", "pmap"} and set(case.slow) <= set(case.modes), case
    assert case.reference in ("optax", "optax-float64"), case
  # Each module named in the table exists under jopt/_src.
  import importlib  # pylint: disable=import-outside-toplevel
  for module in modules:
    importlib.import_module("jopt._src." + module.replace("/", "."))
  # Every optimizer the cross-cutting tests use has reference rows, and every mode is in the table.
  names = {case.name for case in PARITY}
  assert set(OPTIMIZERS) <= names, set(OPTIMIZERS) - names
  expected = {
      "scale_by_rss", "scale_by_rms", "scale_by_stddev", "scale_by_adadelta", "scale_by_adamax",
      "scale_by_amsgrad", "scale_by_radam", "scale_by_belief", "scale_by_yogi", "nadam", "nadamw",
      "adamax", "adamaxw", "amsgrad", "radam", "adabelief", "yogi", "adagrad", "rmsprop", "adadelta",
  }
  assert expected <= names, expected - names
  for name in OPTIMIZERS:
    assert {m for c in PARITY if c.name == name for m in c.modes} >= {"jit", "eager", "pmap"}, name
