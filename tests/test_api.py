"""The public API: optax's signatures on every shared name, no optax math in the library, abstract init."""

import ast
import inspect
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
from cases import OPTIMIZERS, small_tree

JOPT_DIR = pathlib.Path(jopt.__file__).parent


def _shared_functions():
  names = []
  for name in jopt.__all__:
    ours, theirs = getattr(jopt, name), getattr(optax, name, None)
    if theirs is None or inspect.isclass(ours) or not callable(ours) or ours is theirs:
      continue
    if not (inspect.isfunction(ours) and inspect.isfunction(theirs)):
      continue
    names.append(name)
  return names


SHARED = _shared_functions()


def test_every_optimizer_is_exported():
  missing = [n for n in OPTIMIZERS if not hasattr(jopt, n)]
  assert not missing, f"jopt lacks optimizers {missing}"


def _same_default(a, b):
  """Equal values; default functions (optax's may be private) must agree on a range of inputs."""
  if a is b:
    return True
  if inspect.isfunction(a) and inspect.isfunction(b):
    xs = [0, 1, 5, 100, 10_000]
    return all(np.allclose(np.asarray(a(x)), np.asarray(b(x)), rtol=1e-6) for x in xs)
  try:
    return bool(np.all(a == b)) and type(a) is type(b)
  except Exception:  # pylint: disable=broad-except
    return False


@pytest.mark.parametrize("name", SHARED)
def test_signature_matches_optax(name):
  """optax's parameters are a prefix of jopt's, with equal names, kinds and defaults; extras are keyword-only."""
  ours = list(inspect.signature(getattr(jopt, name)).parameters.values())
  theirs = list(inspect.signature(getattr(optax, name)).parameters.values())
  theirs_pos = [p for p in theirs if p.kind != p.KEYWORD_ONLY]
  ours_pos = [p for p in ours if p.kind != p.KEYWORD_ONLY]
  assert [(p.name, p.kind) for p in ours_pos] == [(p.name, p.kind) for p in theirs_pos], name
  ours_by_name = {p.name: p for p in ours}
  for p in theirs:
    assert p.name in ours_by_name, f"{name}: missing parameter {p.name}"
    q = ours_by_name[p.name]
    assert q.kind == p.kind, f"{name}.{p.name}: kind {q.kind} != optax {p.kind}"
    assert _same_default(q.default, p.default), f"{name}.{p.name}: default {q.default!r} != optax {p.default!r}"
  extras = [p for p in ours if p.name not in {t.name for t in theirs}]
  for p in extras:
    assert p.kind == p.KEYWORD_ONLY and p.default is not p.empty, (
        f"{name}: extra parameter {p.name} must be keyword-only with a default"
    )


def test_shared_names_cover_the_core():
  for name in ["sgd", "adam", "chain", "trace", "scale_by_adam", "add_decayed_weights", "masked"]:
    assert name in SHARED


ALLOWED_FROM_OPTAX = {
    "GradientTransformation", "GradientTransformationExtraArgs", "EmptyState", "OptState", "Params",
    "Updates", "Schedule", "ScalarOrSchedule",
}


def test_library_uses_only_optax_base_types():
  offenders = []
  for path in JOPT_DIR.rglob("*.py"):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
      if isinstance(node, ast.Import):
        offenders += [f"{path}: import {a.name}" for a in node.names if a.name.split(".")[0] == "optax"]
      elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "optax":
        if node.module != "optax":
          offenders.append(f"{path}: from {node.module} import ...")
        offenders += [f"{path}: from optax import {a.name}" for a in node.names if a.name not in ALLOWED_FROM_OPTAX]
  assert not offenders, "library code may import only optax's base types:\n" + "\n".join(offenders)


def test_transforms_are_optax_objects():
  tx = jopt.adam(1e-3)
  assert isinstance(tx, optax.GradientTransformation)
  assert isinstance(tx, optax.GradientTransformationExtraArgs)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_abstract_init(name):
  """`jax.eval_shape(tx.init, params)` plans the state without allocating it, and matches the real one."""
  tx = getattr(jopt, name)(**OPTIMIZERS[name])
  params = small_tree()
  abstract = jax.eval_shape(tx.init, params)
  concrete = tx.init(params)
  assert jax.tree.structure(abstract) == jax.tree.structure(concrete)
  for a, c in zip(jax.tree.leaves(abstract), jax.tree.leaves(concrete)):
    assert a.shape == jnp.shape(c) and a.dtype == jnp.asarray(c).dtype


def test_array_hyperparameters_do_not_recompile():
  """Hyperparameters passed as traced arrays: one compilation serves every value, numbers equal optax's."""
  traces = []

  @jax.jit
  def step(lr, b1, params, grads):
    traces.append(1)
    tx = jopt.adam(lr, b1=b1)
    updates, _ = tx.update(grads, tx.init(params), params)
    return updates

  params = small_tree()
  grads = jax.tree.map(lambda x: 0.5 * x + 0.1, params)
  for lr, b1 in [(1e-3, 0.9), (3e-2, 0.5), (0.1, 0.0)]:
    ours = step(jnp.float32(lr), jnp.float32(b1), params, grads)
    ref_tx = optax.adam(lr, b1=b1)
    ref, _ = ref_tx.update(grads, ref_tx.init(params), params)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref)):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  assert len(traces) == 1
