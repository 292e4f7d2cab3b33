"""Classification losses vs optax 0.2.8: cross-entropies, binary and multiclass margins, KL, CTC."""

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


def _probs(rng, shape, axis=-1):
  return jax.nn.softmax(_normal(rng, shape), axis=axis)


def _one_hot(rng, shape):
  return jax.nn.one_hot(rng.integers(0, shape[-1], shape[:-1]), shape[-1])


def _mask(rng, shape, axis=-1):
  """A random boolean mask with at least one True along `axis`."""
  m = rng.random(shape) < 0.6
  first = np.zeros(shape, bool)
  np.put_along_axis(first, np.zeros(tuple(1 if a == axis % len(shape) else s
                                          for a, s in enumerate(shape)), int), True, axis)
  return jnp.asarray(m | first)


def _fns(name):
  return getattr(losses, name), getattr(optax_losses, name)


def test_softmax_cross_entropy():
  rng = np.random.default_rng(0)
  cases = []
  for shape in SHAPES:
    cases.append(case(_normal(rng, shape), _probs(rng, shape)))
    cases.append(case(_normal(rng, shape), _one_hot(rng, shape)))
  cases += [
      case(_normal(rng, (4, 5)), _probs(rng, (5,))),  # labels broadcast
      case(_normal(rng, (4, 5)), _probs(rng, (4, 5), 0), axis=0),
      case(_normal(rng, (2, 3, 5)), _probs(rng, (2, 3, 5)), axis=(1, 2)),
      case(_normal(rng, (4, 5)), _probs(rng, (4, 5)), where=_mask(rng, (4, 5))),
      case(_normal(rng, (4, 5)), _probs(rng, (4, 5)), where=jnp.array([True, False, True, True])),
      case(_normal(rng, (2, 3, 5)), _probs(rng, (2, 3, 5)), axis=(1, 2),
           where=jnp.array([True, True])),
      case(_normal(rng, (2, 3, 5)), _probs(rng, (2, 3, 5)), where=_mask(rng, (2, 3, 5))),
  ]
  compare(*_fns("softmax_cross_entropy"), cases, argnums=(0, 1))


def test_cross_entropies_with_minus_inf_logits():
  """-inf logits with 0 labels: nan for the plain loss, finite for the safe one; same gradients."""
  logits = jnp.array([[1.0, -jnp.inf, 0.5], [0.2, 0.3, -1.0], [-jnp.inf, 2.0, -jnp.inf]])
  labels = jnp.array([[0.7, 0.0, 0.3], [0.0, 0.5, 0.5], [0.0, 1.0, 0.0]])
  (plain,) = compare(*_fns("softmax_cross_entropy"), [case(logits, labels)], argnums=(0, 1))
  (safe,) = compare(*_fns("safe_softmax_cross_entropy"), [case(logits, labels)], argnums=(0, 1))
  assert np.isnan(plain[0]) and np.all(np.isfinite(safe))
  compare(*_fns("softmax_cross_entropy_with_integer_labels"),
          [case(logits, jnp.array([0, 2, 1]))], eager=0)


def test_safe_softmax_cross_entropy():
  rng = np.random.default_rng(1)
  cases = [case(_normal(rng, s), _probs(rng, s)) for s in SHAPES]
  cases.append(case(_normal(rng, (4, 5)), _probs(rng, (5,))))
  compare(*_fns("safe_softmax_cross_entropy"), cases, argnums=(0, 1))


def test_safe_softmax_cross_entropy_integer_one_hot_labels():
  """Differs from optax: jax.grad works with integer one-hot labels (optax: float0 TypeError)."""
  rng = np.random.default_rng(13)
  logits, labels = _normal(rng, (4, 5)), jnp.asarray(rng.integers(0, 5, (4,)))
  one_hot = jax.nn.one_hot(labels, 5, dtype=jnp.int32)
  grad_fn = lambda fn: jax.grad(lambda x: fn(x, one_hot).sum())
  with pytest.raises(TypeError):
    grad_fn(optax_losses.safe_softmax_cross_entropy)(logits)
  value, grad = jax.jit(jax.value_and_grad(lambda x: losses.safe_softmax_cross_entropy(
      x, one_hot).sum()))(logits)
  np.testing.assert_allclose(
      value, optax_losses.softmax_cross_entropy_with_integer_labels(logits, labels).sum(),
      rtol=1e-6)
  np.testing.assert_allclose(grad, jax.nn.softmax(logits) - one_hot, atol=1e-6)


