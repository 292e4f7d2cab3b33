"""jopt.losses has optax.losses' names and signatures; the top-level aliases; clear input errors."""

import inspect

import jax
import jax.numpy as jnp
import optax
import optax.losses as optax_losses
import pytest

import jopt
from jopt import losses
from loss_parity import assert_same_signature

OPTAX_NAMES = sorted(
    n for n in dir(optax_losses)
    if not n.startswith("_") and not inspect.ismodule(getattr(optax_losses, n))
)
# Loss names optax also exposes at its top level (optax.softmax_cross_entropy, ...).
TOP_LEVEL = sorted(n for n in OPTAX_NAMES if getattr(optax, n, None) is getattr(optax_losses, n))


def test_same_public_names_as_optax():
  assert sorted(losses.__all__) == OPTAX_NAMES
  assert len(OPTAX_NAMES) == 32
  for name in OPTAX_NAMES:
    assert callable(getattr(losses, name)), name


@pytest.mark.parametrize("name", OPTAX_NAMES)
def test_signature(name):
  assert_same_signature(getattr(losses, name), getattr(optax_losses, name))
  assert getattr(losses, name).__doc__, name


def test_fenchel_young_loss_signature():
  ours = losses.make_fenchel_young_loss(jax.nn.logsumexp)
  theirs = optax_losses.make_fenchel_young_loss(jax.nn.logsumexp)
  assert_same_signature(ours, theirs)


def test_top_level_aliases():
  """Wired by the lead in jopt/__init__.py: jopt.<name> is jopt.losses.<name> for optax's 19."""
  assert len(TOP_LEVEL) == 19
  present = [n for n in TOP_LEVEL if hasattr(jopt, n)]
  if not present:
    pytest.skip("top-level loss aliases not wired into jopt/__init__.py yet")
  assert present == TOP_LEVEL
  for name in TOP_LEVEL:
    assert getattr(jopt, name) is getattr(losses, name), name


X = jnp.ones((4, 5))
LABELS = jnp.zeros((4,), jnp.int32)

# (function, args, kwargs, exception type, text that must appear besides the function's name)
BAD_INPUTS = [
    ("softmax_cross_entropy", (X, jnp.ones((4, 3))), {}, ValueError, "broadcast"),
    ("softmax_cross_entropy", (X.astype(jnp.int32), X), {}, TypeError, "logits"),
    ("safe_softmax_cross_entropy", (X, jnp.ones((3, 5))), {}, ValueError, "broadcast"),
    ("softmax_cross_entropy_with_integer_labels", (X, jnp.zeros((3,), jnp.int32)), {},
     ValueError, "labels"),
    ("softmax_cross_entropy_with_integer_labels", (X, jnp.zeros((4, 5), jnp.int32)), {},
     ValueError, "labels"),
    ("softmax_cross_entropy_with_integer_labels", (X, jnp.zeros((4,))), {}, TypeError, "integer"),
    ("poly_loss_cross_entropy", (X, jnp.ones((4, 3))), {}, ValueError, "broadcast"),
    ("sigmoid_binary_cross_entropy", (X, jnp.ones((4, 3))), {}, ValueError, "broadcast"),
    ("sigmoid_focal_loss", (X, jnp.ones((4, 3))), {}, ValueError, "broadcast"),
    ("multiclass_hinge_loss", (X, jnp.zeros((3,), jnp.int32)), {}, ValueError, "labels"),
    ("multiclass_sparsemax_loss", (X, jnp.zeros((3,), jnp.int32)), {}, ValueError, "labels"),
    ("kl_divergence", (X, jnp.ones((4, 3))), {}, ValueError, "broadcast"),
    ("squared_error", (X, jnp.ones((4, 1))), {}, ValueError, "same shape"),
    ("l2_loss", (X, jnp.ones((5,))), {}, ValueError, "same shape"),
    ("cosine_similarity", (X, jnp.ones((4, 3))), {}, ValueError, "broadcast"),
    ("ctc_loss", (jnp.ones((2, 6, 4)), jnp.zeros((2, 5)), jnp.zeros((2, 3), jnp.int32),
                  jnp.zeros((2, 3))), {}, ValueError, "logit_paddings"),
    ("ctc_loss", (jnp.ones((2, 6)), jnp.zeros((2, 6)), jnp.zeros((2, 3), jnp.int32),
                  jnp.zeros((2, 3))), {}, ValueError, "rank 3"),
    ("ntxent", (X, jnp.zeros((3,), jnp.int32)), {}, ValueError, "leading dimension"),
    ("ranking_softmax_loss", (X, jnp.ones((4, 3))), {}, ValueError, "broadcast"),
    ("dice_loss", (jnp.ones((2, 4, 3)), jnp.ones((2, 4, 2))), {}, ValueError, "same shape"),
    ("dice_loss", (jnp.ones((2, 4, 3)), jnp.ones((2, 4, 3))), {"reduction": "max"}, ValueError,
     "reduction"),
]


@pytest.mark.parametrize("name, args, kwargs, error, text", BAD_INPUTS,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD_INPUTS)])
def test_bad_inputs_raise_naming_the_loss(name, args, kwargs, error, text):
  """optax raises (the same exception type, or a jax-internal one); jopt names the loss."""
  with pytest.raises(error, match=f"{name}.*{text}|{text}.*{name}"):
    getattr(losses, name)(*args, **kwargs)
  with pytest.raises(Exception):
    getattr(optax_losses, name)(*args, **kwargs)
