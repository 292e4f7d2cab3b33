"""jopt.microbatching: evaluating functions and per-example gradients microbatch by microbatch (re-exports only)."""

from jopt._src.microbatching import AccumulationType
from jopt._src.microbatching import Accumulator
from jopt._src.microbatching import micro_grad
from jopt._src.microbatching import micro_vmap
from jopt._src.microbatching import microbatch
from jopt._src.microbatching import reshape_batch_axis

__all__ = [
    "AccumulationType",
    "Accumulator",
    "micro_grad",
    "micro_vmap",
    "microbatch",
    "reshape_batch_axis",
]
