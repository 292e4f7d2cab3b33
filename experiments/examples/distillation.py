"""Worked example 6: knowledge distillation of a larger teacher MLP into a small student.

    python -m experiments.examples.distillation --workdir=runs/distillation --docs=docs

Teacher: MLP 512-256 trained with Adam on digits. Student: MLP with one hidden
layer of 16, trained (a) on the labels alone and (b) with `--distill_from=<teacher
workdir>`: loss `alpha·T²·KL(softmax(teacher/T) ‖ softmax(student/T)) + (1-alpha)·CE`
at T = 4, alpha = 0.9 (Hinton et al. 2015, https://arxiv.org/abs/1503.02531).
Both students train on the same batches (same seed, same steps); only the loss differs.
"""

import os

from experiments import outputs
from experiments.examples import common

STUDENT = "16"


def run(workdir: str, quick: bool = False, docs: str = "") -> list[dict]:
  """Trains the teacher, then the student without and with distillation; returns the table rows."""
  os.makedirs(workdir, exist_ok=True)
  epochs = 2 if quick else 30
  teacher_cfg = common.config(hidden="512,256", learning_rate=0.002, epochs=epochs)
  teacher, teacher_records = common.train(workdir, "teacher", teacher_cfg)
  rows = [{"model": "teacher MLP 512-256", "params": teacher["params"], "loss": "labels",
           "test loss": teacher["test_loss"], "test acc": teacher["test_accuracy"]}]
  curves = {"teacher 512-256": teacher_records}
  for label, extra in (("student 16, labels only", {}),
                       ("student 16, distilled T=4", dict(distill_from=os.path.join(workdir, "teacher")))):
    c = common.config(hidden=STUDENT, learning_rate=0.002, epochs=epochs, **extra)
    summary, records = common.train(workdir, label, c)
    rows.append({"model": label, "params": summary["params"],
                 "loss": "0.9 soft (T=4) + 0.1 labels" if extra else "labels",
                 "test loss": summary["test_loss"], "test acc": summary["test_accuracy"]})
    curves[label] = records
  png = outputs.plot_comparison(
      curves, [("val_loss", "validation cross-entropy", True), ("test_accuracy", "test accuracy", False)],
      os.path.join(workdir, "distillation.png"), title="digits: distilling an MLP 512-256 into an MLP 16")
  common.report(workdir, "distillation", rows, png, docs)
  return rows


if __name__ == "__main__":
  common.main(run)
