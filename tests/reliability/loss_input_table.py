"""The generated bad-input table of the losses: every function of `jopt.losses` x bad hyperparameters
x mismatched shapes, side by side with `optax.losses` on the same inputs.

A loss is a function, not a factory: each case is one call, and lands in one of the categories of
`bad_input_table` (``build_clear`` here means a clear error *at the call*, naming the loss and the
argument; there is no update phase):

- hyperparameters (`delta`, `alpha`, `gamma`, `temperature`, `margin`, `epsilon`, `smooth`,
  `blank_id`, ...): a string, `None` where it has no meaning, a bool, a list, a 2-d array, a complex
  number, NaN, inf, -1, 1e300, 2.5 for an integer; `axis` given a string, a float, a bool or an axis
  out of range; flags given "false", None, 1 or [True]; `reduction` an unknown name;
- shapes: a second array (targets, labels, masks) with a trailing axis of 1 added (optax broadcasts
  `(n, 3)` against `(n, 3, 1)` to `(n, n, 3)` silently), with one more class, or without its class
  axis; integer-label losses given float labels, one-hot labels, or (as NumPy data, checked on the
  host) labels outside `[0, num_classes)`.

`python tests/reliability/bad_input_table.py --optax` prints these counts with the others.
"""

import dataclasses
import inspect
import warnings
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from bad_input_table import BAD_FLAGS, BAD_TYPES, BAD_VALUES, _admits_none, _finite, is_clear

_RNG = np.random.default_rng(0)


def _normal(*shape):
  return jnp.asarray(_RNG.normal(size=shape), jnp.float32)


def _one_hot(labels, k):
  return jnp.asarray(np.eye(k, dtype=np.float32)[np.asarray(labels)])


_LOGITS = _normal(4, 3)
_INT_LABELS = jnp.array([0, 2, 1, 2])
_ONE_HOT = _one_hot(_INT_LABELS, 3)
_PROBS = jax.nn.softmax(_normal(4, 3))
_SEG_LOGITS = _normal(2, 4, 4, 3)
_SEG_TARGETS = _one_hot(_RNG.integers(0, 3, size=(2, 4, 4)), 3)

# Valid arguments of every loss (the arrays; hyperparameters keep their defaults).
BASE = {
    "sigmoid_binary_cross_entropy": dict(logits=_LOGITS, labels=(_ONE_HOT > 0).astype(jnp.float32)),
    "sigmoid_focal_loss": dict(logits=_LOGITS, labels=_ONE_HOT),
    "hinge_loss": dict(predictor_outputs=_normal(4), targets=jnp.array([1.0, -1.0, -1.0, 1.0])),
    "perceptron_loss": dict(predictor_outputs=_normal(4), targets=jnp.array([1.0, -1.0, -1.0, 1.0])),
    "sparsemax_loss": dict(logits=_normal(4), labels=jnp.array([1.0, 0.0, 0.0, 1.0])),
    "softmax_cross_entropy": dict(logits=_LOGITS, labels=_PROBS),
    "safe_softmax_cross_entropy": dict(logits=_LOGITS, labels=_PROBS),
    "softmax_cross_entropy_with_integer_labels": dict(logits=_LOGITS, labels=_INT_LABELS),
    "poly_loss_cross_entropy": dict(logits=_LOGITS, labels=_ONE_HOT),
    "multiclass_hinge_loss": dict(scores=_LOGITS, labels=_INT_LABELS),
    "multiclass_perceptron_loss": dict(scores=_LOGITS, labels=_INT_LABELS),
    "multiclass_sparsemax_loss": dict(scores=_LOGITS, labels=_INT_LABELS),
    "kl_divergence": dict(log_predictions=jax.nn.log_softmax(_LOGITS), targets=_PROBS),
    "kl_divergence_with_log_targets": dict(log_predictions=jax.nn.log_softmax(_LOGITS),
                                           log_targets=jnp.log(_PROBS)),
    "convex_kl_divergence": dict(log_predictions=jax.nn.log_softmax(_LOGITS), targets=_PROBS),
    "generalized_kl_divergence": dict(log_predictions=jax.nn.log_softmax(_LOGITS), targets=_PROBS),
    "squared_error": dict(predictions=_LOGITS, targets=_PROBS),
    "l2_loss": dict(predictions=_LOGITS, targets=_PROBS),
    "huber_loss": dict(predictions=_LOGITS, targets=_PROBS),
    "log_cosh": dict(predictions=_LOGITS, targets=_PROBS),
    "cosine_similarity": dict(predictions=_LOGITS, targets=_PROBS),
    "cosine_distance": dict(predictions=_LOGITS, targets=_PROBS),
    "ranking_softmax_loss": dict(logits=_normal(2, 5), labels=jnp.array([[0.0, 1, 0, 2, 0], [1, 0, 0, 0, 0]])),
    "dice_loss": dict(predictions=_SEG_LOGITS, targets=_SEG_TARGETS),
    "multiclass_generalized_dice_loss": dict(predictions=_SEG_LOGITS, targets=_SEG_TARGETS),
    "binary_dice_loss": dict(predictions=_normal(2, 4, 4, 1), targets=_SEG_TARGETS[..., :1]),
    "ntxent": dict(embeddings=_normal(4, 2), labels=jnp.array([0, 0, 1, 1])),
    "triplet_margin_loss": dict(anchors=_normal(4, 3), positives=_normal(4, 3), negatives=_normal(4, 3)),
    "smooth_labels": dict(labels=_ONE_HOT, alpha=0.1),
    "ctc_loss": dict(logits=_normal(2, 5, 4), logit_paddings=jnp.zeros((2, 5)),
                     labels=jnp.array([[1, 2, 3], [2, 2, 1]]), label_paddings=jnp.zeros((2, 3))),
    "ctc_loss_with_forward_probs": dict(
        logits=_normal(2, 5, 4), logit_paddings=jnp.zeros((2, 5)),
        labels=jnp.array([[1, 2, 3], [2, 2, 1]]), label_paddings=jnp.zeros((2, 3))),
    "make_fenchel_young_loss": dict(max_fun=jax.nn.logsumexp),
}

