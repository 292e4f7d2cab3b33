"""Worked example 6: knowledge distillation of a larger teacher MLP into a small student.

    python -m experiments.main --workdir=runs/distillation --config=experiments/configs/distillation.py --docs=docs

Teacher: MLP 512-256 trained with Adam on digits (in `<workdir>/teacher`). Student:
an MLP with one hidden layer of 16, trained (a) on the labels alone and (b) with
`distill_from=<teacher workdir>`: loss `alpha·T²·KL(softmax(teacher/T) ‖ softmax(student/T))
+ (1-alpha)·CE` at T = 4, alpha = 0.9 (Hinton et al. 2015, https://arxiv.org/abs/1503.02531).
Both students train on the same batches (same seed, same steps); only the loss differs.
`...distillation.py:quick` trains 2 epochs each (the tests).
"""

import ml_collections

from experiments.configs import default
from experiments.configs.default import variant


def get_config(mode: str = "") -> ml_collections.ConfigDict:
  """The teacher, then the student without and with distillation; `mode="quick"` is the reduced version."""
  if mode not in ("", "quick"):
    raise ValueError(f"get_config: mode must be '' or 'quick', got {mode!r}.")
  c = default.get_config()
  c.learning_rate = 0.002
  c.epochs = 2 if mode == "quick" else 30
  c.progress = False
  soft = f"{c.distill_alpha:g} soft (T={c.distill_temperature:g}) + {1 - c.distill_alpha:.1g} labels"
  c.example = ml_collections.ConfigDict(dict(
      name="distillation",
      variants=(
          variant("teacher MLP 512-256", dir="teacher", legend="teacher 512-256", row={"loss": "labels"},
                  hidden="512,256"),
          variant("student 16, labels only", row={"loss": "labels"}, hidden="16"),
          # distill_from names the teacher variant's directory (resolved inside the workdir).
          variant("student 16, distilled T=4", row={"loss": soft}, hidden="16", distill_from="teacher"),
      ),
      columns=(("model", "label"), ("params", "summary.params"), ("loss", "row.loss"),
               ("test loss", "summary.test_loss"), ("test acc", "summary.test_accuracy")),
      plot=dict(kind="curves", x="epoch",
                panels=(("val_loss", "validation cross-entropy", True), ("test_accuracy", "test accuracy", False)),
                title="digits: distilling an MLP 512-256 into an MLP 16"),
  ))
  return c
