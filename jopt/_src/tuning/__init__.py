"""Hyperparameter tuning: vmapped sweeps, grid/random search spaces, hypergradient descent, meta-gradients."""
