"""Adam's relatives and RMSprop as optimizers: what the reference table does not cover: optax's partial
signatures, traced hyperparameters, where optax's float32 is off, bf16 moments.

Step-by-step parity with optax: the `optimizers/adaptive` and `optimizers/rmsprop` rows of
`cases.PARITY` (run by tests/test_reference_cases.py).
"""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
from parity import assert_trees_close, gradient_sequence, random_tree, trajectory


@pytest.mark.parametrize("name", ["nadam", "nadamw"])
def test_nadam_signature_matches_optax_partial(name):
  """optax's nadam/nadamw are functools.partial(adam[w], nesterov=True), skipped by the generic signature test."""
  theirs = [(p.name, p.kind, p.default) for p in inspect.signature(getattr(optax, name)).parameters.values()]
  ours = [(p.name, p.kind, p.default) for p in inspect.signature(getattr(jopt, name)).parameters.values()]
  assert ours[: len(theirs)] == theirs
  assert [n for n, _, _ in ours[len(theirs):]] == ["nu_dtype"]


@pytest.mark.parametrize("name,hyper,flags", [
    ("radam", dict(b2=0.9, threshold=5.0), {}),
    ("rmsprop", dict(decay=0.8, initial_scale=0.5), dict(centered=True, bias_correction=True)),
])
def test_traced_hyperparameters(name, hyper, flags):
  """Hyperparameters passed as traced arrays (build-time checks and float64 paths skipped) match optax."""
  params = {"w": jnp.linspace(-1.0, 1.0, 6).reshape(2, 3), "b": jnp.array([0.5, -0.2])}
  grads = jax.tree.map(lambda x: 0.3 * x + 0.1, params)

  def run(lib, **kwargs):
    tx = getattr(lib, name)(**kwargs, **flags)
    state = tx.init(params)
    for _ in range(8):
      updates, state = tx.update(grads, state, params)
    return updates

  ours = jax.jit(lambda lr, h: run(jopt, learning_rate=lr, **h))(
      jnp.float32(0.01), {k: jnp.float32(v) for k, v in hyper.items()})
  assert_trees_close(ours, run(optax, learning_rate=0.01, **hyper), 1e-5, 1e-7, name)


def test_radam_optax_float32_is_off_where_jopt_is_not():
  """The default radam differs from optax float32 by more than the parity tolerance (optax's rho)."""
  params = jnp.array([0.5, -1.0, 2.0])
  grads = gradient_sequence(params, 6, 0)
  ours = trajectory(jopt.radam(1e-2), params, grads)
  ref = trajectory(optax.radam(1e-2), params, grads)
  np.testing.assert_allclose(ours[4][1], ref[4][1], rtol=1e-5)  # step 5: not rectified, equal
  rel = np.max(np.abs(ours[5][1] - ref[5][1]) / np.abs(ref[5][1]))
  assert rel > 1e-3  # step 6, the first rectified step


# --- moment dtypes (jopt's nu_dtype, with mu_dtype) ------------------------------------------

NU_DTYPE = ["nadam", "nadamw", "amsgrad", "adabelief", "radam"]


def _moments(state):
  first = state[0]._asdict()
  return {k: v for k, v in first.items() if k != "count"}


def _float_bytes(state):
  return sum(x.nbytes for x in jax.tree.leaves(state) if jnp.issubdtype(x.dtype, jnp.floating))


@pytest.mark.parametrize("name", [n if n in ("nadam", "radam") else pytest.param(n, marks=pytest.mark.slow)
                                  for n in NU_DTYPE])
def test_bf16_moments(name):
  params = random_tree(jax.random.PRNGKey(100))
  grads = gradient_sequence(params, 12, 0)
  ref_tx = getattr(jopt, name)(1e-2)
  low_tx = getattr(jopt, name)(1e-2, mu_dtype=jnp.bfloat16, nu_dtype=jnp.bfloat16)
  nu_tx = getattr(jopt, name)(1e-2, nu_dtype=jnp.bfloat16)

  for leaf in jax.tree.leaves(_moments(low_tx.init(params))):
    assert leaf.dtype == jnp.bfloat16
  nu_only = _moments(nu_tx.init(params))
  for key, tree_ in nu_only.items():
    want = jnp.float32 if key == "mu" else jnp.bfloat16
    assert all(x.dtype == want for x in jax.tree.leaves(tree_)), key
  assert _float_bytes(low_tx.init(params)) * 2 == _float_bytes(ref_tx.init(params))
  # The default keeps optax's state dtypes.
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(_moments(ref_tx.init(params))))

  ref = trajectory(ref_tx, params, grads)
  low = trajectory(low_tx, params, grads)
  _, state = jax.eval_shape(lambda p, s, g: low_tx.update(g, s, p), params, low_tx.init(params), grads[0])
  assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(_moments(state)))
  for (p_low, u_low), (p_ref, _) in zip(low, ref):
    assert all(u.dtype == jnp.float32 for u in jax.tree.leaves(u_low))
    assert_trees_close(p_low, p_ref, rtol=1e-2, atol=5e-3, what=f"{name} bf16 moments")
