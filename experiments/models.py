"""The experiments' flax models (linear / logistic regression, the MLP, a small CNN) and their losses."""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from experiments.errors import ConfigError


class Linear(nn.Module):
  """`x -> W x + b` on the flattened input: linear regression, or logistic (softmax) regression with CE loss."""

  num_outputs: int

  @nn.compact
  def __call__(self, x):
    return nn.Dense(self.num_outputs)(x.reshape(x.shape[0], -1))


class MLP(nn.Module):
  """Flattened input, `Dense -> ReLU` per hidden width, then a linear output layer."""

  num_outputs: int
  hidden: Sequence[int] = (128, 64)

  @nn.compact
  def __call__(self, x):
    x = x.reshape(x.shape[0], -1)
    for width in self.hidden:
      x = nn.relu(nn.Dense(width)(x))
    return nn.Dense(self.num_outputs)(x)


class CNN(nn.Module):
  """Two 3x3 conv + ReLU + 2x2 average-pool blocks (16, 32 channels), then Dense 64 -> ReLU -> output."""

  num_outputs: int

  @nn.compact
  def __call__(self, x):
    for channels in (16, 32):
      x = nn.relu(nn.Conv(channels, (3, 3))(x))
      x = nn.avg_pool(x, (2, 2), strides=(2, 2))
    x = nn.relu(nn.Dense(64)(x.reshape(x.shape[0], -1)))
    return nn.Dense(self.num_outputs)(x)


MODELS = ("linear", "mlp", "cnn")


def parse_hidden(text: str) -> tuple[int, ...]:
  """`"128,64"` -> `(128, 64)`; raises ConfigError for anything but positive integers."""
  try:
    widths = tuple(int(w) for w in str(text).replace(" ", "").split(",") if w)
  except ValueError:
    widths = ()
  if not widths or min(widths) < 1:
    raise ConfigError(f"--config.hidden: must be comma-separated positive widths like '128,64', got {text!r}.")
  return widths


def build(name: str, num_outputs: int, input_shape: tuple[int, ...], hidden: str = "128,64") -> nn.Module:
  """The model `name` (one of `MODELS`) for inputs of `input_shape` (per example).

  Raises:
    ConfigError: unknown name, bad widths, or a CNN on non-image inputs.
  """
  if name == "linear":
    return Linear(num_outputs)
  if name == "mlp":
    return MLP(num_outputs, parse_hidden(hidden))
  if name == "cnn":
    if len(input_shape) != 3:
      raise ConfigError(f"--config.model: model 'cnn' needs image inputs [H, W, C], this dataset has "
                        f"{input_shape}.")
    return CNN(num_outputs)
  raise ConfigError(f"--config.model: unknown model {name!r}; valid choices: {', '.join(MODELS)}.")


def count_params(params) -> int:
  """The number of scalars in a params tree."""
  return int(sum(jnp.size(x) for x in jax.tree.leaves(params)))


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Mean softmax cross-entropy with integer labels: `-mean_i log softmax(logits_i)[labels_i]`."""
  logp = jax.nn.log_softmax(logits)
  return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))


def distillation_loss(student: jax.Array, teacher: jax.Array, labels: jax.Array, t: float, alpha: float):
  """`alpha · T² · KL(softmax(teacher/T) ‖ softmax(student/T)) + (1 - alpha) · CE(student, labels)`.

  Hinton, Vinyals & Dean 2015 (https://arxiv.org/abs/1503.02531): the T² factor
  keeps the soft term's gradient scale independent of the temperature.

  Args:
    student: the student's logits, [batch, classes].
    teacher: the teacher's logits, [batch, classes].
    labels: integer labels, [batch].
    t: the temperature T > 0.
    alpha: the soft term's weight in [0, 1].

  Returns:
    The scalar loss.
  """
  p_t = jax.nn.softmax(teacher / t)
  kl = jnp.sum(p_t * (jax.nn.log_softmax(teacher / t) - jax.nn.log_softmax(student / t)), axis=1)
  return alpha * t * t * jnp.mean(kl) + (1.0 - alpha) * cross_entropy(student, labels)
