"""Grid vs random search for AdamW's learning rate and weight decay on the digits MLP.

    python -m experiments.tuning.grid_vs_random --workdir=runs/tuning_grid_vs_random --docs=docs

Under a minute on 2 CPU cores. A grid with budget n = m*m trials puts m log-spaced
values per hyperparameter (cell centres of the search box); random search draws n
log-uniform points (50 seeds; the best after the first n draws of each). Every trial
of every grid and every seed trains in ONE vmapped `jopt.sweep` per method. Prints
the best validation loss vs the number of trials; writes `<workdir>/grid_vs_random.png`
and results.txt (`--docs=DIR` copies the PNG to DIR/tuning_grid_vs_random.png).
"""

import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position

import jopt  # pylint: disable=wrong-import-position
from experiments.tuning import common  # pylint: disable=wrong-import-position

BOX = {"learning_rate": (1e-4, 1e-1), "weight_decay": (1e-5, 1.0)}
BUDGETS = (1, 4, 9, 16, 25, 36, 49, 64)
SEEDS = 50


def centred_log_grid(low: float, high: float, m: int) -> np.ndarray:
  """The centres of m log-spaced cells covering [low, high]."""
  edges = np.linspace(np.log10(low), np.log10(high), m + 1)
  return 10 ** ((edges[:-1] + edges[1:]) / 2)


def run(workdir: str, docs: str = "", quick: bool = False) -> dict:
  """Runs both searches; returns the grid's and random search's best validation loss per budget."""
  budgets, seeds = ((1, 4, 9), 3) if quick else (BUDGETS, SEEDS)
  out = common.Report()
  prob = common.digits_mlp(epochs=2 if quick else 20)
  sweep = lambda space: np.asarray(jopt.sweep(
      prob.loss_fn, jopt.adamw, space, prob.params, prob.batches, eval_fn=prob.val_loss).metrics["loss"])
  t0 = time.perf_counter()
  grids = [jopt.grid_search({k: centred_log_grid(*BOX[k], int(round(n ** 0.5))) for k in BOX}) for n in budgets]
  grid_val = sweep({k: np.concatenate([g[k] for g in grids]) for k in BOX})
  grid_best, start = [], 0
  for g, n in zip(grids, budgets):
    vals = grid_val[start:start + n]
    i = int(np.argmin(vals))
    grid_best.append((vals[i], g["learning_rate"][i], g["weight_decay"][i]))
    start += n
  t_grid = time.perf_counter() - t0
  t0 = time.perf_counter()
  draws = [jopt.random_search({k: ("log", *BOX[k]) for k in BOX}, max(budgets), seed=s) for s in range(seeds)]
  rand_val = sweep({k: np.concatenate([d[k] for d in draws]) for k in BOX}).reshape(seeds, max(budgets))
  running = np.minimum.accumulate(rand_val, axis=1)  # [seed, n]: best of the first n draws
  t_rand = time.perf_counter() - t0
  out(f"digits MLP 64-64-10, AdamW, {prob.batches['x'].shape[0]} steps of batch 128; "
      f"lr in [1e-4, 1e-1], weight decay in [1e-5, 1] (log scale)")
  out(f"{sum(budgets)} grid trials in {t_grid:.1f} s, {seeds * max(budgets)} random trials in {t_rand:.1f} s "
      "(one vmapped sweep each, incl. compilation)")
  out(f" trials | grid best val loss (lr, wd)        | random best val loss: mean over {seeds} seeds [min, max]")
  for n, (v, lr, wd) in zip(budgets, grid_best):
    r = running[:, n - 1]
    out(f"   {n:3d}  | {v:.4f} ({lr:.2e}, {wd:.2e})  | {r.mean():.4f} [{r.min():.4f}, {r.max():.4f}]")
  fig, ax = plt.subplots(figsize=(6, 4))
  ns = np.arange(1, max(budgets) + 1)
  ax.plot(budgets, [g[0] for g in grid_best], "o-", label="grid (m x m)")
  ax.plot(ns, running.mean(0), "-", label=f"random (mean of {seeds} seeds)")
  ax.fill_between(ns, running.min(0), running.max(0), alpha=0.2, label="random (min-max)")
  ax.set_xlabel("number of trials")
  ax.set_ylabel("best validation loss")
  ax.set_yscale("log")
  ax.set_title("AdamW lr x weight decay on digits: grid vs random search")
  ax.legend()
  common.finish(out, fig, workdir, "grid_vs_random", docs)
  return {"budgets": list(budgets), "grid": [float(g[0]) for g in grid_best],
          "random_mean": [float(running[:, n - 1].mean()) for n in budgets]}


if __name__ == "__main__":
  common.main(run)
