"""Worked example 4: optimizers on digits — the MLP, batch 100, 10 epochs, learning rate 0.01.

    python -m experiments.examples.optimizer_comparison --workdir=runs/optimizer_comparison --docs=docs

SGD, momentum (0.9), Nesterov (0.9), Adagrad, RMSprop, Adam and AdamW, each the
optimizer `jopt` exports under that name with its defaults (AdamW: weight decay 1e-4).
"""

import os

from experiments import outputs
from experiments.examples import common

VARIANTS = {
    "SGD": dict(optimizer="sgd"),
    "momentum": dict(optimizer="sgd", optimizer_kwargs={"momentum": 0.9}),
    "Nesterov": dict(optimizer="sgd", optimizer_kwargs={"momentum": 0.9, "nesterov": True}),
    "Adagrad": dict(optimizer="adagrad"),
    "RMSprop": dict(optimizer="rmsprop"),
    "Adam": dict(optimizer="adam"),
    "AdamW": dict(optimizer="adamw"),
}


def run(workdir: str, quick: bool = False, docs: str = "") -> list[dict]:
  """Trains the MLP with each optimizer; returns the table rows."""
  os.makedirs(workdir, exist_ok=True)
  rows, curves = [], {}
  items = list(VARIANTS.items())
  for label, overrides in ([items[i] for i in (0, 1, 5)] if quick else items):
    c = common.config(learning_rate=0.01, batch_size=100, epochs=2 if quick else 10, log_every=2, **overrides)
    summary, records = common.train(workdir, label, c)
    first, last = common.first_and_last(records)
    rows.append({"optimizer": label, "train loss start": first, "train loss end": last,
                 "val acc": summary["val_accuracy"], "test acc": summary["test_accuracy"]})
    curves[label] = records
  png = outputs.plot_comparison(
      curves, [("loss", "minibatch loss", True), ("train_loss", "train loss (per epoch)", True),
               ("test_accuracy", "test accuracy", False)],
      os.path.join(workdir, "optimizer_comparison.png"),
      title="digits MLP 128-64, batch 100, lr 0.01")
  common.report(workdir, "optimizer_comparison", rows, png, docs)
  return rows


if __name__ == "__main__":
  common.main(run)
