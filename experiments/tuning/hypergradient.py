"""Hypergradient descent (Baydin et al. 2018) reproduction: sensitivity to the initial learning rate.

    python -m experiments.tuning.hypergradient --workdir=runs/tuning_hypergradient --docs=docs

About 20 s on 2 CPU cores. Trains the digits MLP (30 epochs = 270 steps of batch 128)
from 7 initial learning rates log-spaced over [1e-4, 1e-1] with SGD, SGD with
Nesterov momentum (SGDN, mu = 0.9), Adam, and their hypergradient variants
(`jopt.hd_sgd`, `jopt.hd_adam`) at two hypergradient step sizes beta each; the 7 runs
of each optimizer are one vmapped `jopt.sweep`. Prints the final training loss
(whole training split) per initial rate, its spread max/min, and the final adapted
rate; writes `<workdir>/hypergradient.png` and results.txt (`--docs=DIR` copies the
PNG to DIR/tuning_hypergradient.png). The paper's claim: the HD variants are far less
sensitive to the initial rate.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position

import jopt  # pylint: disable=wrong-import-position
from experiments.tuning import common  # pylint: disable=wrong-import-position

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


def run(workdir: str, docs: str = "", quick: bool = False) -> dict:
  """Sweeps the initial rate of each method; returns label -> final training loss per initial rate."""
  lrs = LRS[::3] if quick else LRS
  methods = [METHODS[i] for i in (0, 1, 6, 8)] if quick else METHODS
  out = common.Report()
  prob = common.digits_mlp(epochs=2 if quick else 30)
  out(f"digits MLP 64-64-10, {prob.batches['x'].shape[0]} steps of batch 128; "
      "final training loss for initial lr = " + ", ".join(f"{lr:.0e}" for lr in lrs))
  out(f"{'optimizer':16s} " + " ".join(f"{lr:>8.0e}" for lr in lrs) + "   max/min   final lr (min..max)")
  fig, ax = plt.subplots(figsize=(7, 4.5))
  finals = {}
  for label, factory, fixed in methods:
    res = jopt.sweep(prob.loss_fn, factory, {"learning_rate": lrs}, prob.params, prob.batches,
                     fixed=fixed, eval_fn=prob.train_loss)
    final = np.asarray(res.metrics["loss"])
    finals[label] = [float(v) for v in final]
    lr_end = np.asarray(jopt.hyperparams(res.state.opt_state)["learning_rate"])
    lr_txt = f"{lr_end.min():.2e}..{lr_end.max():.2e}" if "HD" in label else "(fixed)"
    out(f"{label:16s} " + " ".join(f"{v:8.4f}" for v in final) + f"   {final.max() / final.min():8.1f}   {lr_txt}")
    family = label.split("-")[0].split(" ")[0]
    color = {"SGD": "tab:blue", "SGDN": "tab:red", "Adam": "tab:green"}[family]
    style = "--" if "HD" not in label else ("-" if label.endswith(("1e-3", "1e-6")) else ":")
    ax.plot(lrs, final, style, color=color, marker="o", ms=3, label=label)
  ax.set_xscale("log")
  ax.set_yscale("log")
  ax.set_xlabel("initial learning rate")
  ax.set_ylabel("final training loss")
  ax.set_title("Hypergradient descent: sensitivity to the initial learning rate")
  ax.legend(fontsize=7, ncol=3)
  common.finish(out, fig, workdir, "hypergradient", docs)
  return finals


if __name__ == "__main__":
  common.main(run)
