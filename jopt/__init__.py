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
from jopt._src.base import StatefulSchedule
from jopt._src.base import Updates
from jopt._src.base import init_empty_state

# --- composition and application ---
from jopt._src.combine import chain
from jopt._src.combine import named_chain
from jopt._src.transforms.masking import MaskedNode
from jopt._src.transforms.masking import MaskedState
from jopt._src.transforms.masking import masked
from jopt._src.update import apply_updates

# --- building blocks ---
from jopt._src.transforms.adam import ScaleByAdamState
from jopt._src.transforms.adam import scale_by_adam
from jopt._src.transforms.momentum import TraceState
from jopt._src.transforms.momentum import trace
from jopt._src.transforms.regularization import AddDecayedWeightsState
from jopt._src.transforms.regularization import add_decayed_weights
from jopt._src.transforms.scaling import ScaleByScheduleState
from jopt._src.transforms.scaling import identity
from jopt._src.transforms.scaling import scale
from jopt._src.transforms.scaling import scale_by_learning_rate
from jopt._src.transforms.scaling import scale_by_schedule

# --- regularization ---
from jopt._src.transforms.masking import NO_DECAY_NAMES
from jopt._src.transforms.masking import mask_and
from jopt._src.transforms.masking import mask_by_ndim
from jopt._src.transforms.masking import mask_by_path
from jopt._src.transforms.masking import weight_decay_mask
from jopt._src.transforms.proximal import ProximalState
from jopt._src.transforms.proximal import elastic_net_proximal
from jopt._src.transforms.proximal import group_lasso_proximal
from jopt._src.transforms.proximal import l1_proximal
from jopt._src.transforms.regularization import AddL1DecayState
from jopt._src.transforms.regularization import add_l1_decay

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
from jopt._src.schedules.step_decay import multistep_decay
from jopt._src.schedules.step_decay import step_decay
from jopt._src.schedules.warmup import warmup_constant_schedule
from jopt._src.schedules.warmup import warmup_cosine_decay_schedule
from jopt._src.schedules.warmup import warmup_exponential_decay_schedule
from jopt._src.schedules.warmup import warmup_linear_decay_schedule

# --- telemetry and wrappers ---
from jopt._src.wrappers.accumulation import MultiSteps
from jopt._src.wrappers.accumulation import MultiStepsState
from jopt._src.wrappers.conditionality import ApplyIfFiniteState
from jopt._src.wrappers.conditionality import apply_if_finite
from jopt._src.wrappers.conditionality import skip_large_updates
from jopt._src.wrappers.conditionality import skip_not_finite
from jopt._src.wrappers.early_stopping import EarlyStopping
from jopt._src.wrappers.early_stopping import EarlyStoppingState
from jopt._src.wrappers.early_stopping import early_stopping
from jopt._src.transforms.ema import EmaState
from jopt._src.transforms.ema import ema
from jopt._src.wrappers.hyperparams import InjectHyperparamsState
from jopt._src.wrappers.hyperparams import hyperparams
from jopt._src.wrappers.hyperparams import inject_hyperparams
from jopt._src.wrappers.lookahead import LookaheadParams
from jopt._src.wrappers.lookahead import LookaheadState
from jopt._src.wrappers.lookahead import lookahead
from jopt._src.wrappers.plateau import ReduceLROnPlateauState
from jopt._src.wrappers.plateau import reduce_on_plateau

# --- optimizers ---
from jopt._src.optimizers.adaptive import adam
from jopt._src.optimizers.adaptive import adamw
from jopt._src.optimizers.sgd import sgd

