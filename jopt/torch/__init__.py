"""jopt.torch: PyTorch's `torch.optim` optimizers and `lr_scheduler` schedules, reproduced as jopt transforms.

Constructors take PyTorch's argument names and defaults (without `params`) and
give PyTorch's numbers; see the README section "Porting from PyTorch".
Importing this namespace does not import torch.
"""

# --- optimizers ---
from jopt._src.torch.optimizers import adadelta
from jopt._src.torch.optimizers import adagrad
from jopt._src.torch.optimizers import adam
from jopt._src.torch.optimizers import adamax
from jopt._src.torch.optimizers import adamw
from jopt._src.torch.optimizers import asgd
from jopt._src.torch.optimizers import nadam
from jopt._src.torch.optimizers import radam
from jopt._src.torch.optimizers import rmsprop
from jopt._src.torch.optimizers import sgd

# --- ReduceLROnPlateau (a transform fed `value=loss`) ---
from jopt._src.torch.plateau import ReduceLROnPlateauState
from jopt._src.torch.plateau import reduce_lr_on_plateau

# --- schedules (torch.optim.lr_scheduler) ---
from jopt._src.torch.schedulers import constant_lr
from jopt._src.torch.schedulers import cosine_annealing_lr
from jopt._src.torch.schedulers import cosine_annealing_warm_restarts
from jopt._src.torch.schedulers import cyclic_lr
from jopt._src.torch.schedulers import exponential_lr
from jopt._src.torch.schedulers import lambda_lr
from jopt._src.torch.schedulers import linear_lr
from jopt._src.torch.schedulers import multi_step_lr
from jopt._src.torch.schedulers import one_cycle_lr
from jopt._src.torch.schedulers import per_epoch
from jopt._src.torch.schedulers import polynomial_lr
from jopt._src.torch.schedulers import sequential_lr
from jopt._src.torch.schedulers import step_lr

# --- building blocks (PyTorch's formulas where they differ from jopt's) ---
from jopt._src.torch.adam import ScaleByAdamState
from jopt._src.torch.adam import ScaleByAdamaxState
from jopt._src.torch.adam import ScaleByNadamState
from jopt._src.torch.adam import ScaleByRadamState
from jopt._src.torch.adam import scale_by_adam
from jopt._src.torch.adam import scale_by_adamax
from jopt._src.torch.adam import scale_by_nadam
from jopt._src.torch.adam import scale_by_radam
from jopt._src.torch.adaptive import ScaleByAdadeltaState
from jopt._src.torch.adaptive import ScaleByAdagradState
from jopt._src.torch.adaptive import ScaleByRmspropState
from jopt._src.torch.adaptive import scale_by_adadelta
from jopt._src.torch.adaptive import scale_by_adagrad
from jopt._src.torch.adaptive import scale_by_rmsprop
from jopt._src.torch.momentum import ScaleByAsgdState
from jopt._src.torch.momentum import TraceWithDampeningState
from jopt._src.torch.momentum import scale_by_asgd
from jopt._src.torch.momentum import trace_with_dampening

__all__ = sorted(_n for _n in dict(globals()) if not _n.startswith("_"))
