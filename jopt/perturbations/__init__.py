"""Differentiable Monte-Carlo smoothing of functions by random perturbations (optax.perturbations)."""

from jopt._src.perturbations.perturbed import Gumbel
from jopt._src.perturbations.perturbed import Normal
from jopt._src.perturbations.perturbed import make_perturbed_fun

__all__ = [
    "Gumbel",
    "Normal",
    "make_perturbed_fun",
]
