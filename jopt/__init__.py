"""jopt: functional optimization for JAX, a drop-in for optax's optimizers, schedules and regularizers.

Every name here is re-exported from a private module under `jopt._src`; import
from `jopt` only.
"""

# --- protocol (optax's base types, so jopt transforms are optax transforms) ---
from jopt._src.base import EmptyState
from jopt._src.base import GradientTransformation
from jopt._src.base import GradientTransformationExtraArgs
from jopt._src.base import OptState
from jopt._src.base import Params
from jopt._src.base import ScalarOrSchedule
from jopt._src.base import Schedule
from jopt._src.base import Updates
from jopt._src.base import init_empty_state

# --- composition and application ---
from jopt._src.combine import chain
from jopt._src.combine import named_chain
from jopt._src.masking import MaskedNode
from jopt._src.masking import MaskedState
from jopt._src.masking import masked
from jopt._src.update import apply_updates

# --- building blocks ---
from jopt._src.adam import ScaleByAdamState
from jopt._src.adam import scale_by_adam
from jopt._src.momentum import TraceState
from jopt._src.momentum import trace
from jopt._src.regularization import AddDecayedWeightsState
from jopt._src.regularization import add_decayed_weights
from jopt._src.scaling import ScaleByScheduleState
from jopt._src.scaling import identity
from jopt._src.scaling import scale
from jopt._src.scaling import scale_by_learning_rate
from jopt._src.scaling import scale_by_schedule

# --- regularization ---
from jopt._src.masks import NO_DECAY_NAMES
from jopt._src.masks import mask_and
from jopt._src.masks import mask_by_ndim
from jopt._src.masks import mask_by_path
from jopt._src.masks import weight_decay_mask
from jopt._src.proximal import ProximalState
from jopt._src.proximal import elastic_net_proximal
from jopt._src.proximal import group_lasso_proximal
from jopt._src.proximal import l1_proximal
from jopt._src.regularization import AddL1DecayState
from jopt._src.regularization import add_l1_decay

# --- schedules ---
from jopt._src.schedules.batch_scaling import scale_learning_rate
from jopt._src.schedules.cosine import cosine_decay_schedule
from jopt._src.schedules.cyclic import cyclic_schedule
from jopt._src.schedules.cyclic import sgdr_schedule
from jopt._src.schedules.exponential import exponential_decay
from jopt._src.schedules.exponential import inverse_time_decay
from jopt._src.schedules.join import join_schedules
from jopt._src.schedules.onecycle import cosine_onecycle_schedule
from jopt._src.schedules.onecycle import linear_onecycle_schedule
from jopt._src.schedules.piecewise import piecewise_constant_schedule
from jopt._src.schedules.piecewise import piecewise_interpolate_schedule
from jopt._src.schedules.polynomial import constant_schedule
from jopt._src.schedules.polynomial import linear_schedule
from jopt._src.schedules.polynomial import polynomial_schedule
from jopt._src.schedules.step import multistep_decay
from jopt._src.schedules.step import step_decay
from jopt._src.schedules.warmup import warmup_constant_schedule
from jopt._src.schedules.warmup import warmup_cosine_decay_schedule
from jopt._src.schedules.warmup import warmup_exponential_decay_schedule
from jopt._src.schedules.warmup import warmup_linear_decay_schedule

# --- telemetry and wrappers ---
from jopt._src.accumulation import MultiSteps
from jopt._src.accumulation import MultiStepsState
from jopt._src.conditionality import ApplyIfFiniteState
from jopt._src.conditionality import apply_if_finite
from jopt._src.conditionality import skip_large_updates
from jopt._src.conditionality import skip_not_finite
from jopt._src.early_stopping import EarlyStopping
from jopt._src.early_stopping import EarlyStoppingState
from jopt._src.early_stopping import early_stopping
from jopt._src.ema import EmaState
from jopt._src.ema import ema
from jopt._src.hyperparams import InjectHyperparamsState
from jopt._src.hyperparams import hyperparams
from jopt._src.hyperparams import inject_hyperparams
from jopt._src.lookahead import LookaheadParams
from jopt._src.lookahead import LookaheadState
from jopt._src.lookahead import lookahead
from jopt._src.plateau import ReduceLROnPlateauState
from jopt._src.plateau import reduce_on_plateau

# --- optimizers ---
from jopt._src.optimizers.adam import adam
from jopt._src.optimizers.adam import adamw
from jopt._src.optimizers.sgd import sgd

