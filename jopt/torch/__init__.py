"""jopt.torch: PyTorch's `torch.optim` optimizers and `lr_scheduler` schedules, reproduced as jopt transforms.

Constructors take PyTorch's argument names and defaults (without `params`) and
give PyTorch's numbers; see the README section "Porting from PyTorch".
Importing this namespace does not import torch.
"""

# --- optimizers ---
from jopt._src.torch.torch_optimizers import adadelta
from jopt._src.torch.torch_optimizers import adagrad
from jopt._src.torch.torch_optimizers import adam
from jopt._src.torch.torch_optimizers import adamax
from jopt._src.torch.torch_optimizers import adamw
from jopt._src.torch.torch_optimizers import asgd
from jopt._src.torch.torch_optimizers import nadam
from jopt._src.torch.torch_optimizers import radam
from jopt._src.torch.torch_optimizers import rmsprop
from jopt._src.torch.torch_optimizers import sgd

# --- ReduceLROnPlateau (a transform fed `value=loss`) ---
from jopt._src.torch.plateau_scheduler import TorchReduceLROnPlateauState
from jopt._src.torch.plateau_scheduler import reduce_lr_on_plateau

# --- schedules (torch.optim.lr_scheduler) ---
from jopt._src.torch.lr_schedulers import constant_lr
from jopt._src.torch.lr_schedulers import cosine_annealing_lr
from jopt._src.torch.lr_schedulers import cosine_annealing_warm_restarts
from jopt._src.torch.lr_schedulers import cyclic_lr
from jopt._src.torch.lr_schedulers import exponential_lr
from jopt._src.torch.lr_schedulers import lambda_lr
from jopt._src.torch.lr_schedulers import linear_lr
from jopt._src.torch.lr_schedulers import multi_step_lr
from jopt._src.torch.lr_schedulers import one_cycle_lr
from jopt._src.torch.lr_schedulers import per_epoch
from jopt._src.torch.lr_schedulers import polynomial_lr
from jopt._src.torch.lr_schedulers import sequential_lr
from jopt._src.torch.lr_schedulers import step_lr

# --- building blocks (PyTorch's formulas; jopt's own blocks where the numbers are the same) ---
from jopt._src.torch.adam_variants import ScaleByNadamState
from jopt._src.torch.adam_variants import ScaleByRadamState
from jopt._src.torch.adam_variants import TorchScaleByAmsgradState
from jopt._src.torch.adam_variants import scale_by_adam
from jopt._src.torch.adam_variants import scale_by_adamax
from jopt._src.torch.adam_variants import scale_by_nadam
from jopt._src.torch.adam_variants import scale_by_radam
from jopt._src.torch.adaptive_variants import ScaleByAdagradState
from jopt._src.torch.adaptive_variants import scale_by_adadelta
from jopt._src.torch.adaptive_variants import scale_by_adagrad
from jopt._src.torch.adaptive_variants import scale_by_rmsprop
from jopt._src.torch.sgd_variants import ScaleByAsgdState
from jopt._src.torch.sgd_variants import TraceWithDampeningState
from jopt._src.torch.sgd_variants import scale_by_asgd
from jopt._src.torch.sgd_variants import trace_with_dampening
from jopt._src.transforms.adam import ScaleByAdamState  # jopt.ScaleByAdamState: the state of scale_by_adam

__all__ = [
    "ScaleByAdagradState",
    "ScaleByAdamState",
    "ScaleByAsgdState",
    "ScaleByNadamState",
    "ScaleByRadamState",
    "TorchReduceLROnPlateauState",
    "TorchScaleByAmsgradState",
    "TraceWithDampeningState",
    "adadelta",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "asgd",
    "constant_lr",
    "cosine_annealing_lr",
    "cosine_annealing_warm_restarts",
    "cyclic_lr",
    "exponential_lr",
    "lambda_lr",
    "linear_lr",
    "multi_step_lr",
    "nadam",
    "one_cycle_lr",
    "per_epoch",
    "polynomial_lr",
    "radam",
    "reduce_lr_on_plateau",
    "rmsprop",
    "scale_by_adadelta",
    "scale_by_adagrad",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_asgd",
    "scale_by_nadam",
    "scale_by_radam",
    "scale_by_rmsprop",
    "sequential_lr",
    "sgd",
    "step_lr",
    "trace_with_dampening",
]
