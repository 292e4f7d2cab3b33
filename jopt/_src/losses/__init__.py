"""Loss functions (optax.losses); the public names live in `jopt.losses`."""