# --- adaptive moments ---
from jopt._src.adaptive import ScaleByAmsgradState
from jopt._src.adaptive import ScaleByBeliefState
from jopt._src.adaptive import scale_by_adamax
from jopt._src.adaptive import scale_by_amsgrad
from jopt._src.adaptive import scale_by_belief
from jopt._src.adaptive import scale_by_radam
from jopt._src.adaptive import scale_by_yogi
from jopt._src.optimizers.adam import adabelief
from jopt._src.optimizers.adam import adamax
from jopt._src.optimizers.adam import adamaxw
from jopt._src.optimizers.adam import amsgrad
from jopt._src.optimizers.adam import nadam
from jopt._src.optimizers.adam import nadamw
from jopt._src.optimizers.adam import radam
from jopt._src.optimizers.adam import yogi
from jopt._src.optimizers.rms import adadelta
from jopt._src.optimizers.rms import adagrad
from jopt._src.optimizers.rms import rmsprop
from jopt._src.rms import ScaleByAdaDeltaState
from jopt._src.rms import ScaleByRStdDevState
from jopt._src.rms import ScaleByRStdDevWithCountState
from jopt._src.rms import ScaleByRmsState
from jopt._src.rms import ScaleByRmsWithCountState
from jopt._src.rms import ScaleByRssState
from jopt._src.rms import scale_by_adadelta
from jopt._src.rms import scale_by_rms
from jopt._src.rms import scale_by_rss
from jopt._src.rms import scale_by_stddev

# --- training steps ---
from jopt._src.train.distributed import ProcessInfo
from jopt._src.train.distributed import initialize_distributed
from jopt._src.train.distributed import process_batch_slice
from jopt._src.train.distributed import process_info
from jopt._src.train.mesh import make_global_batch
from jopt._src.train.state import TrainState
from jopt._src.train.state import init_train_state
from jopt._src.train.step import train_step_body
from jopt._src.train.trainer import Trainer
from jopt._src.train.trainer import make_train_step

# --- fused multi-tensor path ---
from jopt._src.fused import FusedState
from jopt._src.fused import fused

# --- tuning ---
from jopt._src.tuning.hypergradient import HypergradientState
from jopt._src.tuning.hypergradient import hd_adam
from jopt._src.tuning.hypergradient import hd_sgd
from jopt._src.tuning.hypergradient import hypergradient_descent
from jopt._src.tuning.metagrad import MetaTuneResult
from jopt._src.tuning.metagrad import meta_gradient
from jopt._src.tuning.metagrad import meta_tune
from jopt._src.tuning.search import grid_search
from jopt._src.tuning.search import random_search
from jopt._src.tuning.sweep import SweepResult
from jopt._src.tuning.sweep import sweep

# --- clipping, noise, sign, layer-wise, factored ---
from jopt._src.clipping import clip
from jopt._src.clipping import clip_by_block_rms
from jopt._src.clipping import clip_by_global_norm
from jopt._src.constraints import ZeroNansState
from jopt._src.constraints import keep_params_nonnegative
from jopt._src.constraints import zero_nans
from jopt._src.factorized import FactoredState
from jopt._src.factorized import scale_by_factored_rms
from jopt._src.layerwise import ScaleByNovogradState
from jopt._src.layerwise import scale_by_novograd
from jopt._src.layerwise import scale_by_param_block_norm
from jopt._src.layerwise import scale_by_param_block_rms
from jopt._src.layerwise import scale_by_trust_ratio
from jopt._src.masking import MultiTransformState
from jopt._src.masking import multi_transform
from jopt._src.noise import AddNoiseState
from jopt._src.noise import add_noise
from jopt._src.optimizers.factored import adafactor
from jopt._src.optimizers.layerwise import lamb
from jopt._src.optimizers.layerwise import lars
from jopt._src.optimizers.layerwise import novograd
from jopt._src.optimizers.sgd import noisy_sgd
from jopt._src.optimizers.sign import lion
from jopt._src.optimizers.sign import sign_sgd
from jopt._src.scaling import centralize
from jopt._src.sign import ScaleByLionState
from jopt._src.sign import scale_by_lion
from jopt._src.sign import scale_by_sign

__version__ = "0.1.0"

# Every public name imported above; submodules (e.g. `jopt.torch`) are not names.
__all__ = sorted(
    _name for _name, _obj in dict(globals()).items()
    if not _name.startswith("_") and not isinstance(_obj, type(__import__("sys")))
)

# --- namespaces ---
from jopt import torch  # noqa: E402  (jopt.torch: PyTorch conventions; not flat names)
