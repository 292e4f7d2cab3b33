"""The digits MLP problem shared by the tuning examples and the sweep benchmark: data, loss, stacked batches."""

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


class Problem(NamedTuple):
  loss_fn: Callable[[Any, Any], jax.Array]  # loss_fn(params, batch) -> mean cross-entropy
  params: Any  # initial MLP params
  batches: Any  # {"x": [T, B, 64], "y": [T, B]}: every step's minibatch, in order
  val_loss: Callable[[Any], jax.Array]  # cross-entropy on the held-out split
  train_loss: Callable[[Any], jax.Array]  # cross-entropy on the whole training split


def digits_mlp(hidden: int = 64, batch_size: int = 128, epochs: int = 20, seed: int = 0) -> Problem:
  """Digits (1797 8x8 images; 80/20 split), a 64-hidden-10 ReLU MLP, shuffled minibatches per epoch."""
  x, y = load_digits(return_X_y=True)
  x_tr, x_va, y_tr, y_va = train_test_split(
      (x / 16.0).astype(np.float32), y.astype(np.int32), test_size=0.2, random_state=0, stratify=y)
  rng = np.random.default_rng(seed)
  per_epoch = len(x_tr) // batch_size
  order = np.concatenate([rng.permutation(len(x_tr))[: per_epoch * batch_size] for _ in range(epochs)])
  order = order.reshape(-1, batch_size)
  batches = {"x": jnp.asarray(x_tr[order]), "y": jnp.asarray(y_tr[order])}
  k1, k2 = jax.random.split(jax.random.key(seed))
  params = {
      "w1": jax.random.normal(k1, (64, hidden)) * np.sqrt(2 / 64), "b1": jnp.zeros(hidden),
      "w2": jax.random.normal(k2, (hidden, 10)) * np.sqrt(1 / hidden), "b2": jnp.zeros(10),
  }

  def loss_fn(p, b):
    h = jax.nn.relu(b["x"] @ p["w1"] + p["b1"])
    logits = h @ p["w2"] + p["b2"]
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), b["y"][:, None], 1))

  val = {"x": jnp.asarray(x_va), "y": jnp.asarray(y_va)}
  train = {"x": jnp.asarray(x_tr), "y": jnp.asarray(y_tr)}
  return Problem(loss_fn, params, batches, lambda p: loss_fn(p, val), lambda p: loss_fn(p, train))
