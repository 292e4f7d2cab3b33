"""Regression losses and label smoothing vs optax 0.2.8."""

import jax
import jax.numpy as jnp
import numpy as np
import optax.losses as optax_losses
import pytest

from jopt import losses
from loss_parity import case
from loss_parity import compare

SHAPES = [(4, 5), (2, 3, 5)]


def _normal(rng, shape, scale=2.0):
  return jnp.asarray(scale * rng.standard_normal(shape), jnp.float32)


def _fns(name):
  return getattr(losses, name), getattr(optax_losses, name)


@pytest.mark.parametrize("name", ["squared_error", "l2_loss", "log_cosh", "huber_loss"])
def test_pointwise_regression_losses(name):
  rng = np.random.default_rng(0)
  cases = [case(_normal(rng, s), _normal(rng, s)) for s in SHAPES]
  cases.append(case(_normal(rng, (4, 5))))  # no targets: zeros
  cases.append(case(_normal(rng, (4, 5), 40.0), _normal(rng, (4, 5))))  # large errors
  if name == "huber_loss":
    cases += [
        case(_normal(rng, (4, 5)), _normal(rng, (4, 5)), delta=0.5),
        case(_normal(rng, (4, 5)), _normal(rng, (5,)), delta=2.0),  # targets broadcast
    ]
  if name == "log_cosh":
    cases.append(case(_normal(rng, (4, 5)), _normal(rng, (5,))))
  argnums = (0,) if name != "squared_error" else (0, 1)
  compare(*_fns(name), [c for c in cases if len(c[0]) > 1], argnums=argnums)
  compare(*_fns(name), [c for c in cases if len(c[0]) == 1], argnums=(0,), eager=0)


@pytest.mark.parametrize("name", ["cosine_similarity", "cosine_distance"])
def test_cosine_losses(name):
  rng = np.random.default_rng(1)
  mask = jnp.asarray(rng.random((4, 5)) < 0.7).at[:, 0].set(True)
  cases = [case(_normal(rng, s), _normal(rng, s)) for s in SHAPES]
  cases += [
      case(_normal(rng, (4, 5), 0.01), _normal(rng, (4, 5)), epsilon=0.1),  # the floor binds
      case(_normal(rng, (4, 5)), _normal(rng, (4, 5)), axis=0),
      case(_normal(rng, (2, 3, 5)), _normal(rng, (2, 3, 5)), axis=(1, 2)),
      case(_normal(rng, (4, 5)), _normal(rng, (4, 5)), where=mask),
      case(_normal(rng, (4, 5)), _normal(rng, (5,))),  # broadcast
  ]
  if name == "cosine_distance":  # 1 - cosine_similarity: a few cases suffice
    cases = cases[2:5]
  compare(*_fns(name), cases, argnums=(0, 1))


def test_smooth_labels():
  rng = np.random.default_rng(2)
  one_hot = lambda s: jax.nn.one_hot(rng.integers(0, s[-1], s[:-1]), s[-1])
  mask = jnp.asarray(rng.random((4, 5)) < 0.7).at[:, 0].set(True)
  cases = [case(one_hot(s), alpha) for s, alpha in zip(SHAPES, (0.1, 0.3))]
  cases += [
      case(one_hot((4, 5)), 0.2, axis=0),
      case(one_hot((2, 3, 5)), 0.2, axis=(1, 2)),
      case(one_hot((4, 5)), 0.1, where=mask),
  ]
  compare(*_fns("smooth_labels"), cases, argnums=(0,))
  # Closed form: each row of the smoothed labels sums to 1.
  np.testing.assert_allclose(jnp.sum(losses.smooth_labels(one_hot((4, 5)), 0.3), -1), 1.0,
                             rtol=1e-6)


def _many_losses(module):
  """The most used losses at once (one compile), for the dtype test."""
  def fn(logits, probs, labels):
    return (
        module.softmax_cross_entropy(logits, probs),
        module.safe_softmax_cross_entropy(logits, probs),
        module.softmax_cross_entropy_with_integer_labels(logits, labels),
        module.sigmoid_binary_cross_entropy(logits, probs),
        module.sigmoid_focal_loss(logits, probs, alpha=0.25),
        module.kl_divergence(logits, probs),
        module.l2_loss(logits, probs),
        module.huber_loss(logits, probs, delta=0.5),
        module.cosine_distance(logits, probs),
    )
  return fn


def test_bfloat16_inputs():
  """Same output dtypes and values as optax for bfloat16 inputs (jit only: eager is slow here)."""
  dtype = jnp.bfloat16
  rng = np.random.default_rng(3)
  logits = _normal(rng, (4, 5)).astype(dtype)
  probs = jax.nn.softmax(_normal(rng, (4, 5))).astype(dtype)
  labels = jnp.asarray(rng.integers(0, 5, (4,)))
  compare(_many_losses(losses), _many_losses(optax_losses), [case(logits, probs, labels)],
          argnums=(0, 1), rtol=2e-2, atol=2e-2, eager=0)