# --- adaptive moments ---
from jopt._src.transforms.adam import ScaleByAmsgradState
from jopt._src.transforms.adam import ScaleByBeliefState
from jopt._src.transforms.adam import scale_by_adamax
from jopt._src.transforms.adam import scale_by_amsgrad
from jopt._src.transforms.adam import scale_by_belief
from jopt._src.transforms.adam import scale_by_radam
from jopt._src.transforms.adam import scale_by_yogi
from jopt._src.optimizers.adaptive import adabelief
from jopt._src.optimizers.adaptive import adamax
from jopt._src.optimizers.adaptive import adamaxw
from jopt._src.optimizers.adaptive import amsgrad
from jopt._src.optimizers.adaptive import nadam
from jopt._src.optimizers.adaptive import nadamw
from jopt._src.optimizers.adaptive import radam
from jopt._src.optimizers.adaptive import yogi
from jopt._src.optimizers.rmsprop import adadelta
from jopt._src.optimizers.rmsprop import adagrad
from jopt._src.optimizers.rmsprop import rmsprop
from jopt._src.transforms.rms import ScaleByAdaDeltaState
from jopt._src.transforms.rms import ScaleByRStdDevState
from jopt._src.transforms.rms import ScaleByRStdDevWithCountState
from jopt._src.transforms.rms import ScaleByRmsState
from jopt._src.transforms.rms import ScaleByRmsWithCountState
from jopt._src.transforms.rms import ScaleByRssState
from jopt._src.transforms.rms import scale_by_adadelta
from jopt._src.transforms.rms import scale_by_rms
from jopt._src.transforms.rms import scale_by_rss
from jopt._src.transforms.rms import scale_by_stddev

# --- training steps ---
from jopt._src.train.distributed import ProcessInfo
from jopt._src.train.distributed import initialize_distributed
from jopt._src.train.distributed import report_failure
from jopt._src.train.distributed import process_batch_slice
from jopt._src.train.distributed import process_info
from jopt._src.train.mesh import make_global_batch
from jopt._src.train.nan_policy import NonFiniteError
from jopt._src.train.state import TrainState
from jopt._src.train.state import init_train_state
from jopt._src.train.step import train_step_body
from jopt._src.train.trainer import Trainer
from jopt._src.train.trainer import make_train_step

# --- fused multi-tensor path ---
from jopt._src.wrappers.fused import FusedState
from jopt._src.wrappers.fused import fused

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
from jopt._src.transforms.clipping import clip
from jopt._src.transforms.clipping import clip_by_block_rms
from jopt._src.transforms.clipping import clip_by_global_norm
from jopt._src.transforms.constraints import ZeroNansState
from jopt._src.transforms.constraints import keep_params_nonnegative
from jopt._src.transforms.constraints import zero_nans
from jopt._src.transforms.factored import FactoredState
from jopt._src.transforms.factored import scale_by_factored_rms
from jopt._src.transforms.layerwise import ScaleByNovogradState
from jopt._src.transforms.layerwise import scale_by_novograd
from jopt._src.transforms.layerwise import scale_by_param_block_norm
from jopt._src.transforms.layerwise import scale_by_param_block_rms
from jopt._src.transforms.layerwise import scale_by_trust_ratio
from jopt._src.transforms.masking import MultiTransformState
from jopt._src.transforms.masking import multi_transform
from jopt._src.transforms.noise import AddNoiseState
from jopt._src.transforms.noise import add_noise
from jopt._src.optimizers.adafactor import adafactor
from jopt._src.optimizers.trust_ratio import lamb
from jopt._src.optimizers.trust_ratio import lars
from jopt._src.optimizers.trust_ratio import novograd
from jopt._src.optimizers.sgd import noisy_sgd
from jopt._src.optimizers.lion import lion
from jopt._src.optimizers.lion import sign_sgd
from jopt._src.transforms.scaling import centralize
from jopt._src.transforms.sign import ScaleByLionState
from jopt._src.transforms.sign import scale_by_lion
from jopt._src.transforms.sign import scale_by_sign

