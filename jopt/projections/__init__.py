"""Euclidean projections of pytrees onto convex sets (optax.projections)."""

from jopt._src.projections.affine import projection_halfspace
from jopt._src.projections.affine import projection_hyperplane
from jopt._src.projections.affine import projection_vector
from jopt._src.projections.boxes import projection_box
from jopt._src.projections.boxes import projection_hypercube
from jopt._src.projections.boxes import projection_linf_ball
from jopt._src.projections.boxes import projection_non_negative
from jopt._src.projections.l2 import projection_l2_ball
from jopt._src.projections.l2 import projection_l2_sphere
from jopt._src.projections.simplex import projection_l1_ball
from jopt._src.projections.simplex import projection_l1_sphere
from jopt._src.projections.simplex import projection_simplex

__all__ = [
    "projection_box",
    "projection_halfspace",
    "projection_hypercube",
    "projection_hyperplane",
    "projection_l1_ball",
    "projection_l1_sphere",
    "projection_l2_ball",
    "projection_l2_sphere",
    "projection_linf_ball",
    "projection_non_negative",
    "projection_simplex",
    "projection_vector",
]
