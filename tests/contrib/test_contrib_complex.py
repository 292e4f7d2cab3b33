"""`split_real_and_imaginary` against optax.contrib, and against the optimizer run on real pairs."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
from jopt._src.contrib import complex as jcomplex
from parity import assert_trajectories_match, random_tree


def _mixed_params():
  params = random_tree(jax.random.PRNGKey(8), jnp.complex64)
  params["real"] = jnp.arange(3.0)
  return params


@pytest.mark.parametrize("mode", ["jit", "eager"])
def test_split_real_and_imaginary_matches_optax(mode):
  assert_trajectories_match(
      jcomplex.split_real_and_imaginary(jopt.adam(0.05)),
      optax.contrib.split_real_and_imaginary(optax.adam(0.05)),
      steps=10 if mode == "jit" else 4, mode=mode, params=_mixed_params(),
  )


def test_split_equals_the_optimizer_on_real_and_imaginary_parts():
  # Adam on z = a + ib through the wrapper == Adam on the real pair (a, b).
  z = jnp.array([1.0 + 2.0j, -0.5 + 0.1j])
  gs = [jnp.array([0.3 - 1.0j, 2.0 + 0.5j]), jnp.array([-0.1 + 0.2j, 0.4 - 0.4j])]
  tx = jcomplex.split_real_and_imaginary(jopt.adam(0.1))
  ref = jopt.adam(0.1)
  s, r = tx.init(z), ref.init((z.real, z.imag))
  for g in gs:
    u, s = tx.update(g, s, z)
    (ua, ub), r = ref.update((g.real, g.imag), r)
    np.testing.assert_allclose(u, ua + 1j * ub, rtol=1e-6)
    assert u.dtype == jnp.complex64


def test_split_passes_real_leaves_and_keeps_inner_state_real():
  tx = jcomplex.split_real_and_imaginary(jopt.scale_by_adam())
  state = tx.init({"c": jnp.ones(2, jnp.complex64), "r": jnp.ones(2)})
  assert all(not jnp.iscomplexobj(x) for x in jax.tree.leaves(state))
  assert isinstance(state.inner_state.mu["c"], jcomplex.SplitRealAndImaginaryArrays)
