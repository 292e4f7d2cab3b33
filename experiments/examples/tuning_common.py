"""The digits MLP problem shared by the tuning examples and the sweep benchmark, from the launcher's modules.

Data, model, loss and batch order are `experiments.data` / `experiments.models` /
`experiments.build`'s (the digits split of `experiments.train`: 1257 train,
180 validation); the T training batches are stacked on a leading axis for `jopt.sweep`.
"""

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from experiments import build as build_lib
from experiments import data as data_lib
from experiments import models


class Problem(NamedTuple):
  loss_fn: Callable[[Any, Any], jax.Array]  # loss_fn(params, batch) -> mean cross-entropy
  params: Any  # initial MLP params
  batches: Any  # {"x": [T, B, ...], "y": [T, B]}: every step's minibatch, in order
  val_loss: Callable[[Any], jax.Array]  # cross-entropy on the validation split
  train_loss: Callable[[Any], jax.Array]  # cross-entropy on the whole training split


def digits_mlp(hidden: str = "64", batch_size: int = 128, epochs: int = 20, seed: int = 0) -> Problem:
  """`--dataset=digits --model=mlp --hidden=64`, shuffled minibatches per epoch (`data.Batches`)."""
  data = data_lib.load("digits")
  model = models.build("mlp", data.num_outputs, data.input_shape, hidden)
  params = model.init(jax.random.key(seed), data.train.x[:1])["params"]
  order = data_lib.Batches(len(data.train), batch_size, seed)
  idx = np.stack([order.indices(s) for s in range(epochs * order.steps_per_epoch)])
  batches = {"x": jnp.asarray(data.train.x[idx]), "y": jnp.asarray(data.train.y[idx])}

  def loss_fn(p, b):
    return build_lib.cross_entropy(model.apply({"params": p}, b["x"]), b["y"])

  val = {"x": jnp.asarray(data.val.x), "y": jnp.asarray(data.val.y)}
  train = {"x": jnp.asarray(data.train.x), "y": jnp.asarray(data.train.y)}
  return Problem(loss_fn, params, batches, lambda p: loss_fn(p, val), lambda p: loss_fn(p, train))
