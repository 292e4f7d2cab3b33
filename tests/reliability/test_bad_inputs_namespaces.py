"""The bad-input table of jopt.keras, jopt.transformers, jopt.torch and jopt.losses (see
`bad_input_table.py` and `loss_input_table.py`): each generated case lands in the category it must.

Fast lane: a few factories of each namespace (every hyperparameter x bad types x bad values x bad
flags) and the losses whose calls are cheap; slow lane: every other factory and loss, one test per
case. Plus: the categorizer can fail (optax's silent and unclear answers on the same inputs), traced
hyperparameters are not checked and keep the frameworks' numbers, and the meanings the frameworks
document (Keras's `clipnorm=None`, `name=None`, optax's one-sided broadcasting) still hold.
"""

import importlib
import types

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt.keras
import jopt.losses
import jopt.torch
import jopt.transformers
import loss_input_table
from bad_input_table import NAMESPACES, categorize, factories, generate

LIBS = {ns: importlib.import_module(f"jopt.{ns}") for ns in NAMESPACES}
LOSSES = types.SimpleNamespace(losses=jopt.losses)

FAST = {
    "keras": ["sgd", "adamw", "exponential_decay", "polynomial_decay", "piecewise_constant_decay"],
    "transformers": ["lr_scheduler", "get_linear_schedule_with_warmup", "get_wsd_schedule",
                     "get_inverse_sqrt_schedule", "get_polynomial_decay_schedule_with_warmup"],
    "torch": ["adam", "sgd", "rmsprop", "scale_by_radam", "multi_step_lr", "step_lr", "linear_lr",
              "cosine_annealing_warm_restarts", "constant_lr"],
}
FAST_LOSSES = [
    "huber_loss", "hinge_loss", "softmax_cross_entropy", "softmax_cross_entropy_with_integer_labels",
    "multiclass_hinge_loss", "kl_divergence", "ntxent", "smooth_labels", "cosine_similarity",
    "squared_error", "make_fenchel_young_loss",
]

ALL = {ns: factories(lib) for ns, lib in LIBS.items()}
CASES = {ns: generate(LIBS[ns], ALL[ns]) for ns in NAMESPACES}
SLOW_CASES = [(ns, c) for ns in NAMESPACES for c in CASES[ns] if c.factory not in FAST[ns]]
LOSS_CASES = loss_input_table.generate(LOSSES)
SLOW_LOSS_CASES = [c for c in LOSS_CASES if c.loss not in FAST_LOSSES]


def test_every_public_factory_and_loss_is_in_the_table():
  assert set(ALL["keras"]) == {
      "adadelta", "adafactor", "adagrad", "adam", "adamax", "adamw", "ftrl", "lamb", "lion",
      "nadam", "rmsprop", "sgd", "cosine_decay", "cosine_decay_restarts", "exponential_decay",
      "inverse_time_decay", "piecewise_constant_decay", "polynomial_decay"}
  transformers = {n for n in jopt.transformers.__all__ if n[0].islower()}
  assert set(ALL["transformers"]) == transformers
  torch = {n for n in jopt.torch.__all__ if n[0].islower()}
  assert set(ALL["torch"]) == torch
  assert set(loss_input_table.BASE) == set(jopt.losses.__all__)
  for ns in NAMESPACES:
    assert set(FAST[ns]) <= set(ALL[ns])
  assert sum(len(c) for c in CASES.values()) > 3500 and len(LOSS_CASES) > 400


@pytest.mark.parametrize("ns,name", [(ns, n) for ns in NAMESPACES for n in FAST[ns]])
def test_fast_table(ns, name):
  failures = []
  for case in CASES[ns]:
    if case.factory == name:
      category, detail = categorize(LIBS[ns], case)
      if category not in case.allowed:
        failures.append(f"{case.id}: {category} ({detail})")
  assert not failures, "\n".join(failures)


@pytest.mark.slow
@pytest.mark.parametrize("ns,case", SLOW_CASES, ids=[f"{ns}-{c.id}" for ns, c in SLOW_CASES])
def test_slow_table(ns, case):
  category, detail = categorize(LIBS[ns], case)
  assert category in case.allowed, f"{case.id}: {category} ({detail}); expected one of {case.allowed}"


@pytest.mark.parametrize("name", FAST_LOSSES)
def test_fast_loss_table(name):
  failures = []
  for case in LOSS_CASES:
    if case.loss == name:
      category, detail = loss_input_table.categorize(LOSSES, case)
      if category not in case.allowed:
        failures.append(f"{case.id}: {category} ({detail})")
  assert not failures, "\n".join(failures)


@pytest.mark.slow
@pytest.mark.parametrize("case", SLOW_LOSS_CASES, ids=[c.id for c in SLOW_LOSS_CASES])
def test_slow_loss_table(case):
  category, detail = loss_input_table.categorize(LOSSES, case)
  assert category in case.allowed, f"{case.id}: {category} ({detail}); expected one of {case.allowed}"


def _case(cases, case_id):
  (case,) = [c for c in cases if c.id == case_id]
  return case


