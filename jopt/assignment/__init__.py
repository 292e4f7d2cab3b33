"""The linear assignment problem: the Hungarian algorithm (optax.assignment)."""

from jopt._src.assignment.hungarian import base_hungarian_algorithm
from jopt._src.assignment.hungarian import hungarian_algorithm

__all__ = [
    "base_hungarian_algorithm",
    "hungarian_algorithm",
]