def test_softmax_cross_entropy_with_integer_labels():
  rng = np.random.default_rng(2)
  cases = [case(_normal(rng, s), jnp.asarray(rng.integers(0, s[-1], s[:-1]))) for s in SHAPES]
  cases += [
      case(_normal(rng, (5, 4)), jnp.asarray(rng.integers(0, 5, (4,))), axis=0),
      case(_normal(rng, (2, 3, 4)), jnp.asarray(rng.integers(0, 12, (2,))), axis=(1, 2)),
      case(_normal(rng, (3, 2, 4)), jnp.asarray(rng.integers(0, 12, (2,))), axis=(2, 0)),
      case(_normal(rng, (4, 5)), jnp.asarray(rng.integers(0, 5, (4,))),
           where=jnp.array([True, False, True, False])),
      case(_normal(rng, (2, 3, 4)), jnp.asarray(rng.integers(0, 12, (2,))), axis=(1, 2),
           where=_mask(rng, (2, 3, 4))),
      case(_normal(rng, (4, 5)), jnp.asarray(rng.integers(0, 5, (1,))),),  # broadcast labels
  ]
  compare(*_fns("softmax_cross_entropy_with_integer_labels"), cases)


def test_poly_loss_cross_entropy():
  rng = np.random.default_rng(3)
  cases = [case(_normal(rng, s), _probs(rng, s)) for s in SHAPES]
  cases += [
      case(_normal(rng, (4, 5)), _probs(rng, (4, 5), 0), epsilon=-1.0, axis=0),
      case(_normal(rng, (4, 5)), _one_hot(rng, (4, 5)), epsilon=0.5, where=_mask(rng, (4, 5))),
  ]
  compare(*_fns("poly_loss_cross_entropy"), cases, argnums=(0, 1))


def test_sigmoid_binary_cross_entropy():
  rng = np.random.default_rng(4)
  cases = [case(_normal(rng, s), jnp.asarray(rng.random(s), jnp.float32)) for s in SHAPES]
  cases += [
      case(_normal(rng, (4, 5), 30.0), jnp.asarray(rng.integers(0, 2, (4, 5)), jnp.float32)),
      case(_normal(rng, (4, 5)), jnp.asarray(rng.random((5,)), jnp.float32)),
  ]
  compare(*_fns("sigmoid_binary_cross_entropy"), cases, argnums=(0, 1))
  # Integer labels are cast to the logits' dtype.
  compare(*_fns("sigmoid_binary_cross_entropy"),
          [case(_normal(rng, (4, 5)), jnp.asarray(rng.integers(0, 2, (4, 5))))])


def test_sigmoid_focal_loss():
  rng = np.random.default_rng(5)
  hard = lambda s: jnp.asarray(rng.integers(0, 2, s), jnp.float32)
  cases = [
      case(_normal(rng, (4, 5)), hard((4, 5))),
      case(_normal(rng, (2, 3, 5)), jnp.asarray(rng.random((2, 3, 5)), jnp.float32), alpha=0.75),
      case(_normal(rng, (4, 5), 20.0), hard((4, 5)), alpha=0.25, gamma=0.5),
      case(_normal(rng, (4, 5)), hard((4, 5)), gamma=0.0),
  ]
  compare(*_fns("sigmoid_focal_loss"), cases, argnums=(0,))


@pytest.mark.parametrize("name", ["hinge_loss", "perceptron_loss", "sparsemax_loss"])
def test_binary_margin_losses(name):
  rng = np.random.default_rng(6)
  cases = []
  for s in SHAPES:
    labels = rng.integers(0, 2, s)
    targets = labels if name == "sparsemax_loss" else 2 * labels - 1
    cases.append(case(_normal(rng, s), jnp.asarray(targets, jnp.float32)))
  compare(*_fns(name), cases, argnums=(0,))


@pytest.mark.parametrize(
    "name", ["multiclass_hinge_loss", "multiclass_perceptron_loss", "multiclass_sparsemax_loss"]
)
def test_multiclass_margin_losses(name):
  rng = np.random.default_rng(7)
  cases = [
      case(_normal(rng, (6, 5), 0.3), jnp.asarray(rng.integers(0, 5, (6,)))),  # dense sparsemax
      case(_normal(rng, (4, 5), 10.0), jnp.asarray(rng.integers(0, 5, (4,)))),  # sparse sparsemax
  ]
  if name != "multiclass_sparsemax_loss":  # optax's sparsemax loss takes [batch, classes] only
    cases.append(case(_normal(rng, (2, 3, 5)), jnp.asarray(rng.integers(0, 5, (2, 3)))))
  compare(*_fns(name), cases, argnums=(0,))


