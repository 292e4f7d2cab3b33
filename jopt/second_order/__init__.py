"""Curvature of a loss: Hessian-vector products and Hessian and Fisher diagonals (optax.second_order)."""

from jopt._src.second_order.curvature import fisher_diag
from jopt._src.second_order.curvature import hessian_diag
from jopt._src.second_order.curvature import hvp

__all__ = [
    "fisher_diag",
    "hessian_diag",
    "hvp",
]
