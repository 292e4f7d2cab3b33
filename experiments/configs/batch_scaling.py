"""Worked example 3: batch size 64 / 128 / 256 with the linear scaling rule vs a fixed learning rate.

    python -m experiments.main --workdir=runs/batch_scaling --config=experiments/configs/batch_scaling.py --docs=docs

The digits MLP with SGD + momentum 0.9, base learning rate 0.02 at batch 64,
15 epochs for every batch size (so batch 256 takes 4x fewer steps). "linear"
scales the rate by batch/64 with `jopt.scale_learning_rate` (`base_batch_size=64`;
Goyal et al. 2017, https://arxiv.org/abs/1706.02677); "fixed" keeps 0.02.
`...batch_scaling.py:quick` trains batches 64 and 256 for 2 epochs (the tests).
"""

import ml_collections

from experiments.configs import default
from experiments.configs.default import variant

BASE_LR, BASE_BATCH = 0.02, 64


def get_config(mode: str = "") -> ml_collections.ConfigDict:
  """The base run and one variant per (rule, batch size); `mode="quick"` is the reduced version."""
  if mode not in ("", "quick"):
    raise ValueError(f"get_config: mode must be '' or 'quick', got {mode!r}.")
  quick = mode == "quick"
  c = default.get_config()
  c.optimizer, c.learning_rate, c.optimizer_kwargs.momentum = "sgd", BASE_LR, 0.9
  c.epochs = 2 if quick else 15
  c.log_every = 2
  c.progress = False
  c.example = ml_collections.ConfigDict(dict(
      name="batch_scaling",
      variants=tuple(
          variant(f"batch {batch}, {rule} lr", row={"rule": rule}, batch_size=batch,
                  base_batch_size=BASE_BATCH if rule == "linear" else 0)
          for rule in ("fixed", "linear") for batch in ((64, 256) if quick else (64, 128, 256))),
      columns=(("batch", "config.batch_size"), ("rule", "row.rule"), ("lr", "last.learning_rate"),
               ("steps", "summary.step"), ("train loss start", "first.train_loss"),
               ("train loss end", "last.train_loss"), ("test acc", "summary.test_accuracy")),
      plot=dict(kind="curves", x="epoch",
                panels=(("train_loss", "train loss", True), ("val_accuracy", "validation accuracy", False)),
                title=f"digits MLP, SGD momentum 0.9: batch scaling (base lr {BASE_LR} at batch {BASE_BATCH})"),
  ))
  return c
