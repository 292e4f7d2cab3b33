"""The table of every optimizer jopt shares with optax, with a small default configuration each.

Cross-cutting tests (dtypes, trees, bad input, interop, abstract init) iterate over it.
"""

import jax.numpy as jnp

# name -> kwargs for a small, well-behaved configuration.
OPTIMIZERS = {
    "sgd": dict(learning_rate=0.1, momentum=0.9),
    "noisy_sgd": dict(learning_rate=0.1),
    "sign_sgd": dict(learning_rate=0.1),
    "adagrad": dict(learning_rate=0.1),
    "rmsprop": dict(learning_rate=0.01),
    "adadelta": dict(learning_rate=0.1),
    "adam": dict(learning_rate=0.01),
    "adamw": dict(learning_rate=0.01),
    "adamax": dict(learning_rate=0.01),
    "adamaxw": dict(learning_rate=0.01),
    "nadam": dict(learning_rate=0.01),
    "nadamw": dict(learning_rate=0.01),
    "amsgrad": dict(learning_rate=0.01),
    "radam": dict(learning_rate=0.01),
    "adabelief": dict(learning_rate=0.01),
    "yogi": dict(learning_rate=0.01),
    "lion": dict(learning_rate=0.001),
    "lamb": dict(learning_rate=0.01),
    "lars": dict(learning_rate=0.01),
    "novograd": dict(learning_rate=0.01),
    "adafactor": dict(learning_rate=0.01),
}

# Optimizers whose update needs the params (weight decay, trust ratios, relative step sizes).
NEEDS_PARAMS = {"adamw", "adamaxw", "nadamw", "lamb", "lars", "adafactor"}

# Optimizers optax supports for complex parameters.
COMPLEX = ["sgd", "adam", "rmsprop", "adagrad"]


def small_tree(dtype=jnp.float32):
  return {"w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4).astype(dtype), "b": jnp.arange(3.0).astype(dtype) - 1}
