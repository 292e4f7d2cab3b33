"""jopt.perturbations (make_perturbed_fun, Normal, Gumbel) vs optax 0.2.8 and the Gaussian-smoothed ReLU in closed form."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.scipy.stats import norm

import jopt.perturbations as jpt


def _params(fn):
  return [(p.name, p.kind, p.default if not hasattr(p.default, "sample") else type(p.default).__name__)
          for p in inspect.signature(fn).parameters.values()]


def test_namespace_and_signatures_match_optax():
  assert set(jpt.__all__) == {n for n in dir(optax.perturbations) if not n.startswith("_")}
  assert _params(jpt.make_perturbed_fun) == _params(optax.perturbations.make_perturbed_fun)
  for cls in ("Normal", "Gumbel"):
    for method in ("sample", "log_prob"):
      assert _params(getattr(getattr(jpt, cls), method)) == _params(getattr(getattr(optax.perturbations, cls), method))


def test_noise_distributions_match_optax():
  z = jnp.linspace(-3.0, 3.0, 7)
  key = jax.random.key(0)
  for cls in ("Normal", "Gumbel"):
    ours, theirs = getattr(jpt, cls)(), getattr(optax.perturbations, cls)()
    np.testing.assert_array_equal(ours.log_prob(z), theirs.log_prob(z))
    for shape, dtype in (((), float), ((2, 3), jnp.bfloat16)):
      a, b = ours.sample(key, shape, dtype), theirs.sample(key, shape, dtype)
      assert a.dtype == b.dtype and a.shape == b.shape
      np.testing.assert_array_equal(a, b)


def argmax_one_hot(tree):
  """A piecewise-constant function of a tree: one-hot of the argmax of each leaf."""
  return jax.tree.map(lambda x: jax.nn.one_hot(jnp.argmax(x), x.size).reshape(x.shape), tree)


def test_values_and_gradients_match_optax(noise="Gumbel", use_baseline=True):
  x = {"a": jnp.array([0.3, -0.2, 0.1]), "b": jnp.array([[0.5, 0.4]])}
  key = jax.random.key(1)
  make = lambda mod: mod.make_perturbed_fun(argmax_one_hot, 64, 0.5, getattr(mod, noise)(), use_baseline)
  ours, theirs = make(jpt), make(optax.perturbations)

  def run(f):
    # One compilation per implementation: the perturbed outputs and a gradient through them.
    def loss(k, t):
      out = f(k, t)
      return jnp.sum(out["a"] * jnp.arange(3.0)) + jnp.sum(out["b"] ** 2), out
    return jax.jit(jax.grad(loss, argnums=1, has_aux=True))(key, x)

  (g_ours, a), (g_theirs, b) = run(ours), run(theirs)
  for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)
  for u, v in zip(jax.tree.leaves(g_ours), jax.tree.leaves(g_theirs)):
    np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("use_baseline", [True, False])
def test_smoothed_relu_matches_closed_form(use_baseline):
  # E[max(x + s Z, 0)] = x Phi(x/s) + s phi(x/s), derivative Phi(x/s), for Z ~ N(0, 1).
  x, s = jnp.array([-0.3, 0.0, 0.4]), 0.5
  fn = jpt.make_perturbed_fun(lambda t: jax.nn.relu(t), 20000, s, jpt.Normal(), use_baseline)
  value, grad = jax.jit(jax.value_and_grad(lambda k, t: jnp.sum(fn(k, t)), argnums=1))(jax.random.key(2), x)
  np.testing.assert_allclose(value, jnp.sum(x * norm.cdf(x / s) + s * norm.pdf(x / s)), atol=0.02)
  np.testing.assert_allclose(grad, norm.cdf(x / s), atol=0.05 if use_baseline else 0.15)