# The arrays whose shape must line up with the first array of the call (mismatched-shape cases).
PAIRED = {
    "sigmoid_binary_cross_entropy": ["labels"], "sigmoid_focal_loss": ["labels"],
    "hinge_loss": ["targets"], "perceptron_loss": ["targets"], "sparsemax_loss": ["labels"],
    "softmax_cross_entropy": ["labels"], "safe_softmax_cross_entropy": ["labels"],
    "poly_loss_cross_entropy": ["labels"], "kl_divergence": ["targets"],
    "kl_divergence_with_log_targets": ["log_targets"], "convex_kl_divergence": ["targets"],
    "generalized_kl_divergence": ["targets"], "squared_error": ["targets"], "l2_loss": ["targets"],
    "huber_loss": ["targets"], "log_cosh": ["targets"], "cosine_similarity": ["targets"],
    "cosine_distance": ["targets"], "ranking_softmax_loss": ["labels"], "dice_loss": ["targets"],
    "multiclass_generalized_dice_loss": ["targets"], "binary_dice_loss": ["targets"],
    "triplet_margin_loss": ["positives", "negatives"], "ntxent": ["labels"],
    "ctc_loss": ["logit_paddings", "labels", "label_paddings"],
    "ctc_loss_with_forward_probs": ["logit_paddings", "labels", "label_paddings"],
}

# Integer class labels (one per example) against `[..., num_classes]` scores.
INTEGER_LABELS = {
    "softmax_cross_entropy_with_integer_labels": "logits", "multiclass_hinge_loss": "scores",
    "multiclass_perceptron_loss": "scores", "multiclass_sparsemax_loss": "scores",
}

ARRAY_ARGS = {"where", "weights", "class_weights", "targets", "logit_paddings", "label_paddings"}

# (loss, argument, label) -> allowed categories where the default rule is wrong: a documented
# meaning (optax's, kept).
ALLOWED = {
    # A binary map may come without its channel axis (documented by optax).
    ("dice_loss", "targets", "extra_axis"): ("valid", "build_clear"),
    ("binary_dice_loss", "targets", "extra_axis"): ("valid", "build_clear"),
    ("binary_dice_loss", "targets", "drop_axis"): ("valid", "build_clear"),
    # [batch, 1] labels are read as [batch] (optax's documented shape handling).
    ("multiclass_sparsemax_loss", "labels", "extra_axis"): ("valid", "build_clear"),
    # `log_epsilon` stands for log(0): the default is -1e5.
    ("ctc_loss", "log_epsilon", "neg"): ("valid",),
    ("ctc_loss_with_forward_probs", "log_epsilon", "neg"): ("valid",),
    # axis=None reduces over every axis (a documented meaning).
    **{(n, "axis", "none"): ("valid", "build_clear") for n in (
        "softmax_cross_entropy", "poly_loss_cross_entropy", "kl_divergence",
        "kl_divergence_with_log_targets", "convex_kl_divergence", "generalized_kl_divergence",
        "cosine_similarity", "cosine_distance", "smooth_labels")},
}