def test_the_loss_categories_can_fail():
  """optax's answers on the same calls: a silent outer broadcast, an unclear error, a silent NaN."""
  outer = _case(LOSS_CASES, "hinge_loss-targets-extra_axis")  # (4,) against (4, 1): a (4, 4) loss
  assert loss_input_table.categorize(optax, outer)[0] == "silent"
  assert loss_input_table.categorize(LOSSES, outer)[0] == "build_clear"
  unclear = _case(LOSS_CASES, "huber_loss-delta-str")
  assert loss_input_table.categorize(optax, unclear)[0] == "unclear"
  nan = _case(LOSS_CASES, "ntxent-temperature-nan")
  assert loss_input_table.categorize(optax, nan)[0] == "silent"
  valid = _case(LOSS_CASES, "sigmoid_focal_loss-alpha-none")
  assert loss_input_table.categorize(LOSSES, valid)[0] == "valid"


def test_the_namespace_categories_can_fail():
  """A factory that takes anything is silent; one failing inside jax is unclear; jopt's is clear."""
  case = _case(CASES["keras"], "cosine_decay-decay_steps-str")
  lenient = types.SimpleNamespace(cosine_decay=lambda **kw: (lambda count: 0.1 + 0.0 * count))
  assert categorize(lenient, case)[0] == "silent"
  internal = types.SimpleNamespace(cosine_decay=lambda **kw: jnp.ones(2) + jnp.ones(3))
  assert categorize(internal, case)[0] == "unclear"
  assert categorize(LIBS["keras"], case)[0] == "build_clear"
  valid = _case(CASES["keras"], "sgd-clipnorm-none")
  assert valid.allowed == ("valid",) and categorize(LIBS["keras"], valid)[0] == "valid"


# --- the checks skip traced values and cost nothing -------------------------------------------------


def test_traced_loss_hyperparameters_are_not_checked_and_match_optax():
  p, t = loss_input_table.BASE["huber_loss"]["predictions"], loss_input_table.BASE["huber_loss"]["targets"]
  deltas = jnp.array([0.25, 1.0, 3.0])
  ours = jax.vmap(lambda d: jopt.losses.huber_loss(p, t, delta=d))(deltas)
  theirs = jax.vmap(lambda d: optax.losses.huber_loss(p, t, delta=d))(deltas)
  np.testing.assert_allclose(ours, theirs, rtol=1e-6)
  e = loss_input_table.BASE["ntxent"]["embeddings"]
  labels = loss_input_table.BASE["ntxent"]["labels"]
  ours = jax.grad(lambda tau: jopt.losses.ntxent(e, labels, tau))(0.5)
  theirs = jax.grad(lambda tau: optax.losses.ntxent(e, labels, tau))(0.5)
  np.testing.assert_allclose(ours, theirs, rtol=1e-5)
  # Under jit a bad traced value is not looked at (no host sync): the value passes through.
  smoothed = jax.jit(lambda a: jopt.losses.smooth_labels(jnp.eye(3), a))(jnp.float32(2.0))
  np.testing.assert_allclose(smoothed, optax.losses.smooth_labels(jnp.eye(3), 2.0), rtol=1e-6)
  with pytest.raises(ValueError, match=r"smooth_labels: `alpha` must be in \[0, 1\]"):
    jopt.losses.smooth_labels(jnp.eye(3), 2.0)


def test_integer_labels_are_checked_on_the_host_only():
  logits = loss_input_table.BASE["softmax_cross_entropy_with_integer_labels"]["logits"]
  with pytest.raises(ValueError, match=r"softmax_cross_entropy_with_integer_labels: `labels` must be "
                                       r"class indices in \[0, 3\)"):
    jopt.losses.softmax_cross_entropy_with_integer_labels(logits, np.array([0, 3, 1, 2]))
  # A device array is not read back: out of range gives nan, as in optax.
  bad = jnp.array([0, 3, 1, 2])
  ours = jopt.losses.softmax_cross_entropy_with_integer_labels(logits, bad)
  theirs = optax.losses.softmax_cross_entropy_with_integer_labels(logits, bad)
  np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
  good = np.array([0, 2, 1, 2])
  np.testing.assert_allclose(
      jopt.losses.softmax_cross_entropy_with_integer_labels(logits, good),
      optax.losses.softmax_cross_entropy_with_integer_labels(logits, good), rtol=1e-6)


def test_traced_framework_hyperparameters_are_not_checked():
  params = {"w": jnp.array([1.0, -2.0])}
  grads = {"w": jnp.array([0.5, 0.5])}

  def step(make, lr):
    tx = make(lr)
    return tx.update(grads, tx.init(params), params)[0]["w"]

  for make, ref in ((lambda lr: jopt.keras.sgd(lr), lambda lr: -lr * grads["w"]),
                    (lambda lr: jopt.torch.sgd(lr=lr), lambda lr: -lr * grads["w"])):
    lrs = jnp.array([0.1, 0.2])
    np.testing.assert_allclose(jax.vmap(lambda lr, make=make: step(make, lr))(lrs),
                               jax.vmap(ref)(lrs), rtol=1e-6)
    np.testing.assert_allclose(jax.jit(lambda lr, make=make: step(make, lr))(0.3), ref(0.3), rtol=1e-6)


