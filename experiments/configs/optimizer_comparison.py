r"""Worked example 4: optimizers on digits: the MLP, batch 100, 10 epochs, learning rate 0.01.

    python -m experiments.main --workdir=runs/optimizer_comparison \
        --config=experiments/configs/optimizer_comparison.py --docs=docs

SGD, momentum (0.9), Nesterov (0.9), Adagrad, RMSprop, Adam and AdamW, each the
optimizer `jopt` exports under that name with its defaults (AdamW: weight decay 1e-4).
`...optimizer_comparison.py:quick` trains SGD, momentum and Adam for 2 epochs (the tests).
"""

import ml_collections

from experiments.configs import default
from experiments.configs.default import variant


def get_config(mode: str = "") -> ml_collections.ConfigDict:
  """The base run and one variant per optimizer; `mode="quick"` is the reduced version."""
  if mode not in ("", "quick"):
    raise ValueError(f"get_config: mode must be '' or 'quick', got {mode!r}.")
  quick = mode == "quick"
  c = default.get_config()
  c.learning_rate, c.batch_size = 0.01, 100
  c.epochs = 2 if quick else 10
  c.log_every = 2
  c.progress = False
  variants = (
      variant("SGD", optimizer="sgd"),
      variant("momentum", optimizer="sgd", optimizer_kwargs={"momentum": 0.9}),
      variant("Nesterov", optimizer="sgd", optimizer_kwargs={"momentum": 0.9, "nesterov": True}),
      variant("Adagrad", optimizer="adagrad"),
      variant("RMSprop", optimizer="rmsprop"),
      variant("Adam", optimizer="adam"),
      variant("AdamW", optimizer="adamw"),
  )
  c.example = ml_collections.ConfigDict(dict(
      name="optimizer_comparison",
      variants=tuple(variants[i] for i in (0, 1, 5)) if quick else variants,
      columns=(("optimizer", "label"), ("train loss start", "first.train_loss"),
               ("train loss end", "last.train_loss"), ("val acc", "summary.val_accuracy"),
               ("test acc", "summary.test_accuracy")),
      plot=dict(kind="curves", x="epoch",
                panels=(("loss", "minibatch loss", True), ("train_loss", "train loss (per epoch)", True),
                        ("test_accuracy", "test accuracy", False)),
                title="digits MLP 128-64, batch 100, lr 0.01"),
  ))
  return c
