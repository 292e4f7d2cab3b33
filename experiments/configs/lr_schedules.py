"""Worked example 2: learning-rate schedules: constant, step, exponential, time-based, cosine, warmup + cosine.

    python -m experiments.main --workdir=runs/lr_schedules --config=experiments/configs/lr_schedules.py --docs=docs

The digits MLP with SGD + momentum 0.9 at peak learning rate 0.1, batch 64,
20 epochs; every schedule is the one `jopt` exports under that name, its value
arguments given as "learning_rate" (config.learning_rate) and its lengths as
"total_steps" / "steps_per_epoch" or computed below. `...lr_schedules.py:quick`
trains 3 schedules for 2 epochs (the tests).
"""

import ml_collections

from experiments import data
from experiments.configs import default
from experiments.configs.default import variant


def get_config(mode: str = "") -> ml_collections.ConfigDict:
  """The base run and one variant per schedule; `mode="quick"` is the reduced version."""
  if mode not in ("", "quick"):
    raise ValueError(f"get_config: mode must be '' or 'quick', got {mode!r}.")
  quick = mode == "quick"
  c = default.get_config()
  c.optimizer, c.learning_rate, c.optimizer_kwargs.momentum = "sgd", 0.1, 0.9
  c.batch_size = 64
  c.epochs = 2 if quick else 20
  c.log_every = 2
  c.progress = False
  total = c.epochs * (len(data.load(c.dataset).train) // c.batch_size)  # 20 x 19 steps
  variants = (
      variant("constant"),
      variant("step (x0.1 every 1/3)", schedule="step_decay",
              schedule_kwargs={"init_value": "learning_rate", "step_size": max(1, total // 3)}),
      variant("exponential (x0.85/epoch)", schedule="exponential_decay",
              schedule_kwargs={"init_value": "learning_rate", "transition_steps": "steps_per_epoch",
                               "decay_rate": 0.85}),
      variant("time-based 1/(1+0.5 epoch)", schedule="inverse_time_decay",
              schedule_kwargs={"init_value": "learning_rate", "decay_steps": "steps_per_epoch",
                               "decay_rate": 0.5}),
      variant("cosine", schedule="cosine_decay_schedule",
              schedule_kwargs={"init_value": "learning_rate", "decay_steps": "total_steps"}),
      variant("warmup + cosine", schedule="warmup_cosine_decay_schedule",
              schedule_kwargs={"init_value": 0.0, "peak_value": "learning_rate",
                               "warmup_steps": max(1, total // 10), "decay_steps": "total_steps"}),
  )
  c.example = ml_collections.ConfigDict(dict(
      name="lr_schedules",
      variants=tuple(variants[i] for i in (0, 1, 5)) if quick else variants,
      columns=(("schedule", "label"), ("lr at end", "last.learning_rate"),
               ("train loss start", "first.train_loss"), ("train loss end", "last.train_loss"),
               ("val acc", "summary.val_accuracy"), ("test acc", "summary.test_accuracy")),
      plot=dict(kind="curves", x="epoch",
                panels=(("learning_rate", "learning rate", False), ("train_loss", "train loss", True),
                        ("val_accuracy", "validation accuracy", False)),
                title="digits MLP, SGD momentum 0.9, peak lr 0.1: schedules"),
  ))
  return c
