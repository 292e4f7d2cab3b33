r"""The default experiment: Adam (lr 0.002) on scikit-learn's 8x8 digits with the 128-64 MLP, batch 64, 30 epochs.

    python -m experiments.main --workdir=runs/default
    python -m experiments.main --workdir=runs/sgd --config.optimizer=sgd --config.learning_rate=0.1 \
        --config.optimizer_kwargs.momentum=0.9 --config.l2=1e-4 --config.epochs=10

Every field below can be overridden on the command line as `--config.FIELD=VALUE`;
`optimizer_kwargs` and `schedule_kwargs` take any key (`--config.optimizer_kwargs.b1=0.95`,
values read as Python literals: `0.9`, `True`, `[100, 200]`, `"{100: 0.1}"`; anything else stays a
string, which the optimizer or schedule then refuses unless it takes one, e.g. `mu_dtype=bfloat16`).
A field that is not listed here is refused (a typo would otherwise be silently ignored), and every
field must hold its default's type (`--config.epochs=1.5`, `--config.progress=maybe` are refused):
a bad value prints one line `FATAL: --config.FIELD: ...` and exits with code 2 before anything is
written.

Fields:

| field | default | meaning |
|---|---|---|
| dataset | "digits" | digits, breast_cancer, diabetes (regression), linear_2x (y = 2x + noise), mnist, fashion_mnist |
| data_dir | "" | mnist / fashion_mnist only: a folder with `<name>.npz` or the four IDX files (`.gz` or raw); `~` is expanded; nothing is downloaded |
| model | "mlp" | linear (linear / logistic regression), mlp, cnn (image datasets) |
| hidden | "128,64" | the MLP's hidden widths, comma-separated |
| optimizer | "adam" | a name in jopt's public namespace: `adamw`, `sgd`, ... or `contrib.muon`, `torch.AdamW` (a submodule, when jopt has it); called as `jopt.<name>(learning_rate=..., **optimizer_kwargs)` |
| learning_rate | 0.002 | the optimizer's learning rate (the value `"learning_rate"` stands for in schedule_kwargs) |
| optimizer_kwargs | {} | the optimizer's other arguments by name, e.g. `b1`, `momentum`, `nesterov` |
| schedule | "" | "" = constant learning_rate; else a jopt schedule name, e.g. `cosine_decay_schedule`, that replaces it |
| schedule_kwargs | {} | the schedule's arguments by name; the strings "learning_rate", "total_steps" and "steps_per_epoch" stand for config.learning_rate, the run's length in steps and the steps per epoch |
| base_batch_size | 0 | > 0: the learning rate (or schedule) is scaled by batch_size / base_batch_size (`jopt.scale_learning_rate`) |
| lr_scaling | "linear" | the scaling rule: linear or sqrt |
| l1 | 0.0 | > 0: `jopt.add_l1_decay(l1)` before the optimizer (L1 subgradient) |
| l2 | 0.0 | > 0: `jopt.add_decayed_weights(l2)` before the optimizer (coupled L2, PyTorch's weight_decay) |
| weight_decay | -1.0 | >= 0: passed to the optimizer as `weight_decay` (decoupled, adamw...); < 0 keeps its default |
| clip_norm | 0.0 | > 0: `jopt.clip_by_global_norm(clip_norm)` first |
| batch_size | 64 | training batch size (the last partial batch of an epoch is dropped) |
| epochs | 30 | epochs to train |
| steps | 0 | > 0: train this many steps instead of `epochs` |
| seed | 0 | the init and batch-order seed (batch k depends only on (seed, k)) |
| devices | 1 | > 1: the data-parallel (mesh) `jopt.make_train_step` on that many devices; on a CPU-only host the launcher asks XLA for that many |
| eval_every | 0 | steps between evaluations on train / validation / test; 0 = once per epoch |
| log_every | 10 | steps between `metrics.jsonl` training records |
| checkpoint_every | 0 | steps between orbax checkpoints; 0 = once per epoch (and always at the end) |
| progress | True | tqdm progress bar and the printed summary table |
| nan_policy | "raise" | a non-finite loss or gradient (`jopt.make_train_step`'s `nan_policy`): raise = stop with exit code 3 naming the step, the metric and the last good checkpoint (kept); skip = skip that update and count it (summary: `nonfinite_steps`); ignore = apply it |
| flat | False | `jopt.make_train_step(..., flat=True)`: params, gradients and optimizer state in a few flat buffers (same numbers up to float reduction order; checkpoints are the tree step's) |
| early_stopping_patience | 0 | > 0: stop when the validation loss has not improved for this many evaluations; the best params are restored |
| early_stopping_min_delta | 0.0 | the improvement that counts |
| prune_sparsity | 0.0 | > 0: gradual magnitude pruning of the kernels to this sparsity (`experiments.pruning`) |
| prune_begin | 0 | first step of the pruning schedule |
| prune_end | 0 | last step of the pruning schedule; 0 = 3/4 of the run |
| prune_every | 10 | steps between pruning-mask updates |
| quantize_int8 | False | at the end also evaluate the int8-quantized model (summary: `int8_test_accuracy`, sizes in KiB) |
| distill_from | "" | the workdir of a finished classification run: its logits are soft targets (knowledge distillation) |
| distill_temperature | 4.0 | distillation temperature T |
| distill_alpha | 0.9 | weight of the soft-target term; 1 - alpha on the labels |

A worked example's config (`experiments/configs/<example>.py`) adds an `example` field: its
variants (each trains in `<workdir>/<variant>`), the table columns and the comparison plot
(see `experiments/variants.py`).
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  """The default config (flat, as in flax's examples); the table above documents each field."""
  c = ml_collections.ConfigDict()
  # Data and model.
  c.dataset = "digits"  # digits | breast_cancer | diabetes | linear_2x | mnist | fashion_mnist
  c.data_dir = ""  # mnist / fashion_mnist only: folder with <name>.npz or the IDX files; ~ expanded
  c.model = "mlp"  # linear | mlp | cnn
  c.hidden = "128,64"  # MLP hidden widths, comma-separated
  # Optimizer and learning rate: names in jopt's public namespace ("adamw", "contrib.muon").
  c.optimizer = "adam"
  c.learning_rate = 2e-3
  c.optimizer_kwargs = ml_collections.ConfigDict()  # e.g. b1=0.95, momentum=0.9, nesterov=True
  c.schedule = ""  # "" = constant; e.g. "cosine_decay_schedule"
  c.schedule_kwargs = ml_collections.ConfigDict()  # e.g. init_value="learning_rate", decay_steps="total_steps"
  c.base_batch_size = 0  # > 0: lr scaled by batch_size / base_batch_size (lr_scaling rule)
  c.lr_scaling = "linear"  # linear | sqrt
  # Regularization and clipping.
  c.l1 = 0.0  # add_l1_decay before the optimizer (L1 subgradient)
  c.l2 = 0.0  # add_decayed_weights before the optimizer (coupled L2, PyTorch's weight_decay)
  c.weight_decay = -1.0  # >= 0: the optimizer's own (decoupled) weight_decay; < 0 keeps its default
  c.clip_norm = 0.0  # > 0: clip_by_global_norm first
  # Loop.
  c.batch_size = 64
  c.epochs = 30
  c.steps = 0  # > 0 overrides epochs
  c.seed = 0  # init and batch order
  c.devices = 1  # > 1: the data-parallel (mesh) training step on that many devices
  c.eval_every = 0  # steps between evaluations; 0 = once per epoch
  c.log_every = 10  # steps between metrics.jsonl training records
  c.checkpoint_every = 0  # steps between checkpoints; 0 = once per epoch (and always at the end)
  c.progress = True  # tqdm progress bar and the printed summary table
  c.nan_policy = "raise"  # raise | skip | ignore: a non-finite loss or gradient
  c.flat = False  # the flat training step (params in a few flat buffers)
  # Early stopping on the validation loss (0 = off); the best params are restored.
  c.early_stopping_patience = 0
  c.early_stopping_min_delta = 0.0
  # Gradual magnitude pruning (0 = off): sparsity 0 -> prune_sparsity over [prune_begin, prune_end).
  c.prune_sparsity = 0.0
  c.prune_begin = 0
  c.prune_end = 0  # 0 = 3/4 of the run
  c.prune_every = 10  # steps between mask updates
  c.quantize_int8 = False  # also evaluate the int8-quantized model at the end
  # Knowledge distillation from a finished run's workdir (its model and params).
  c.distill_from = ""
  c.distill_temperature = 4.0
  c.distill_alpha = 0.9  # weight of the soft-target term; 1 - alpha on the labels
  return c


def variant(label: str, *, dir: str = "", legend: str = "", row: dict | None = None, **overrides) -> dict:  # pylint: disable=redefined-builtin
  """One variant of a worked example (an entry of `config.example.variants`).

  Args:
    label: the variant's name in the table (first column).
    dir: its run directory inside the example's workdir (default: the label, slugified).
      A later variant's `distill_from` may name it.
    legend: its name in the plot (default: the label).
    row: fixed table cells of this variant, read by the `row.<key>` columns.
    **overrides: config fields to change; `optimizer_kwargs` / `schedule_kwargs` are merged.

  Returns:
    The variant as a plain dict.
  """
  return {"label": label, "dir": dir, "legend": legend, "row": dict(row or {}), "config": overrides}
