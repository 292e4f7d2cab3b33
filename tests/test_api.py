"""The public API: every optimizer exported, no optax math in the library, abstract init (signatures: test_optax_namespace.py)."""

import ast
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
from cases import OPTIMIZERS, small_tree

JOPT_DIR = pathlib.Path(jopt.__file__).parent


def test_every_optimizer_is_exported():
  missing = [n for n in OPTIMIZERS if not hasattr(jopt, n)]
  assert not missing, f"jopt lacks optimizers {missing}"


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
