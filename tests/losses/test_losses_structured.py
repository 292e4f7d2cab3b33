"""Ranking, segmentation, self-supervised and Fenchel-Young losses vs optax 0.2.8."""

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp
import numpy as np
import optax.losses as optax_losses
import pytest

from jopt import losses
from loss_parity import case
from loss_parity import compare


def _normal(rng, shape, scale=1.0):
  return jnp.asarray(scale * rng.standard_normal(shape), jnp.float32)


def _fns(name):
  return getattr(losses, name), getattr(optax_losses, name)


def test_ranking_softmax_loss():
  rng = np.random.default_rng(0)
  labels = jnp.asarray(rng.integers(0, 3, (4, 5)), jnp.float32)
  where = jnp.asarray(rng.random((4, 5)) < 0.7).at[1].set(False)  # list 1 has no valid item
  weights = jnp.asarray(rng.random((4, 5)), jnp.float32)
  cases = []
  for reduce_fn in (jnp.mean, jnp.sum, None):
    cases += [
        case(_normal(rng, (4, 5)), labels, reduce_fn=reduce_fn),
        case(_normal(rng, (4, 5)), labels, where=where, weights=weights, reduce_fn=reduce_fn),
    ]
  cases += [
      case(_normal(rng, (5,)), labels[0]),
      case(_normal(rng, (2, 3, 5)), jnp.asarray(rng.integers(0, 3, (2, 3, 5)))),  # int labels
      case(_normal(rng, (2, 5)), labels[:2], where=jnp.zeros((2, 5), bool)),  # nothing valid: 0
  ]
  values = compare(*_fns("ranking_softmax_loss"), cases, argnums=(0,))
  assert values[-1] == 0.0


@pytest.mark.parametrize("apply_softmax", [True, False])
def test_dice_loss(apply_softmax):
  rng = np.random.default_rng(1)
  targets = jax.nn.one_hot(rng.integers(0, 3, (2, 4, 4)), 3)
  make = lambda: _normal(rng, (2, 4, 4, 3), 2.0)
  preds = make if apply_softmax else (lambda: jax.nn.softmax(make()))
  cases = [
      case(preds(), targets, apply_softmax=apply_softmax, alpha=0.3, beta=0.7, smooth=0.1),
      case(preds(), targets, apply_softmax=apply_softmax, reduction="sum", ignore_background=True),
      case(preds(), targets, apply_softmax=apply_softmax, reduction="none",
           class_weights=jnp.array([0.2, 1.0, 3.0])),
  ]
  if apply_softmax:
    cases += [case(preds(), targets), case(preds(), targets, axis=(1,))]
  if apply_softmax:  # a binary map without its channel axis (sigmoid)
    cases.append(case(_normal(rng, (2, 4, 4)), targets[..., 1:2]))
  # optax checks the sums with a Python `if`: it only runs un-jitted with apply_softmax=False.
  compare(*_fns("dice_loss"), cases, argnums=(0,), jit_optax=apply_softmax)


def test_generalized_and_binary_dice_losses():
  rng = np.random.default_rng(2)
  targets = jax.nn.one_hot(rng.integers(0, 3, (2, 4, 4)), 3)
  compare(*_fns("multiclass_generalized_dice_loss"), [
      case(_normal(rng, (2, 4, 4, 3), 2.0), targets),
      case(_normal(rng, (2, 4, 4, 3), 2.0), targets, smooth=0.5, ignore_background=True),
  ], argnums=(0,))
  compare(*_fns("multiclass_generalized_dice_loss"), [
      case(jax.nn.softmax(_normal(rng, (2, 4, 4, 3))), targets, apply_softmax=False),
  ], argnums=(0,), jit_optax=False)
  binary = jnp.asarray(rng.integers(0, 2, (2, 4, 4)), jnp.float32)
  compare(*_fns("binary_dice_loss"), [
      case(_normal(rng, (2, 4, 4), 2.0), binary),
      case(_normal(rng, (2, 4, 4, 1), 2.0), binary[..., None], smooth=0.1),
  ], argnums=(0,))