BAD_AXES = {"str": "-1", "float": 1.5, "bool": True, "out_of_range": 5, "item_str": (0, "1")}


@dataclasses.dataclass(frozen=True)
class LossCase:
  """One generated call: `loss(**kwargs)` with `arg` bad in the way `label` says."""

  loss: str
  arg: str
  label: str
  kwargs: tuple
  allowed: tuple

  @property
  def id(self) -> str:
    return f"{self.loss}-{self.arg}-{self.label}"


def _hyperparameters(fn: Callable[..., Any], base: dict) -> list[inspect.Parameter]:
  out = []
  for p in inspect.signature(fn).parameters.values():
    if p.default is inspect.Parameter.empty and p.name not in ("alpha", "max_fun"):
      continue  # array arguments (and the required `alpha` of smooth_labels, kept below)
    if p.name in ARRAY_ARGS or (p.name in base and hasattr(base[p.name], "shape")):
      continue
    out.append(p)
  return out


def _mutations(name: str, arg: str, value: jax.Array) -> dict:
  """Shape mistakes of the array `arg` (its dtype kept)."""
  value = jnp.asarray(value)
  out = {"extra_axis": value[..., None]}
  if value.ndim >= 1:
    extra = jnp.concatenate([value, value[..., :1]], axis=-1)
    out["wrong_size"] = extra
  if value.ndim >= 2:
    out["drop_axis"] = value[..., 0]
  return out


def generate(lib: Any, names: Optional[list[str]] = None) -> list[LossCase]:
  """Every bad-hyperparameter and mismatched-shape case of the losses `names` of `lib.losses`."""
  cases = []
  for name in names if names is not None else sorted(BASE):
    fn = getattr(lib.losses, name)
    base = BASE[name]
    for p in _hyperparameters(fn, base):
      none_ok = _admits_none(p)
      if p.annotation is bool:
        for label, value in BAD_FLAGS.items():
          cases.append(LossCase(name, p.name, label, tuple({**base, p.name: value}.items()),
                                ("build_clear",)))
        continue
      if p.name == "axis":
        bad = dict(BAD_AXES, none=None)
      elif p.name == "reduction":
        bad = {"bogus": "average", "int": 1, "none": None}
      elif p.name in ("reduce_fn", "max_fun"):
        bad = {"str": "mean", "number": 1.0, "none": None}
      else:
        bad = dict(BAD_TYPES, **BAD_VALUES)
        if isinstance(p.default, int) and not isinstance(p.default, bool):
          bad["fraction"] = 2.5
      for label, value in bad.items():
        allowed = ("build_clear",)
        if label == "none" and none_ok:
          allowed = ("valid",)
        elif label == "neg":
          allowed = ("build_clear", "valid")
        allowed = ALLOWED.get((name, p.name, label), allowed)
        cases.append(LossCase(name, p.name, label, tuple({**base, p.name: value}.items()), allowed))
    for arg in PAIRED.get(name, []):
      for label, value in _mutations(name, arg, base[arg]).items():
        allowed = ALLOWED.get((name, arg, label), ("build_clear",))
        cases.append(LossCase(name, arg, label, tuple({**base, arg: value}.items()), allowed))
    if name in INTEGER_LABELS:
      scores = base[INTEGER_LABELS[name]]
      k = scores.shape[-1]
      bad = {
          "extra_axis": base["labels"][:, None], "wrong_size": jnp.concatenate([base["labels"], base["labels"][:1]]),
          "float_labels": base["labels"].astype(jnp.float32), "one_hot": _one_hot(base["labels"], k),
          "out_of_range_host": np.array([0, k, 1, -1]),
      }
      for label, value in bad.items():
        allowed = ALLOWED.get((name, "labels", label), ("build_clear",))
        cases.append(LossCase(name, "labels", label, tuple({**base, "labels": value}.items()), allowed))
  return cases


def _run(lib: Any, name: str, kwargs: dict) -> Any:
  out = getattr(lib.losses, name)(**kwargs)
  if name == "make_fenchel_young_loss":
    out = out(_LOGITS, _ONE_HOT)
  return out


def categorize(lib: Any, case: LossCase) -> tuple[str, str]:
  """(category, detail) of `case` called through `lib.losses` (jopt or optax)."""
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:
      out = _run(lib, case.loss, dict(case.kwargs))
      finite = _finite(out)
    except Exception as e:  # pylint: disable=broad-except
      return ("build_clear" if is_clear(e, case.loss, case.arg) else "unclear"), repr(e)[:300]
  if not finite:
    return "silent", "non-finite result"
  return ("valid" if "valid" in case.allowed else "silent"), "accepted"
