"""Worked example 7: gradual magnitude pruning to 50-95% sparsity, then post-training int8 quantization.

    python -m experiments.examples.pruning_quantization --workdir=runs/pruning_quantization --docs=docs

The digits MLP with Adam (lr 0.002), 30 epochs. `--prune_sparsity=S` chains
`experiments.pruning.magnitude_pruning` after the optimizer: a GradientTransformation
whose sparsity follows Zhu & Gupta's polynomial schedule from 0 to S over the
first 3/4 of training (masks refreshed every 10 steps), so the kernels end with
exactly S of their weights at 0. Each trained model is then quantized to int8
(symmetric, per tensor) and evaluated again.
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position

from experiments import build as build_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from experiments import pruning  # pylint: disable=g-import-not-at-top,wrong-import-position
from experiments.examples import common  # pylint: disable=g-import-not-at-top,wrong-import-position

TARGETS = (0.0, 0.5, 0.8, 0.9, 0.95)


def run(workdir: str, quick: bool = False, docs: str = "") -> list[dict]:
  """Trains at each target sparsity, quantizes; returns the table rows."""
  os.makedirs(workdir, exist_ok=True)
  rows = []
  for target in (0.0, 0.9) if quick else TARGETS:
    label = f"sparsity {target:.2f}"
    c = common.config(learning_rate=0.002, epochs=3 if quick else 30, prune_sparsity=target)
    summary, _ = common.train(workdir, label, c)
    setup = build_lib.build(c)
    params = common.final_params(workdir, label, c)
    q_params, sizes = pruning.quantize_int8(params)
    q_eval = setup.evaluate(q_params, setup.data.test)
    rows.append({"target sparsity": target, "kernel sparsity": pruning.sparsity_of(params),
                 "test acc float32": summary["test_accuracy"], "test acc int8": q_eval["accuracy"],
                 "float32 KiB": sizes["float32"] / 1024, "int8 KiB": sizes["int8"] / 1024,
                 "int8 sparse KiB": sizes["int8_sparse"] / 1024})
  fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.4, 4))
  xs = [r["kernel sparsity"] for r in rows]
  ax1.plot(xs, [r["test acc float32"] for r in rows], "o-", label="float32")
  ax1.plot(xs, [r["test acc int8"] for r in rows], "s--", label="int8")
  ax1.set(xlabel="kernel sparsity", ylabel="test accuracy")
  ax1.legend()
  for key, style in (("float32 KiB", "o-"), ("int8 KiB", "s--"), ("int8 sparse KiB", "^-")):
    ax2.plot(xs, [r[key] for r in rows], style, label=key.replace(" KiB", ""))
  ax2.set(xlabel="kernel sparsity", ylabel="model size (KiB)", yscale="log")
  ax2.legend()
  fig.suptitle("digits MLP: gradual magnitude pruning + int8 quantization")
  fig.tight_layout()
  png = os.path.join(workdir, "pruning_quantization.png")
  fig.savefig(png, dpi=110)
  plt.close(fig)
  common.report(workdir, "pruning_quantization", rows, png, docs)
  return rows


if __name__ == "__main__":
  common.main(run)
