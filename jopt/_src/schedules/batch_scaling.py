"""Scaling a learning rate (or a learning-rate schedule) with the batch size."""

import numpy as np

from jopt._src import base
from jopt._src import checks

_RULES = ("linear", "sqrt")


@checks.public
def scale_learning_rate(
    base_lr: base.ScalarOrSchedule,
    base_batch_size: int,
    batch_size: int,
    rule: str = "linear",
) -> base.ScalarOrSchedule:
  """The learning rate for `batch_size`, given one tuned at `base_batch_size`.

  .. math::
    \\eta = \\eta_0 \\cdot \\frac{B}{B_0} \\ \\ (\\text{"linear"}), \\qquad
    \\eta = \\eta_0 \\cdot \\sqrt{B / B_0} \\ \\ (\\text{"sqrt"}).

  The linear scaling rule is Goyal et al., `Accurate, Large Minibatch SGD:
  Training ImageNet in 1 Hour <https://arxiv.org/abs/1706.02677>`_, 2017 (for
  SGD, usually with a warmup); the square-root rule is Krizhevsky, `One weird
  trick for parallelizing convolutional neural networks
  <https://arxiv.org/abs/1404.5997>`_, 2014 and Hoffer et al., `Train longer,
  generalize better <https://arxiv.org/abs/1705.08741>`_, 2017 (often used for
  Adam-type optimizers).

  Args:
    base_lr: the learning rate tuned at `base_batch_size`: a number, or a
      schedule (then the result is the schedule times the factor).
    base_batch_size: the batch size `base_lr` was tuned for, `> 0`.
    batch_size: the batch size to train with, `> 0`.
    rule: `"linear"` or `"sqrt"`.

  Returns:
    `base_lr` times the factor: a float for a float, a schedule for a schedule.

  Example:
    >>> import jopt
    >>> jopt.scale_learning_rate(0.1, base_batch_size=256, batch_size=1024)
    0.4
    >>> jopt.scale_learning_rate(1e-3, 256, 1024, rule="sqrt")
    0.002
  """
  fn = "scale_learning_rate"
  checks.check_positive_int(fn, "base_batch_size", base_batch_size)
  checks.check_positive_int(fn, "batch_size", batch_size)
  if rule not in _RULES:
    raise ValueError(f"{fn}: `rule` must be one of {_RULES}, got {rule!r}.")
  checks.check_nonnegative(fn, "base_lr", base_lr)
  ratio = batch_size / base_batch_size
  factor = ratio if rule == "linear" else float(np.sqrt(ratio))
  if callable(base_lr):
    return lambda count: base_lr(count) * factor
  return base_lr * factor
