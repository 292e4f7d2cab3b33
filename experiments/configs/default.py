"""The default experiment: Adam on scikit-learn's digits with the 128-64 MLP.

    python -m experiments.train --workdir=runs/default
    python -m experiments.train --config=experiments/configs/default.py --config.epochs=5 --workdir=...

Every field is also a flag of `experiments.train` (`--optimizer=sgd --momentum=0.9`);
an explicitly given flag overrides the config file.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  """The default config (flat, as flax examples)."""
  c = ml_collections.ConfigDict()
  # Data and model.
  c.dataset = "digits"  # digits | breast_cancer | diabetes | linear_2x | mnist | fashion_mnist
  c.data_dir = ""  # MNIST-like sets only: a folder with <name>.npz or the IDX .gz files
  c.model = "mlp"  # linear | mlp | cnn
  c.hidden = "128,64"  # MLP hidden widths
  # Optimizer: any optimizer jopt exports, its hyperparameters by name.
  c.optimizer = "adam"
  c.learning_rate = 2e-3
  c.optimizer_kwargs = ml_collections.ConfigDict()  # e.g. {"b1": 0.95} or {"momentum": 0.9}
  c.schedule = ""  # "" = constant; any schedule jopt exports, e.g. cosine_decay_schedule
  c.schedule_kwargs = ml_collections.ConfigDict()  # its arguments; peak/initial value and length default
  c.base_batch_size = 0  # > 0: learning rate scaled by batch_size / base_batch_size (lr_scaling rule)
  c.lr_scaling = "linear"  # linear | sqrt
  # Regularization and clipping.
  c.l1 = 0.0  # add_l1_decay before the optimizer (L1 subgradient)
  c.l2 = 0.0  # add_decayed_weights before the optimizer (coupled L2, PyTorch's weight_decay)
  c.weight_decay = -1.0  # decoupled, for optimizers that take it (adamw...); < 0 keeps their default
  c.clip_norm = 0.0  # > 0: clip_by_global_norm first
  # Loop.
  c.batch_size = 64
  c.epochs = 30
  c.steps = 0  # > 0 overrides epochs
  c.seed = 0
  c.devices = 1  # > 1: the data-parallel (mesh) training step on that many devices
  c.eval_every = 0  # steps between evaluations; 0 = once per epoch
  c.log_every = 10  # steps between metrics.jsonl lines
  c.checkpoint_every = 0  # steps between checkpoints; 0 = once per epoch (and always at the end)
  c.progress = True  # tqdm progress bar
  # Early stopping on validation loss (0 = off).
  c.early_stopping_patience = 0
  c.early_stopping_min_delta = 0.0
  # Gradual magnitude pruning (0 = off): polynomial sparsity 0 -> prune_sparsity over [begin, end) steps.
  c.prune_sparsity = 0.0
  c.prune_begin = 0
  c.prune_end = 0  # 0 = 3/4 of the run
  c.prune_every = 10
  # Knowledge distillation from a finished run's workdir (its model and params).
  c.distill_from = ""
  c.distill_temperature = 4.0
  c.distill_alpha = 0.9  # weight of the soft-target term; 1 - alpha on the labels
  return c
