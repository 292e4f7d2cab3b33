"""jopt.second_order (hvp, hessian_diag, fisher_diag) vs optax 0.2.8 and the dense Hessian."""

import inspect
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jopt.second_order as jso


def _params(fn):
  return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_namespace_and_signatures_match_optax():
  assert set(jso.__all__) == {n for n in dir(optax.second_order) if not n.startswith("_")}
  for name in jso.__all__:
    assert _params(getattr(jso, name)) == _params(getattr(optax.second_order, name)), name


def loss(params, inputs, targets):
  """A small non-quadratic regression loss: tanh layer, then a linear readout."""
  hidden = jnp.tanh(inputs @ params["w1"])
  preds = hidden @ params["w2"] + params["b"]
  return jnp.mean((preds - targets) ** 2) + 0.1 * jnp.sum(params["w1"] ** 4)


def _problem(seed):
  k = jax.random.split(jax.random.PRNGKey(seed), 5)
  params = {"w1": jax.random.normal(k[0], (3, 4)), "w2": jax.random.normal(k[1], (4,)), "b": jnp.array(0.3)}
  return params, jax.random.normal(k[2], (8, 3)), jax.random.normal(k[3], (8,))


def _all_three(module, params, x, y, v):
  """hvp, hessian_diag and fisher_diag of `loss`, in one compilation."""
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    return jax.jit(lambda p, x, y, v: (module.hvp(loss, v, p, x, y), module.hessian_diag(loss, p, x, y),
                                       module.fisher_diag(loss, p, x, y)))(params, x, y, v)


def test_curvature_matches_optax_and_dense_hessian(seed=0):
  params, x, y = _problem(seed)
  flat, unravel = jax.flatten_util.ravel_pytree(params)
  dense, grad = jax.jit(lambda f: (jax.hessian(lambda g: loss(unravel(g), x, y))(f),
                                   jax.grad(lambda g: loss(unravel(g), x, y))(f)))(flat)
  v = jax.random.normal(jax.random.PRNGKey(seed + 10), flat.shape)
  hv, diag, fisher = _all_three(jso, params, x, y, v)
  hv_ref, diag_ref, fisher_ref = _all_three(optax.second_order, params, x, y, v)

  assert jax.tree.structure(hv) == jax.tree.structure(params)  # a tree, as optax returns
  hv = jax.flatten_util.ravel_pytree(hv)[0]
  np.testing.assert_allclose(hv, jax.flatten_util.ravel_pytree(hv_ref)[0], rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(hv, dense @ v, rtol=1e-4, atol=1e-4)
  assert diag.shape == fisher.shape == flat.shape
  np.testing.assert_allclose(diag, diag_ref, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(diag, jnp.diagonal(dense), rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(fisher, fisher_ref, rtol=1e-6)
  np.testing.assert_allclose(fisher, grad**2, rtol=1e-4, atol=1e-9)
  # Eager calls agree with the compiled ones.
  np.testing.assert_allclose(jso.fisher_diag(loss, params, x, y), fisher, rtol=1e-4, atol=1e-9)
