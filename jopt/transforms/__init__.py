"""jopt.transforms: the building blocks and wrappers under optax's `optax.transforms` names (re-exports only)."""

# --- already in jopt's flat namespace ---
from jopt._src.transforms.noise import AddNoiseState
from jopt._src.wrappers.conditionality import ApplyIfFiniteState
from jopt._src.transforms.ema import EmaState
from jopt._src.transforms.masking import MaskedNode
from jopt._src.transforms.masking import MaskedState
from jopt._src.wrappers.accumulation import MultiSteps
from jopt._src.wrappers.accumulation import MultiStepsState
from jopt._src.transforms.momentum import TraceState
from jopt._src.transforms.constraints import ZeroNansState
from jopt._src.transforms.regularization import add_decayed_weights
from jopt._src.transforms.noise import add_noise
from jopt._src.wrappers.conditionality import apply_if_finite
from jopt._src.combine import chain
from jopt._src.transforms.clipping import clip
from jopt._src.transforms.clipping import clip_by_block_rms
from jopt._src.transforms.clipping import clip_by_global_norm
from jopt._src.transforms.ema import ema
from jopt._src.transforms.constraints import keep_params_nonnegative
from jopt._src.transforms.masking import masked
from jopt._src.combine import named_chain
from jopt._src.wrappers.conditionality import skip_large_updates
from jopt._src.wrappers.conditionality import skip_not_finite
from jopt._src.transforms.momentum import trace
from jopt._src.transforms.constraints import zero_nans

# --- clipping relative to parameters, per-example clipping ---
from jopt._src.transforms.clipping import per_example_global_norm_clip
from jopt._src.transforms.clipping import per_example_layer_norm_clip
from jopt._src.transforms.clipping import adaptive_grad_clip
from jopt._src.transforms.clipping import unitwise_clip
from jopt._src.transforms.clipping import unitwise_norm

# --- partitioning and freezing ---
from jopt._src.transforms.freezing import PartitionState
from jopt._src.transforms.freezing import freeze
from jopt._src.transforms.freezing import partition
from jopt._src.transforms.freezing import selective_transform

# --- conditional application ---
from jopt._src.wrappers.conditionality import ConditionallyMaskState
from jopt._src.wrappers.conditionality import ConditionallyTransformState
from jopt._src.wrappers.conditionality import conditionally_mask
from jopt._src.wrappers.conditionality import conditionally_transform

# --- layouts ---
from jopt._src.wrappers.flatten import flatten

# --- monitoring ---
from jopt._src.wrappers.monitoring import MonitorState
from jopt._src.wrappers.monitoring import SnapshotState
from jopt._src.wrappers.monitoring import measure_with_ema
from jopt._src.wrappers.monitoring import monitor
from jopt._src.wrappers.monitoring import snapshot

# --- type names ---
from jopt._src.base import ConditionFn
from jopt._src.base import NonNegativeParamsState
from jopt._src.base import ShouldSkipUpdateFunction

__all__ = [
    "AddNoiseState",
    "ApplyIfFiniteState",
    "ConditionFn",
    "ConditionallyMaskState",
    "ConditionallyTransformState",
    "EmaState",
    "MaskedNode",
    "MaskedState",
    "MonitorState",
    "MultiSteps",
    "MultiStepsState",
    "NonNegativeParamsState",
    "PartitionState",
    "ShouldSkipUpdateFunction",
    "SnapshotState",
    "TraceState",
    "ZeroNansState",
    "adaptive_grad_clip",
    "add_decayed_weights",
    "add_noise",
    "apply_if_finite",
    "chain",
    "clip",
    "clip_by_block_rms",
    "clip_by_global_norm",
    "conditionally_mask",
    "conditionally_transform",
    "ema",
    "flatten",
    "freeze",
    "keep_params_nonnegative",
    "masked",
    "measure_with_ema",
    "monitor",
    "named_chain",
    "partition",
    "per_example_global_norm_clip",
    "per_example_layer_norm_clip",
    "selective_transform",
    "skip_large_updates",
    "skip_not_finite",
    "snapshot",
    "trace",
    "unitwise_clip",
    "unitwise_norm",
    "zero_nans",
]