# --- optax's transforms, wrappers and protocol types ---
from jopt._src.base import AdaptiveGradClipState
from jopt._src.base import ArrayTree
from jopt._src.base import ClipByGlobalNormState
from jopt._src.base import ClipState
from jopt._src.base import MaskOrFn
from jopt._src.base import NonNegativeParamsState
from jopt._src.base import ScaleByTrustRatioState
from jopt._src.base import ScaleState
from jopt._src.base import ShouldSkipUpdateFunction
from jopt._src.base import TransformInitFn
from jopt._src.base import TransformUpdateExtraArgsFn
from jopt._src.base import TransformUpdateFn
from jopt._src.combine import with_extra_args_support
from jopt._src.microbatching import microbatch
from jopt._src.transforms.clipping import adaptive_grad_clip
from jopt._src.transforms.clipping import per_example_global_norm_clip
from jopt._src.transforms.clipping import per_example_layer_norm_clip
from jopt._src.transforms.freezing import PartitionState
from jopt._src.transforms.freezing import freeze
from jopt._src.transforms.freezing import partition
from jopt._src.transforms.freezing import selective_transform
from jopt._src.transforms.scaling import scale_gradient
from jopt._src.transforms.stateless import set_to_zero
from jopt._src.transforms.stateless import stateless
from jopt._src.transforms.stateless import stateless_with_tree_map
from jopt._src.update import incremental_update
from jopt._src.update import periodic_update
from jopt._src.wrappers.apply_every import ApplyEvery
from jopt._src.wrappers.apply_every import apply_every
from jopt._src.wrappers.conditionality import ConditionallyMaskState
from jopt._src.wrappers.conditionality import ConditionallyTransformState
from jopt._src.wrappers.conditionality import conditionally_mask
from jopt._src.wrappers.conditionality import conditionally_transform
from jopt._src.wrappers.flatten import flatten
from jopt._src.wrappers.hyperparams import InjectStatefulHyperparamsState
from jopt._src.wrappers.hyperparams import WrappedSchedule
from jopt._src.wrappers.hyperparams import WrappedScheduleState
from jopt._src.wrappers.hyperparams import inject_stateful_hyperparams
from jopt._src.wrappers.monitoring import MonitorState
from jopt._src.wrappers.monitoring import SnapshotState
from jopt._src.wrappers.monitoring import measure_with_ema
from jopt._src.wrappers.monitoring import monitor
from jopt._src.wrappers.monitoring import snapshot

# --- quasi-Newton and linesearches ---
from jopt._src.linesearch.backtracking import ScaleByBacktrackingLinesearchState
from jopt._src.linesearch.backtracking import scale_by_backtracking_linesearch
from jopt._src.linesearch.lbfgs import ScaleByLBFGSState
from jopt._src.linesearch.lbfgs import lbfgs
from jopt._src.linesearch.lbfgs import scale_by_lbfgs
from jopt._src.linesearch.objective import value_and_grad_from_state
from jopt._src.linesearch.zoom import ScaleByZoomLinesearchState
from jopt._src.linesearch.zoom import ZoomLinesearchInfo
from jopt._src.linesearch.zoom import scale_by_zoom_linesearch

# --- more optimizers ---
from jopt._src.optimizers.adan import ScaleByAdanState
from jopt._src.optimizers.adan import adan
from jopt._src.optimizers.adan import scale_by_adan
from jopt._src.optimizers.fromage import fromage
from jopt._src.transforms.normalize import normalize_by_update_norm
from jopt._src.optimizers.optimistic import optimistic_adam
from jopt._src.optimizers.optimistic import optimistic_adam_v2
from jopt._src.optimizers.optimistic import optimistic_gradient_descent
from jopt._src.optimizers.optimistic import scale_by_optimistic_gradient
from jopt._src.optimizers.polyak import polyak_sgd
from jopt._src.optimizers.polyak import scale_by_polyak
from jopt._src.optimizers.rprop import ScaleByRpropState
from jopt._src.optimizers.rprop import rprop
from jopt._src.optimizers.rprop import scale_by_rprop
from jopt._src.optimizers.signum import signum
from jopt._src.optimizers.sm3 import ScaleBySM3State
from jopt._src.optimizers.sm3 import scale_by_sm3
from jopt._src.optimizers.sm3 import sm3

