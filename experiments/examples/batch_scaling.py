"""Worked example 3: batch size 64 / 128 / 256 with the linear scaling rule vs a fixed learning rate.

    python -m experiments.examples.batch_scaling --workdir=runs/batch_scaling --docs=docs

The digits MLP with SGD + momentum 0.9, base learning rate 0.02 at batch 64,
15 epochs for every batch size (so batch 256 takes 4x fewer steps). "linear"
scales the rate by batch/64 with `jopt.scale_learning_rate` (`--base_batch_size=64`;
Goyal et al. 2017, https://arxiv.org/abs/1706.02677); "fixed" keeps 0.02.
"""

import os

from experiments import outputs
from experiments.examples import common

BASE_LR, BASE_BATCH = 0.02, 64


def run(workdir: str, quick: bool = False, docs: str = "") -> list[dict]:
  """Trains each (batch, rule) pair; returns the table rows."""
  os.makedirs(workdir, exist_ok=True)
  rows, curves = [], {}
  for rule in ("fixed", "linear"):
    for batch in (64, 256) if quick else (64, 128, 256):
      label = f"batch {batch}, {rule} lr"
      c = common.config(optimizer="sgd", learning_rate=BASE_LR, optimizer_kwargs={"momentum": 0.9},
                        batch_size=batch, epochs=2 if quick else 15, log_every=2,
                        base_batch_size=BASE_BATCH if rule == "linear" else 0)
      summary, records = common.train(workdir, label, c)
      lr = [r["learning_rate"] for r in records if "learning_rate" in r][-1]
      first, last = common.first_and_last(records)
      rows.append({"batch": batch, "rule": rule, "lr": lr, "steps": summary["step"],
                   "train loss start": first, "train loss end": last, "test acc": summary["test_accuracy"]})
      curves[label] = records
  png = outputs.plot_comparison(
      curves, [("train_loss", "train loss", True), ("val_accuracy", "validation accuracy", False)],
      os.path.join(workdir, "batch_scaling.png"),
      title=f"digits MLP, SGD momentum 0.9: batch scaling (base lr {BASE_LR} at batch {BASE_BATCH})")
  common.report(workdir, "batch_scaling", rows, png, docs)
  return rows


if __name__ == "__main__":
  common.main(run)
