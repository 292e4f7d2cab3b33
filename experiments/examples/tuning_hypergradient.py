"""Hypergradient descent (Baydin et al. 2018) reproduction: sensitivity to the initial learning rate.

Run: `python -m experiments.examples.tuning_hypergradient` (about 20 s on 2 CPU cores).

Trains the digits MLP (30 epochs = 270 steps of batch 128) from 7 initial learning
rates log-spaced over [1e-4, 1e-1] with SGD, SGD with Nesterov momentum (SGDN,
mu = 0.9), Adam, and their hypergradient variants (`jopt.hd_sgd`, `jopt.hd_adam`)
at two hypergradient step sizes beta each; the 7 runs of each optimizer are one
vmapped `jopt.sweep`. Prints the final training loss (whole training split) per
initial rate, its spread max/min, and the final adapted rate, and writes
docs/tuning_hypergradient.png. The paper's claim: the HD variants are far less
sensitive to the initial rate.
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

import jopt
from experiments.examples import tuning_common

LRS = np.logspace(-4, -1, 7)
NESTEROV = {"momentum": 0.9, "nesterov": True}
METHODS = [  # (label, factory, fixed arguments)
    ("SGD", jopt.sgd, {}),
    ("SGD-HD b=1e-3", jopt.hd_sgd, {"hypergrad_lr": 1e-3}),
    ("SGD-HD b=1e-2", jopt.hd_sgd, {"hypergrad_lr": 1e-2}),
    ("SGDN", jopt.sgd, NESTEROV),
    ("SGDN-HD b=1e-3", jopt.hd_sgd, {"hypergrad_lr": 1e-3, **NESTEROV}),
    ("SGDN-HD b=1e-2", jopt.hd_sgd, {"hypergrad_lr": 1e-2, **NESTEROV}),
    ("Adam", jopt.adam, {}),
    ("Adam-HD b=1e-6", jopt.hd_adam, {"hypergrad_lr": 1e-6}),
    ("Adam-HD b=1e-4", jopt.hd_adam, {"hypergrad_lr": 1e-4}),
]
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "tuning_hypergradient.png")


def main():
  prob = tuning_common.digits_mlp(epochs=30)
  print(f"digits MLP 64-64-10, {prob.batches['x'].shape[0]} steps of batch 128; "
        "final training loss for initial lr = " + ", ".join(f"{lr:.0e}" for lr in LRS))
  print(f"{'optimizer':16s} " + " ".join(f"{lr:>8.0e}" for lr in LRS) + "   max/min   final lr (min..max)")
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for label, factory, fixed in METHODS:
    res = jopt.sweep(prob.loss_fn, factory, {"learning_rate": LRS}, prob.params, prob.batches,
                     fixed=fixed, eval_fn=prob.train_loss)
    final = np.asarray(res.metrics["loss"])
    lr_end = np.asarray(jopt.hyperparams(res.state.opt_state)["learning_rate"])
    lr_txt = f"{lr_end.min():.2e}..{lr_end.max():.2e}" if "HD" in label else "(fixed)"
    print(f"{label:16s} " + " ".join(f"{v:8.4f}" for v in final) +
          f"   {final.max() / final.min():8.1f}   {lr_txt}")
    family = label.split("-")[0].split(" ")[0]
    color = {"SGD": "tab:blue", "SGDN": "tab:red", "Adam": "tab:green"}[family]
    style = "--" if "HD" not in label else ("-" if label.endswith(("1e-3", "1e-6")) else ":")
    ax.plot(LRS, final, style, color=color, marker="o", ms=3, label=label)
  ax.set_xscale("log")
  ax.set_yscale("log")
  ax.set_xlabel("initial learning rate")
  ax.set_ylabel("final training loss")
  ax.set_title("Hypergradient descent: sensitivity to the initial learning rate")
  ax.legend(fontsize=7, ncol=3)
  fig.tight_layout()
  fig.savefig(OUT, dpi=100)
  print(f"wrote {os.path.relpath(OUT)}")


if __name__ == "__main__":
  main()
