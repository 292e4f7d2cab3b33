"""Worked example 2: learning-rate schedules compared — constant, step, exponential, time-based, cosine, warmup+cosine.

    python -m experiments.examples.lr_schedules --workdir=runs/lr_schedules --docs=docs

The digits MLP with SGD + momentum 0.9 at peak learning rate 0.1, batch 64,
20 epochs; every schedule is the one `jopt` exports (`--schedule=<name>`),
its length defaulting to the run and its peak to `--learning_rate`.
"""

import os

from experiments import data as data_lib
from experiments import outputs
from experiments.examples import common


def variants(steps_per_epoch: int, total: int) -> dict[str, dict]:
  """label -> (schedule, its arguments); boundaries in steps, from the run's length."""
  spe = steps_per_epoch
  return {
      "constant": dict(schedule=""),
      "step (x0.1 every 1/3)": dict(schedule="step_decay", schedule_kwargs={"step_size": max(1, total // 3)}),
      "exponential (x0.85/epoch)": dict(schedule="exponential_decay",
                                        schedule_kwargs={"transition_steps": spe, "decay_rate": 0.85}),
      "time-based 1/(1+0.5 epoch)": dict(schedule="inverse_time_decay",
                                         schedule_kwargs={"decay_steps": spe, "decay_rate": 0.5}),
      "cosine": dict(schedule="cosine_decay_schedule"),
      "warmup + cosine": dict(schedule="warmup_cosine_decay_schedule",
                              schedule_kwargs={"warmup_steps": max(1, total // 10)}),
  }


def run(workdir: str, quick: bool = False, docs: str = "") -> list[dict]:
  """Trains the MLP under each schedule; returns the table rows."""
  os.makedirs(workdir, exist_ok=True)
  epochs, batch = (2 if quick else 20), 64
  spe = data_lib.load("digits").train.x.shape[0] // batch
  rows, curves = [], {}
  items = list(variants(spe, epochs * spe).items())
  for label, overrides in ([items[i] for i in (0, 1, 5)] if quick else items):
    c = common.config(optimizer="sgd", learning_rate=0.1, optimizer_kwargs={"momentum": 0.9},
                      batch_size=batch, epochs=epochs, log_every=2, **overrides)
    summary, records = common.train(workdir, label, c)
    lrs = [r["learning_rate"] for r in records if "learning_rate" in r]
    first, last = common.first_and_last(records)
    rows.append({"schedule": label, "lr at end": lrs[-1], "train loss start": first, "train loss end": last,
                 "val acc": summary["val_accuracy"], "test acc": summary["test_accuracy"]})
    curves[label] = records
  png = outputs.plot_comparison(
      curves, [("learning_rate", "learning rate", False), ("train_loss", "train loss", True),
               ("val_accuracy", "validation accuracy", False)],
      os.path.join(workdir, "lr_schedules.png"), x="epoch",
      title="digits MLP, SGD momentum 0.9, peak lr 0.1: schedules")
  common.report(workdir, "lr_schedules", rows, png, docs)
  return rows


if __name__ == "__main__":
  common.main(run)