def test_binary_dice_loss_with_probabilities():
  """Differs from optax: probabilities are accepted (optax's sum-to-1 check rejects them)."""
  rng = np.random.default_rng(3)
  probs = jax.nn.sigmoid(_normal(rng, (2, 4, 4), 2.0))
  targets = jnp.asarray(rng.integers(0, 2, (2, 4, 4)), jnp.float32)
  with pytest.raises(ValueError):
    optax_losses.binary_dice_loss(probs, targets, apply_sigmoid=False)
  ours = losses.binary_dice_loss(probs, targets, apply_sigmoid=False)
  # Closed form: Dice over the spatial axes, 1 - (2 I + s) / (sum p + sum t + 2 s) with s = 1.
  inter = jnp.sum(probs * targets, (1, 2))
  expected = 1 - (2 * inter + 2) / (jnp.sum(probs, (1, 2)) + jnp.sum(targets, (1, 2)) + 2)
  np.testing.assert_allclose(ours, expected, rtol=1e-6)
  # And dice_loss(apply_softmax=False) works under jit (optax: tracer error).
  multi = jax.nn.softmax(_normal(rng, (2, 4, 4, 3)))
  onehot = jax.nn.one_hot(rng.integers(0, 3, (2, 4, 4)), 3)
  np.testing.assert_allclose(
      jax.jit(lambda p: losses.dice_loss(p, onehot, apply_softmax=False))(multi),
      optax_losses.dice_loss(multi, onehot, apply_softmax=False), rtol=1e-6)
  with pytest.raises(ValueError, match="dice_loss"):
    losses.dice_loss(multi * 2, onehot, apply_softmax=False)


def test_ntxent():
  rng = np.random.default_rng(4)
  cases = [
      case(_normal(rng, (6, 3)), jnp.array([0, 0, 1, 1, 2, 2])),
      case(_normal(rng, (6, 3)), jnp.array([0, 1, 0, 1, 1, 3]), temperature=0.5),
  ]
  compare(*_fns("ntxent"), cases, argnums=(0,))


def test_triplet_margin_loss():
  rng = np.random.default_rng(5)
  triple = lambda *s: tuple(_normal(rng, s) for _ in range(3))
  cases = [
      case(*triple(4, 3)),
      case(*triple(2, 3, 4), margin=0.5, eps=1e-3),
      case(*triple(3, 4), 0, 4, 2.0),  # axis=0, norm_degree=4, margin=2
      case(*triple(5, 3), norm_degree=2.0),
  ]
  compare(*_fns("triplet_margin_loss"), cases, argnums=(0, 1, 2))


def test_make_fenchel_young_loss():
  rng = np.random.default_rng(6)

  def scaled_logsumexp(scores, temperature=1.0):
    return temperature * logsumexp(scores / temperature)

  ours, theirs = (m.make_fenchel_young_loss(logsumexp) for m in (losses, optax_losses))
  targets = jax.nn.softmax(_normal(rng, (4, 5)))
  compare(ours, theirs, [
      case(_normal(rng, (4, 5)), targets),
      case(_normal(rng, (2, 3, 5)), jax.nn.softmax(_normal(rng, (2, 3, 5)))),
  ], argnums=(0, 1))
  ours_t, theirs_t = (m.make_fenchel_young_loss(scaled_logsumexp) for m in (losses, optax_losses))
  compare(ours_t, theirs_t, [case(_normal(rng, (4, 5)), targets, temperature=0.5)], argnums=(0,),
          eager=0)
  # Closed form: with logsumexp it is the softmax cross-entropy.
  scores = _normal(rng, (4, 5))
  np.testing.assert_allclose(ours(scores, targets),
                             optax_losses.softmax_cross_entropy(scores, targets), rtol=1e-5)