# --- optax top-level names implemented with optax.contrib's ---
from jopt._src.contrib.dog import scale_by_distance_over_gradients
from jopt._src.contrib.privacy import DifferentiallyPrivateAggregateState
from jopt._src.contrib.privacy import differentially_private_aggregate
from jopt._src.contrib.privacy import dpsgd

# --- research optimizers optax lacks: SOAP, Shampoo, PSGD Kron ---
from jopt._src.research.kron import ScaleByKronState
from jopt._src.research.kron import kron
from jopt._src.research.kron import precond_update_prob_schedule
from jopt._src.research.kron import scale_by_kron
from jopt._src.research.shampoo import ScaleByShampooState
from jopt._src.research.shampoo import scale_by_shampoo
from jopt._src.research.shampoo import shampoo
from jopt._src.research.soap import ScaleBySoapState
from jopt._src.research.soap import scale_by_soap
from jopt._src.research.soap import soap

# --- numeric and tree utilities at optax's top level ---
from jopt._src.linalg.counters import safe_increment
from jopt._src.linalg.counters import safe_int32_increment
from jopt._src.linalg.eigen import matrix_inverse_pth_root
from jopt._src.linalg.eigen import power_iteration
from jopt._src.linalg.multi_normal import multi_normal
from jopt._src.linalg.nnls import nnls
from jopt._src.linalg.norms import global_norm
from jopt._src.linalg.norms import safe_norm
from jopt._src.linalg.norms import safe_root_mean_squares
from jopt._src.tree_utils.moments import tree_bias_correction as bias_correction
from jopt._src.tree_utils.moments import tree_update_infinity_moment as update_infinity_moment
from jopt._src.tree_utils.moments import tree_update_moment as update_moment
from jopt._src.tree_utils.moments import tree_update_moment_per_elem_norm as update_moment_per_elem_norm
from jopt._src.tree_utils.state_access import tree_map_params

# --- losses at optax's top level (also in jopt.losses) ---
from jopt._src.losses.divergences import convex_kl_divergence
from jopt._src.losses.regression import cosine_distance
from jopt._src.losses.regression import cosine_similarity
from jopt._src.losses.ctc import ctc_loss
from jopt._src.losses.ctc import ctc_loss_with_forward_probs
from jopt._src.losses.divergences import generalized_kl_divergence
from jopt._src.losses.binary import hinge_loss
from jopt._src.losses.regression import huber_loss
from jopt._src.losses.divergences import kl_divergence
from jopt._src.losses.regression import l2_loss
from jopt._src.losses.regression import log_cosh
from jopt._src.losses.self_supervised import ntxent
from jopt._src.losses.cross_entropy import safe_softmax_cross_entropy
from jopt._src.losses.binary import sigmoid_binary_cross_entropy
from jopt._src.losses.binary import sigmoid_focal_loss
from jopt._src.losses.smoothing import smooth_labels
from jopt._src.losses.cross_entropy import softmax_cross_entropy
from jopt._src.losses.cross_entropy import softmax_cross_entropy_with_integer_labels
from jopt._src.losses.regression import squared_error

__version__ = "0.1.0"

