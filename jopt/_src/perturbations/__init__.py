"""Smoothing non-differentiable functions by random perturbations, behind `jopt.perturbations`."""
