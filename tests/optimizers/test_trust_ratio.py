"""lamb, lars, novograd beyond the reference table (`optimizers/trust_ratio` rows of `cases.PARITY`)."""

import jax
import jax.numpy as jnp
import optax

import jopt


def test_novograd_has_no_cond():
  """optax's novograd switches on the first step with `lax.cond` (fresh branches each eager call, so it
  recompiles every step); jopt's switch is a scalar `where`."""
  params = {"w": jnp.ones((3, 2))}

  def prims(lib):
    tx = lib.novograd(1e-2)
    jaxpr = jax.make_jaxpr(lambda p, s: tx.update(p, s, p))(params, tx.init(params))
    return {e.primitive.name for e in jaxpr.jaxpr.eqns}

  assert "cond" in prims(optax)
  assert "cond" not in prims(jopt)