# Every public name imported above, written out so that static tools see the API.
__all__ = [
    "AdaptiveGradClipState",
    "AddDecayedWeightsState",
    "AddL1DecayState",
    "AddNoiseState",
    "ApplyEvery",
    "ApplyIfFiniteState",
    "ArrayTree",
    "ClipByGlobalNormState",
    "ClipState",
    "ConditionallyMaskState",
    "ConditionallyTransformState",
    "DifferentiallyPrivateAggregateState",
    "EarlyStopping",
    "EarlyStoppingState",
    "EmaState",
    "EmptyState",
    "FactoredState",
    "FusedState",
    "GradientTransformation",
    "GradientTransformationExtraArgs",
    "HypergradientState",
    "InjectHyperparamsState",
    "InjectStatefulHyperparamsState",
    "LookaheadParams",
    "LookaheadState",
    "MaskOrFn",
    "MaskedNode",
    "MaskedState",
    "MetaTuneResult",
    "MonitorState",
    "MultiSteps",
    "MultiStepsState",
    "MultiTransformState",
    "NO_DECAY_NAMES",
    "NonFiniteError",
    "NonNegativeParamsState",
    "OptState",
    "Params",
    "PartitionState",
    "ProcessInfo",
    "ProximalState",
    "ReduceLROnPlateauState",
    "ScalarOrSchedule",
    "ScaleByAdaDeltaState",
    "ScaleByAdamState",
    "ScaleByAdanState",
    "ScaleByAmsgradState",
    "ScaleByBacktrackingLinesearchState",
    "ScaleByBeliefState",
    "ScaleByKronState",
    "ScaleByLBFGSState",
    "ScaleByLionState",
    "ScaleByNovogradState",
    "ScaleByRStdDevState",
    "ScaleByRStdDevWithCountState",
    "ScaleByRmsState",
    "ScaleByRmsWithCountState",
    "ScaleByRpropState",
    "ScaleByRssState",
    "ScaleBySM3State",
    "ScaleByScheduleState",
    "ScaleByShampooState",
    "ScaleBySoapState",
    "ScaleByTrustRatioState",
    "ScaleByZoomLinesearchState",
    "ScaleState",
    "Schedule",
    "ShouldSkipUpdateFunction",
    "SnapshotState",
    "StatefulSchedule",
    "SweepResult",
    "TraceState",
    "TrainState",
    "Trainer",
    "TransformInitFn",
    "TransformUpdateExtraArgsFn",
    "TransformUpdateFn",
    "Updates",
    "WrappedSchedule",
    "WrappedScheduleState",
    "ZeroNansState",
    "ZoomLinesearchInfo",
    "adabelief",
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamaxw",
    "adamw",
    "adan",
    "adaptive_grad_clip",
    "add_decayed_weights",
    "add_l1_decay",
    "add_noise",
    "amsgrad",
    "apply_every",
    "apply_if_finite",
    "apply_updates",
    "bias_correction",
    "centralize",
    "chain",
    "clip",
    "clip_by_block_rms",
    "clip_by_global_norm",
    "conditionally_mask",
    "conditionally_transform",
    "constant_schedule",
    "convex_kl_divergence",
    "cosine_decay_schedule",
    "cosine_distance",
    "cosine_onecycle_schedule",
    "cosine_similarity",
    "ctc_loss",
    "ctc_loss_with_forward_probs",
    "cyclic_schedule",
    "differentially_private_aggregate",
    "dpsgd",
    "early_stopping",
    "elastic_net_proximal",
    "ema",
    "exponential_decay",
    "flatten",
    "freeze",
    "fromage",
    "fused",
    "generalized_kl_divergence",
    "global_norm",
    "grid_search",
    "group_lasso_proximal",
    "hd_adam",
    "hd_sgd",
    "hinge_loss",
    "huber_loss",
    "hypergradient_descent",
    "hyperparams",
    "identity",
    "incremental_update",
    "init_empty_state",
    "init_train_state",
    "initialize_distributed",
    "inject_hyperparams",
    "inject_stateful_hyperparams",
    "inverse_time_decay",
    "join_schedules",
    "keep_params_nonnegative",
    "kl_divergence",
    "kron",
    "l1_proximal",
    "l2_loss",
    "lamb",
    "lars",
    "lbfgs",
    "linear_onecycle_schedule",
    "linear_schedule",
    "lion",
    "log_cosh",
    "lookahead",
    "make_global_batch",
    "make_train_step",
    "mask_and",
    "mask_by_ndim",
    "mask_by_path",
    "masked",
    "matrix_inverse_pth_root",
    "measure_with_ema",
    "meta_gradient",
    "meta_tune",
    "microbatch",
    "monitor",
    "multi_normal",
    "multi_transform",
    "multistep_decay",
    "nadam",
    "nadamw",
    "named_chain",
    "nnls",
    "noisy_sgd",
    "normalize_by_update_norm",
    "novograd",
    "ntxent",
    "optimistic_adam",
    "optimistic_adam_v2",
    "optimistic_gradient_descent",
    "partition",
    "per_example_global_norm_clip",
    "per_example_layer_norm_clip",
    "periodic_update",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "polyak_sgd",
    "polynomial_schedule",
    "power_iteration",
    "precond_update_prob_schedule",
    "process_batch_slice",
    "process_info",
    "radam",
    "random_search",
    "reduce_on_plateau",
    "report_failure",
    "rmsprop",
    "rprop",
    "safe_increment",
    "safe_int32_increment",
    "safe_norm",
    "safe_root_mean_squares",
    "safe_softmax_cross_entropy",
    "scale",
    "scale_by_adadelta",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_adan",
    "scale_by_amsgrad",
    "scale_by_backtracking_linesearch",
    "scale_by_belief",
    "scale_by_distance_over_gradients",
    "scale_by_factored_rms",
    "scale_by_kron",
    "scale_by_lbfgs",
    "scale_by_learning_rate",
    "scale_by_lion",
    "scale_by_novograd",
    "scale_by_optimistic_gradient",
    "scale_by_param_block_norm",
    "scale_by_param_block_rms",
    "scale_by_polyak",
    "scale_by_radam",
    "scale_by_rms",
    "scale_by_rprop",
    "scale_by_rss",
    "scale_by_schedule",
    "scale_by_shampoo",
    "scale_by_sign",
    "scale_by_sm3",
    "scale_by_soap",
    "scale_by_stddev",
    "scale_by_trust_ratio",
    "scale_by_yogi",
    "scale_by_zoom_linesearch",
    "scale_gradient",
    "scale_learning_rate",
    "selective_transform",
    "set_to_zero",
    "sgd",
    "sgdr_schedule",
    "shampoo",
    "sigmoid_binary_cross_entropy",
    "sigmoid_focal_loss",
    "sign_sgd",
    "signum",
    "skip_large_updates",
    "skip_not_finite",
    "sm3",
    "smooth_labels",
    "snapshot",
    "soap",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
    "squared_error",
    "stateless",
    "stateless_with_tree_map",
    "step_decay",
    "sweep",
    "trace",
    "train_step_body",
    "tree_map_params",
    "update_infinity_moment",
    "update_moment",
    "update_moment_per_elem_norm",
    "value_and_grad_from_state",
    "warmup_constant_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
    "warmup_linear_decay_schedule",
    "weight_decay_mask",
    "with_extra_args_support",
    "yogi",
    "zero_nans",
]

# --- namespaces ---
from jopt import torch  # noqa: E402  (jopt.torch: PyTorch conventions; not flat names)
from jopt import microbatching  # noqa: E402
from jopt import schedules  # noqa: E402
from jopt import transforms  # noqa: E402
from jopt import contrib  # noqa: E402
from jopt import losses  # noqa: E402
from jopt import keras  # noqa: E402  (Keras 3 conventions; not flat names)
from jopt import transformers  # noqa: E402  (Hugging Face conventions; not flat names)
from jopt import assignment  # noqa: E402
from jopt import perturbations  # noqa: E402
from jopt import projections  # noqa: E402
from jopt import second_order  # noqa: E402
from jopt import tree  # noqa: E402
from jopt import tree_utils  # noqa: E402