# --- what the frameworks document keeps its meaning ----------------------------------------------


def test_documented_meanings_are_kept():
  # Keras: `clipnorm=None` is no clipping, `name=None` a schedule without a name scope.
  params, grads = {"w": jnp.array([3.0, 4.0])}, {"w": jnp.array([30.0, 40.0])}
  tx = jopt.keras.sgd(0.1, clipnorm=None)
  np.testing.assert_allclose(tx.update(grads, tx.init(params), params)[0]["w"], [-3.0, -4.0], rtol=1e-6)
  tx = jopt.keras.sgd(0.1, clipnorm=5.0)
  np.testing.assert_allclose(tx.update(grads, tx.init(params), params)[0]["w"], [-0.3, -0.4], rtol=1e-6)
  schedule = jopt.keras.exponential_decay(0.1, 10, 0.5, name=None)
  np.testing.assert_allclose(schedule(10), 0.05, rtol=1e-6)
  np.testing.assert_allclose(jopt.keras.exponential_decay(0.1, 10.0, 0.5)(10), 0.05, rtol=1e-6)
  # Keras documents `first_decay_steps` as "a Python number": a fraction of a period.
  np.testing.assert_allclose(jopt.keras.cosine_decay_restarts(1.0, 2.5)(jnp.float32(2.5)), 1.0, rtol=1e-6)
  # PyTorch: milestones may repeat (the decay applies twice) and be given as whole floats.
  np.testing.assert_allclose(jopt.torch.multi_step_lr(1.0, [2.0, 2], gamma=0.5)(2), 0.25, rtol=1e-6)
  # Optax: labels broadcast to the logits one-sidedly ((3,) against (4, 3)).
  logits, labels = loss_input_table._LOGITS, jnp.array([0.2, 0.3, 0.5])
  np.testing.assert_allclose(jopt.losses.softmax_cross_entropy(logits, labels),
                             optax.losses.softmax_cross_entropy(logits, labels), rtol=1e-6)
  np.testing.assert_allclose(jopt.losses.sigmoid_binary_cross_entropy(logits, labels),
                             optax.losses.sigmoid_binary_cross_entropy(logits, labels), rtol=1e-6)


@pytest.mark.parametrize("call,error,match", [
    (lambda: jopt.keras.adam(beta_1=None), TypeError, r"jopt\.keras\.adam: `beta_1` must not be None"),
    (lambda: jopt.keras.sgd(nesterov="false"), TypeError, r"jopt\.keras\.sgd: `nesterov` must be True or False"),
    (lambda: jopt.keras.adam(ema_momentum=float("nan")), ValueError, r"`ema_momentum`"),
    (lambda: jopt.keras.cosine_decay(0.1, 2.5), ValueError, r"jopt\.keras\.cosine_decay: `decay_steps` must be a whole"),
    (lambda: jopt.transformers.adafactor(lr="1e-3", relative_step=False), TypeError,
     r"jopt\.transformers\.adafactor: `lr`"),
    (lambda: jopt.transformers.lr_scheduler("linear", 0.1, 2, 10, {"bogus": 1}), TypeError,
     r"lr_scheduler: `scheduler_specific_kwargs` has \['bogus'\]"),
    (lambda: jopt.torch.adam(betas=(0.9, None)), TypeError, r"jopt\.torch\.adam: `betas\[1\]`"),
    (lambda: jopt.torch.cyclic_lr(0.01, 0.1, scale_fn=lambda x: jnp.ones(3)), TypeError, r"`scale_fn` must return a real scalar"),
    (lambda: jopt.torch.step_lr(float("inf"), 3), ValueError, r"jopt\.torch\.step_lr: `lr` must be finite"),
    (lambda: jopt.torch.multi_step_lr(0.1, [2.5]), ValueError, r"`milestones\[0\]` must be a whole number"),
    (lambda: jopt.losses.huber_loss(jnp.ones(3), delta=-1.0), ValueError, r"huber_loss: `delta` must be in \(0, inf\)"),
    (lambda: jopt.losses.hinge_loss(jnp.ones(4), jnp.ones((4, 1))), ValueError, r"hinge_loss: the shapes .*broadcast only to \(4, 4\)"),
    (lambda: jopt.losses.ctc_loss(jnp.zeros((1, 2, 3)), jnp.zeros((1, 2)), jnp.ones((1, 1), jnp.int32),
                                  jnp.zeros((1, 1)), blank_id=3), ValueError, r"ctc_loss: `blank_id` must be a class index in \[0, 3\)"),
    (lambda: jopt.losses.dice_loss(jnp.ones((1, 2, 2)), jnp.ones((1, 2, 2)), apply_softmax="false"), TypeError,
     r"dice_loss: `apply_softmax` must be True or False"),
])
def test_messages_name_the_function_the_argument_and_what_is_accepted(call, error, match):
  with pytest.raises(error, match=match):
    call()
