"""A Flax NNX image classifier in the shape of Flax's MNIST tutorial, on scikit-learn's 8x8 digits.

Run it as is (`python tests/programs/nnx_digits_classifier.py`); `tests/programs/test_programs.py`
runs the same source twice, with `import optax` and with `import jopt as optax`, and compares.
"""

from functools import partial

import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from sklearn.datasets import load_digits

learning_rate = 0.005
momentum = 0.9
batch_size = 64
train_steps = 120
eval_every = 40


def load_datasets(seed=0):
  digits = load_digits()
  images = (digits.images / 16.0).astype(np.float32)[..., None]  # (1797, 8, 8, 1)
  labels = digits.target.astype(np.int32)
  order = np.random.default_rng(seed).permutation(len(labels))
  images, labels = images[order], labels[order]
  split = 1500
  return ({"image": images[:split], "label": labels[:split]},
          {"image": images[split:], "label": labels[split:]})


class CNN(nnx.Module):
  """A simple CNN model."""

  def __init__(self, *, rngs: nnx.Rngs):
    self.conv1 = nnx.Conv(1, 16, kernel_size=(3, 3), rngs=rngs)
    self.conv2 = nnx.Conv(16, 32, kernel_size=(3, 3), rngs=rngs)
    self.avg_pool = partial(nnx.avg_pool, window_shape=(2, 2), strides=(2, 2))
    self.linear1 = nnx.Linear(32 * 2 * 2, 64, rngs=rngs)
    self.linear2 = nnx.Linear(64, 10, rngs=rngs)

  def __call__(self, x):
    x = self.avg_pool(nnx.relu(self.conv1(x)))
    x = self.avg_pool(nnx.relu(self.conv2(x)))
    x = x.reshape(x.shape[0], -1)  # flatten
    x = nnx.relu(self.linear1(x))
    x = self.linear2(x)
    return x


def loss_fn(model: CNN, batch):
  logits = model(batch["image"])
  loss = optax.softmax_cross_entropy_with_integer_labels(
      logits=logits, labels=batch["label"]
  ).mean()
  return loss, logits


@nnx.jit
def train_step(model: CNN, optimizer: nnx.Optimizer, metrics: nnx.MultiMetric, batch):
  """Train for a single step."""
  grad_fn = nnx.value_and_grad(loss_fn, has_aux=True)
  (loss, logits), grads = grad_fn(model, batch)
  metrics.update(loss=loss, logits=logits, labels=batch["label"])  # In-place updates.
  optimizer.update(model, grads)  # In-place updates.


@nnx.jit
def eval_step(model: CNN, metrics: nnx.MultiMetric, batch):
  loss, logits = loss_fn(model, batch)
  metrics.update(loss=loss, logits=logits, labels=batch["label"])  # In-place updates.


def main(train_steps=train_steps, eval_every=eval_every, seed=0):
  """Trains the CNN; returns the metrics history and the final parameters."""
  train_ds, test_ds = load_datasets(seed)
  model = CNN(rngs=nnx.Rngs(seed))
  optimizer = nnx.Optimizer(model, optax.adamw(learning_rate, momentum), wrt=nnx.Param)
  metrics = nnx.MultiMetric(
      accuracy=nnx.metrics.Accuracy(),
      loss=nnx.metrics.Average("loss"),
  )
  metrics_history = {"train_loss": [], "train_accuracy": [], "test_loss": [], "test_accuracy": []}
  rng = np.random.default_rng(seed)
  for step in range(train_steps):
    idx = rng.choice(len(train_ds["label"]), batch_size, replace=False)
    batch = {k: jnp.asarray(v[idx]) for k, v in train_ds.items()}
    model.train()  # Switch to train mode (dropout, batch norm).
    train_step(model, optimizer, metrics, batch)
    if step > 0 and (step % eval_every == 0 or step == train_steps - 1):
      for metric, value in metrics.compute().items():  # Compute the metrics.
        metrics_history[f"train_{metric}"].append(float(value))
      metrics.reset()  # Reset the metrics for the test set.
      model.eval()  # Switch to evaluation mode.
      eval_step(model, metrics, {k: jnp.asarray(v) for k, v in test_ds.items()})
      for metric, value in metrics.compute().items():
        metrics_history[f"test_{metric}"].append(float(value))
      metrics.reset()
      print(f"[train] step: {step}, loss: {metrics_history['train_loss'][-1]:.4f}, "
            f"accuracy: {metrics_history['train_accuracy'][-1] * 100:.2f}")
      print(f"[test] step: {step}, loss: {metrics_history['test_loss'][-1]:.4f}, "
            f"accuracy: {metrics_history['test_accuracy'][-1] * 100:.2f}")
  return {"history": metrics_history, "params": nnx.state(model, nnx.Param)}


if __name__ == "__main__":
  main()
