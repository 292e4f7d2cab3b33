"""Meta-gradient tuning vs grid search on the digits MLP (AdamW).

    python -m experiments.tuning.metagrad --workdir=runs/tuning_metagrad --docs=docs

About 30 s on 2 CPU cores.
1. Learning rate only (weight decay 1e-4): a 12-point log grid over [1e-4, 1e-1]
   (12 training runs, one vmapped `jopt.sweep`) vs `jopt.meta_tune` from
   lr = 1e-3: each meta step is one training run (180 AdamW steps, unrolled and
   differentiated with `jax.grad` through the loop, `jax.checkpoint` per step)
   followed by an Adam(0.5) step on log lr. Reported: the first run whose
   validation loss is within 10% of the grid's best, and wall times.
2. Learning rate and weight decay together: the 6 x 6 grid (36 runs) vs 12 meta
   steps on (log lr, log wd) from (1e-3, 1e-2).

Both use `eps_root=1e-8` (needed to differentiate through Adam; the grid uses it
too, so both evaluate the same optimizer). Writes `<workdir>/metagrad.png` and
results.txt (`--docs=DIR` copies the PNG to DIR/tuning_metagrad.png).
"""

import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position

import jopt  # pylint: disable=wrong-import-position
from experiments.tuning import common  # pylint: disable=wrong-import-position


def grid_vs_meta(prob, grid, fixed, init, num_steps):
  """The grid's validation losses and time, and `jopt.meta_tune`'s result and time."""
  t0 = time.perf_counter()
  res = jopt.sweep(prob.loss_fn, jopt.adamw, grid, prob.params, prob.batches, fixed=fixed,
                   eval_fn=prob.val_loss)
  grid_val = np.asarray(res.metrics["loss"])
  t_grid = time.perf_counter() - t0
  t0 = time.perf_counter()
  meta = jopt.meta_tune(prob.loss_fn, prob.val_loss, jopt.adamw, init, prob.params, prob.batches,
                        num_steps=num_steps, fixed=fixed, meta_optimizer=jopt.adam(0.5))
  t_meta = time.perf_counter() - t0
  return grid_val, t_grid, meta, t_meta


def report(out, title, grid, grid_val, t_grid, meta, t_meta):
  """Prints the grid's best, each meta run, and when meta-gradient tuning got within 10%; returns the target."""
  best = int(np.argmin(grid_val))
  target = 1.1 * grid_val[best]
  hits = [i for i, v in enumerate(meta.val_loss) if v <= target]
  fmt = lambda hp: ", ".join(f"{k}={v:.3g}" for k, v in hp.items())
  out(f"== {title}")
  out(f"grid: {len(grid_val)} runs in {t_grid:.1f} s (vmapped); best val loss {grid_val[best]:.4f} at "
      f"{fmt({k: v[best] for k, v in grid.items()})}; 10% target {target:.4f}")
  for i, (hp, v) in enumerate(zip(meta.hyperparams, meta.val_loss)):
    out(f"  meta run {i + 1:2d}: {fmt(hp)}  val loss {v:.4f}{'  <= target' if v <= target else ''}")
  if hits:
    out(f"meta-gradient tuning: within 10% of the grid's best after {hits[0] + 1} runs "
        f"(grid: {len(grid_val)}); {len(meta.val_loss)} meta steps took {t_meta:.1f} s")
  else:
    out(f"meta-gradient tuning: NOT within 10% of the grid's best in {len(meta.val_loss)} runs "
        f"(best {meta.best_val_loss:.4f}); {t_meta:.1f} s")
  return target


def run(workdir: str, docs: str = "", quick: bool = False) -> dict:
  """Both comparisons; returns each grid's best and each meta-tuning run's best validation loss."""
  n1, n2, steps1, steps2 = (4, 2, 2, 2) if quick else (12, 6, 10, 12)
  out = common.Report()
  prob = common.digits_mlp(epochs=2 if quick else 20)
  out(f"digits MLP 64-64-10, AdamW (eps_root=1e-8), {prob.batches['x'].shape[0]} steps of batch 128")
  grid1 = {"learning_rate": np.logspace(-4, -1, n1)}
  out1 = grid_vs_meta(prob, grid1, {"eps_root": 1e-8, "weight_decay": 1e-4}, {"learning_rate": 1e-3}, steps1)
  target1 = report(out, "learning rate (weight decay 1e-4)", grid1, *out1)
  grid2 = jopt.grid_search({"learning_rate": np.logspace(-4, -1, n2), "weight_decay": np.logspace(-5, 0, n2)})
  out2 = grid_vs_meta(prob, grid2, {"eps_root": 1e-8}, {"learning_rate": 1e-3, "weight_decay": 1e-2}, steps2)
  target2 = report(out, "learning rate and weight decay", grid2, *out2)

  fig, axes = plt.subplots(1, 2, figsize=(10, 4))
  ax = axes[0]
  ax.plot(grid1["learning_rate"], out1[0], "o-", label=f"grid ({n1} runs)")
  meta = out1[2]
  lrs = [h["learning_rate"] for h in meta.hyperparams]
  ax.plot(lrs, meta.val_loss, "s--", color="tab:red", label="meta-gradient steps")
  for i, (x, y) in enumerate(zip(lrs, meta.val_loss)):
    ax.annotate(str(i + 1), (x, y), textcoords="offset points", xytext=(3, 3), fontsize=7)
  ax.axhline(target1, color="gray", lw=0.8, ls=":", label="grid best + 10%")
  ax.set_xscale("log")
  ax.set_yscale("log")
  ax.set_xlabel("learning rate")
  ax.set_ylabel("validation loss")
  ax.set_title("lr only (wd = 1e-4)")
  ax.legend(fontsize=8)
  ax = axes[1]
  for label, (grid_val, _, meta, _), _ in (("lr", out1, target1), ("lr + wd", out2, target2)):
    line, = ax.plot(np.arange(1, len(meta.val_loss) + 1), np.minimum.accumulate(meta.val_loss), "o-",
                    label=f"meta ({label})")
    ax.axhline(grid_val.min(), color=line.get_color(), ls=":", lw=1,
               label=f"grid best ({label}, {len(grid_val)} runs)")
  ax.set_yscale("log")
  ax.set_xlabel("training runs (meta steps)")
  ax.set_ylabel("best validation loss so far")
  ax.set_title("meta-gradient tuning vs grid")
  ax.legend(fontsize=8)
  common.finish(out, fig, workdir, "metagrad", docs)
  return {"grid_best": [float(out1[0].min()), float(out2[0].min())],
          "meta_best": [float(out1[2].best_val_loss), float(out2[2].best_val_loss)]}


if __name__ == "__main__":
  common.main(run)
