"""Worked example 1: gradient-descent variants on y = 2x — full-batch GD, SGD, mini-batch, momentum, with L1 and L2.

    python -m experiments.examples.gd_variants --workdir=runs/gd_variants --docs=docs

A linear model `y = w x + b` on 100 noisy points of y = 2x, plain `jopt.sgd` at
learning rate 0.1, the same number of epochs for every variant (so full-batch GD
takes 1 step per epoch, SGD 100). L1 and L2 are `--l1` / `--l2`
(`jopt.add_l1_decay` / `jopt.add_decayed_weights` before the optimizer).
"""

import os

from experiments import outputs
from experiments.examples import common

VARIANTS = {  # label -> config overrides
    "full-batch GD": dict(batch_size=100),
    "SGD (batch 1)": dict(batch_size=1),
    "mini-batch (10)": dict(batch_size=10),
    "mini-batch + momentum 0.9": dict(batch_size=10, learning_rate=0.01, optimizer_kwargs={"momentum": 0.9}),
    "mini-batch + L2 0.1": dict(batch_size=10, l2=0.1),
    "mini-batch + L1 0.1": dict(batch_size=10, l1=0.1),
}


def run(workdir: str, quick: bool = False, docs: str = "") -> list[dict]:
  """Trains every variant; returns the table rows (final w, b, losses)."""
  os.makedirs(workdir, exist_ok=True)
  rows, curves = [], {}
  items = list(VARIANTS.items())
  for label, overrides in ([items[i] for i in (0, 3, 5)] if quick else items):
    settings = dict(dataset="linear_2x", model="linear", optimizer="sgd", learning_rate=0.1,
                    epochs=3 if quick else 30, log_every=5)
    c = common.config(**{**settings, **overrides})
    summary, records = common.train(workdir, label, c)
    p = common.final_params(workdir, label, c)["Dense_0"]
    first, last = common.first_and_last(records)
    rows.append({"variant": label, "batch": c.batch_size, "steps": summary["step"],
                 "w": float(p["kernel"][0, 0]), "b": float(p["bias"][0]),
                 "train MSE start": first, "train MSE end": last, "test MSE": summary["test_loss"]})
    curves[label] = records
  png = outputs.plot_comparison(
      curves, [("train_loss", "train MSE (full training set)", True)],
      os.path.join(workdir, "gd_variants.png"), title="y = 2x: gradient-descent variants (lr 0.1, same epochs)")
  common.report(workdir, "gd_variants", rows, png, docs)
  return rows


if __name__ == "__main__":
  common.main(run)
