"""Trials per second of a vmapped `jopt.sweep` vs the same trials run one by one: `python -m benchmarks.sweep_throughput`.

The digits MLP (`experiments` digits split and MLP, hidden 64; batch 128, 20 epochs = 180
AdamW steps per trial),
K trials with log-spaced learning rates. Three ways to train the K trials:

* vmapped: `jopt.sweep(..., vmap=True)`, one jitted program (scan over steps,
  vmap over trials);
* sequential (scan): `jopt.sweep(..., vmap=False)`, the same single-trial jitted
  program called K times (compiled once);
* sequential (step loop): a Python loop over `jopt.make_train_step(...).step`,
  one jitted step per call, as in a hand-written training loop.

Every variant is compiled (warmed up) first; reported is the best of `--repeats`
timed runs, in trials per second, and each sequential variant's time over the
vmapped one. Results go to `benchmarks/results/sweep_throughput.md`.
"""

import argparse
import os
import sys

if "--devices" in " ".join(sys.argv) or "XLA_FLAGS" not in os.environ:
  # One CPU device per core (set before jax is imported), so the vmapped sweep can put
  # half of the trials on each core; the sequential variants run on one device.
  _n = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--devices=")), str(os.cpu_count()))
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                             f" --xla_force_host_platform_device_count={_n}").strip()
import platform
import time

import jax
import numpy as np

import jopt
from experiments.tuning import common as tuning_common


def _best_time(fn, repeats):
  best = float("inf")
  for _ in range(repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    best = min(best, time.perf_counter() - t0)
  return best


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--trials", default="1,4,16,64", help="comma-separated K values")
  parser.add_argument("--epochs", type=int, default=20)
  parser.add_argument("--devices", type=int, default=os.cpu_count(),
                      help="CPU devices the vmapped sweep's trial axis is split over (1: no split)")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--loop_max_k", type=int, default=64,
                      help="skip the step-loop baseline above this K (it is slow)")
  parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "sweep_throughput.md"))
  args = parser.parse_args()
  prob = tuning_common.digits_mlp(epochs=args.epochs)
  steps = prob.batches["x"].shape[0]
  fixed = {"weight_decay": 1e-4}
  rows = []
  print(f"devices: {jax.devices()}  cpus: {os.cpu_count()}  steps/trial: {steps}")
  for k in [int(v) for v in args.trials.split(",")]:
    space = {"learning_rate": np.logspace(-4, -1, k) if k > 1 else np.array([1e-3])}
    run = lambda vmap: jopt.sweep(prob.loss_fn, jopt.adamw, space, prob.params, prob.batches,
                                  fixed=fixed, vmap=vmap).train_loss
    run(True), run(False)  # compile both programs
    t_vmap = _best_time(lambda: run(True), args.repeats)
    t_seq = _best_time(lambda: run(False), args.repeats)
    t_loop = float("nan")
    if k <= args.loop_max_k:
      trainers = [jopt.make_train_step(prob.loss_fn, jopt.adamw(jax.numpy.asarray(lr, np.float32), **fixed))
                  for lr in space["learning_rate"]]
      batch_list = [jax.tree.map(lambda a: a[t], prob.batches) for t in range(steps)]

      def loop():
        out = []
        for tr in trainers:
          state = tr.init(prob.params)
          for b in batch_list:
            state, _ = tr.step(state, b)
          out.append(state.params)
        return out

      loop()  # compile (one program: the lr is an array argument)
      t_loop = _best_time(loop, args.repeats)
    row = (k, k / t_vmap, k / t_seq, k / t_loop, t_seq / t_vmap, t_loop / t_vmap)
    rows.append(row)
    print("K=%3d  vmapped %8.2f trials/s  sequential(scan) %7.2f  sequential(step loop) %7.2f  "
          "ratio scan %5.2fx  ratio loop %5.2fx" % row, flush=True)
  lines = [
      f"Sweep throughput (digits MLP 64-64-10, AdamW, {steps} steps/trial, batch 128); "
      f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, jax {jax.__version__}, "
      f"best of {args.repeats}.",
      "",
      "| K | vmapped trials/s | sequential (scan) trials/s | sequential (step loop) trials/s | vmapped / scan | vmapped / loop |",
      "|---|---|---|---|---|---|",
  ]
  for k, v, s, l, rs, rl in rows:
    loop_s = "-" if np.isnan(l) else f"{l:.2f}"
    loop_r = "-" if np.isnan(rl) else f"{rl:.2f}x"
    lines.append(f"| {k} | {v:.2f} | {s:.2f} | {loop_s} | {rs:.2f}x | {loop_r} |")
  os.makedirs(os.path.dirname(args.out), exist_ok=True)
  with open(args.out, "w") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))


if __name__ == "__main__":
  main()
