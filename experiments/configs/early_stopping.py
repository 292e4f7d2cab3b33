"""Worked example 5: early stopping on the validation split (patience, best params restored).

    python -m experiments.main --workdir=runs/early_stopping --config=experiments/configs/early_stopping.py --docs=docs

The digits MLP with Adam (lr 0.003), up to 100 epochs, evaluated every epoch;
`early_stopping_patience=5` stops when the validation loss has not improved for 5
evaluations (`jopt.early_stopping`, keeping the best params) and the run ends with
the best params. The same run without early stopping trains all 100 epochs.
`...early_stopping.py:quick` trains up to 6 epochs with patience 2 (the tests).
"""

import ml_collections

from experiments.configs import default
from experiments.configs.default import variant


def get_config(mode: str = "") -> ml_collections.ConfigDict:
  """The base run, without and with early stopping; `mode="quick"` is the reduced version."""
  if mode not in ("", "quick"):
    raise ValueError(f"get_config: mode must be '' or 'quick', got {mode!r}.")
  quick = mode == "quick"
  patience = 2 if quick else 5
  c = default.get_config()
  c.learning_rate = 0.003
  c.epochs = 6 if quick else 100
  c.log_every = 5
  c.progress = False
  c.example = ml_collections.ConfigDict(dict(
      name="early_stopping",
      variants=(variant("no early stopping", early_stopping_patience=0),
                variant(f"early stopping, patience {patience}", early_stopping_patience=patience)),
      columns=(("run", "label"), ("epochs trained", "summary.epochs"), ("best epoch", "summary.best_epoch"),
               ("final val loss", "summary.val_loss"), ("test loss", "summary.test_loss"),
               ("test acc", "summary.test_accuracy")),
      plot=dict(kind="curves", x="epoch",
                panels=(("train_loss", "train loss", True), ("val_loss", "validation loss", True),
                        ("test_accuracy", "test accuracy", False)),
                title="digits MLP, Adam 0.003: early stopping on val loss"),
  ))
  return c