def test_multiclass_sparsemax_loss_leading_axes():
  """jopt also takes several (or no) leading axes: the same as the flattened batch."""
  rng = np.random.default_rng(8)
  scores, labels = _normal(rng, (6, 5)), jnp.asarray(rng.integers(0, 5, (6,)))
  fn = losses.multiclass_sparsemax_loss
  flat, leading, single = jax.jit(
      lambda s, l: (fn(s, l), fn(s.reshape(2, 3, 5), l.reshape(2, 3)), fn(s[4], l[4]))
  )(scores, labels)
  np.testing.assert_allclose(leading, flat.reshape(2, 3), rtol=1e-6)
  np.testing.assert_allclose(single, flat[4], rtol=1e-6)


def test_kl_divergences():
  rng = np.random.default_rng(9)
  targets = _probs(rng, (4, 5)).at[0, 1].set(0.0).at[2, 3].set(0.0)  # 0 log 0 = 0
  cases = [case(jax.nn.log_softmax(_normal(rng, s)), _probs(rng, s)) for s in SHAPES]
  cases += [
      case(jax.nn.log_softmax(_normal(rng, (4, 5))), targets),
      case(jax.nn.log_softmax(_normal(rng, (4, 5)), 0), _probs(rng, (4, 5), 0), axis=0),
      case(_normal(rng, (2, 3, 5)), _probs(rng, (2, 3, 5)), axis=(1, 2)),
      case(jax.nn.log_softmax(_normal(rng, (4, 5))), _probs(rng, (4, 5)),
           where=_mask(rng, (4, 5))),
  ]
  for name in ("kl_divergence", "generalized_kl_divergence"):
    compare(*_fns(name), cases, argnums=(0, 1))
  # Log targets: every case but the one with zero targets.
  log_cases = [case(args[0], jnp.log(args[1]), **kw) for args, kw in cases if np.all(args[1] > 0)]
  compare(*_fns("kl_divergence_with_log_targets"), log_cases, argnums=(0, 1))


def test_convex_kl_divergence_is_deprecated_alias():
  rng = np.random.default_rng(10)
  log_p, q, mask = jax.nn.log_softmax(_normal(rng, (4, 5))), _probs(rng, (4, 5)), _mask(rng, (4, 5))
  with pytest.warns(DeprecationWarning, match="generalized_kl_divergence"):
    ours = losses.convex_kl_divergence(log_p, q, -1, mask)
  with pytest.warns(DeprecationWarning):
    theirs = optax_losses.convex_kl_divergence(log_p, q, -1, mask)
  np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def _ctc_inputs(rng, batch=3, time=8, classes=5, max_len=4):
  logits = _normal(rng, (batch, time, classes))
  frames = rng.integers(time // 2, time + 1, batch)
  logit_paddings = jnp.asarray(np.arange(time)[None] >= frames[:, None], jnp.float32)
  lengths = rng.integers(0, max_len + 1, batch)
  lengths[0] = max_len
  labels = rng.integers(1, classes, (batch, max_len))
  labels[0, 1] = labels[0, 0]  # a repeated label needs a blank in between
  label_paddings = jnp.asarray(np.arange(max_len)[None] >= lengths[:, None], jnp.float32)
  return logits, logit_paddings, jnp.asarray(labels), label_paddings


def test_ctc_loss_with_forward_probs():
  rng = np.random.default_rng(11)
  inputs = _ctc_inputs(rng, batch=2, time=6, classes=4, max_len=3)
  compare(*_fns("ctc_loss_with_forward_probs"), [case(*inputs, blank_id=2, log_epsilon=-1e4)],
          argnums=(0,), rtol=1e-5, atol=1e-4, eager=0)


@pytest.mark.slow
def test_ctc_loss_defaults_eager():
  rng = np.random.default_rng(12)
  cases = [case(*_ctc_inputs(rng)), case(*_ctc_inputs(rng, batch=1, time=5, classes=3, max_len=2))]
  compare(*_fns("ctc_loss"), cases, argnums=(0,), rtol=1e-5, atol=1e-4, eager=2)
  # Closed form: one frame, one label -> -log p(label at frame 0).
  logits = jnp.array([[[0.3, 1.2, -0.5]]])
  loss = losses.ctc_loss(logits, jnp.zeros((1, 1)), jnp.array([[1]]), jnp.zeros((1, 1)))
  np.testing.assert_allclose(loss, -jax.nn.log_softmax(logits)[0, 0, 1:2], rtol=1e-6)
