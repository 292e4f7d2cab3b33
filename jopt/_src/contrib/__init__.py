"""Contributed optimizers (optax.contrib's algorithms), one module per algorithm."""
