"""Worked example 5: early stopping on the validation split (patience, best params restored).

    python -m experiments.examples.early_stopping --workdir=runs/early_stopping --docs=docs

The digits MLP with Adam (lr 0.003), up to 100 epochs, evaluated every epoch;
`--early_stopping_patience=5` stops when the validation loss has not improved for
5 evaluations (`jopt.early_stopping`, keeping the best params) and the run ends
with the best params. The same run without early stopping trains all 100 epochs.
"""

import os

from experiments import outputs
from experiments.examples import common


def run(workdir: str, quick: bool = False, docs: str = "") -> list[dict]:
  """Trains with and without early stopping; returns the table rows."""
  os.makedirs(workdir, exist_ok=True)
  epochs, patience = (6, 2) if quick else (100, 5)
  rows, curves = [], {}
  for label, pat in (("no early stopping", 0), (f"early stopping, patience {patience}", patience)):
    c = common.config(learning_rate=0.003, epochs=epochs, early_stopping_patience=pat, log_every=5)
    summary, records = common.train(workdir, label, c)
    spe = summary["step"] / summary["epochs"]
    best = summary.get("best_step")
    rows.append({"run": label, "epochs trained": summary["epochs"],
                 "best epoch": round(best / spe, 2) if best else "-",
                 "final val loss": summary["val_loss"], "test loss": summary["test_loss"],
                 "test acc": summary["test_accuracy"]})
    curves[label] = records
  png = outputs.plot_comparison(
      curves, [("train_loss", "train loss", True), ("val_loss", "validation loss", True),
               ("test_accuracy", "test accuracy", False)],
      os.path.join(workdir, "early_stopping.png"), title="digits MLP, Adam 0.003: early stopping on val loss")
  common.report(workdir, "early_stopping", rows, png, docs)
  return rows


if __name__ == "__main__":
  common.main(run)
