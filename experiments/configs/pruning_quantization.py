r"""Worked example 7: gradual magnitude pruning to 50-95% sparsity, then post-training int8 quantization.

    python -m experiments.main --workdir=runs/pruning_quantization \
        --config=experiments/configs/pruning_quantization.py --docs=docs

The digits MLP with Adam (lr 0.002), 30 epochs. `prune_sparsity=S` chains
`experiments.pruning.magnitude_pruning` after the optimizer: a GradientTransformation
whose sparsity follows Zhu & Gupta's polynomial schedule from 0 to S over the first
3/4 of training (masks refreshed every 10 steps), so the kernels end with exactly S
of their weights at 0. `quantize_int8=True` then quantizes each trained model to int8
(symmetric, per tensor) and evaluates it again. `...pruning_quantization.py:quick`
trains sparsity 0 and 0.9 for 3 epochs (the tests).
"""

import ml_collections

from experiments.configs import default
from experiments.configs.default import variant

TARGETS = (0.0, 0.5, 0.8, 0.9, 0.95)


def get_config(mode: str = "") -> ml_collections.ConfigDict:
  """The base run and one variant per target sparsity; `mode="quick"` is the reduced version."""
  if mode not in ("", "quick"):
    raise ValueError(f"get_config: mode must be '' or 'quick', got {mode!r}.")
  quick = mode == "quick"
  c = default.get_config()
  c.learning_rate = 0.002
  c.epochs = 3 if quick else 30
  c.quantize_int8 = True
  c.progress = False
  c.example = ml_collections.ConfigDict(dict(
      name="pruning_quantization",
      variants=tuple(variant(f"sparsity {s:.2f}", prune_sparsity=s) for s in ((0.0, 0.9) if quick else TARGETS)),
      columns=(("target sparsity", "config.prune_sparsity"), ("kernel sparsity", "summary.sparsity"),
               ("test acc float32", "summary.test_accuracy"), ("test acc int8", "summary.int8_test_accuracy"),
               ("float32 KiB", "summary.float32_kib"), ("int8 KiB", "summary.int8_kib"),
               ("int8 sparse KiB", "summary.int8_sparse_kib")),
      plot=dict(kind="rows", x="kernel sparsity",
                panels=(("test accuracy", False, (("test acc float32", "float32", "o-"),
                                                  ("test acc int8", "int8", "s--"))),
                        ("model size (KiB)", True, (("float32 KiB", "float32", "o-"), ("int8 KiB", "int8", "s--"),
                                                    ("int8 sparse KiB", "int8 sparse", "^-")))),
                title="digits MLP: gradual magnitude pruning + int8 quantization"),
  ))
  return c
