"""Worked example 1: gradient-descent variants on y = 2x: full-batch GD, SGD, mini-batch, momentum, L2, L1.

    python -m experiments.main --workdir=runs/gd_variants --config=experiments/configs/gd_variants.py --docs=docs

A linear model `y = w x + b` on 100 noisy points of y = 2x, plain `jopt.sgd` at
learning rate 0.1, the same number of epochs for every variant (so full-batch GD
takes 1 step per epoch, SGD 100). L1 and L2 are `l1` / `l2` (`jopt.add_l1_decay` /
`jopt.add_decayed_weights` before the optimizer). `...gd_variants.py:quick` trains
3 variants for 3 epochs (the tests).
"""

import ml_collections

from experiments.configs import default
from experiments.configs.default import variant


def get_config(mode: str = "") -> ml_collections.ConfigDict:
  """The base run (overridable with --config.FIELD) and its variants; `mode="quick"` is the reduced version."""
  if mode not in ("", "quick"):
    raise ValueError(f"get_config: mode must be '' or 'quick', got {mode!r}.")
  quick = mode == "quick"
  c = default.get_config()
  c.dataset, c.model, c.optimizer, c.learning_rate = "linear_2x", "linear", "sgd", 0.1
  c.epochs = 3 if quick else 30
  c.log_every = 5
  c.progress = False  # the example prints its own table
  variants = (
      variant("full-batch GD", batch_size=100),
      variant("SGD (batch 1)", batch_size=1),
      variant("mini-batch (10)", batch_size=10),
      variant("mini-batch + momentum 0.9", batch_size=10, learning_rate=0.01, optimizer_kwargs={"momentum": 0.9}),
      variant("mini-batch + L2 0.1", batch_size=10, l2=0.1),
      variant("mini-batch + L1 0.1", batch_size=10, l1=0.1),
  )
  c.example = ml_collections.ConfigDict(dict(
      name="gd_variants",
      variants=tuple(variants[i] for i in (0, 3, 5)) if quick else variants,
      columns=(("variant", "label"), ("batch", "config.batch_size"), ("steps", "summary.step"),
               ("w", "param.Dense_0.kernel"), ("b", "param.Dense_0.bias"),
               ("train MSE start", "first.train_loss"), ("train MSE end", "last.train_loss"),
               ("test MSE", "summary.test_loss")),
      plot=dict(kind="curves", x="epoch", panels=(("train_loss", "train MSE (full training set)", True),),
                title="y = 2x: gradient-descent variants (lr 0.1, same epochs)"),
  ))
  return c

