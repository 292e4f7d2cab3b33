"""Search spaces: the trials of a grid search and of a random search, as one vector of values per hyperparameter."""

import itertools
import math
from typing import Mapping, Sequence

import numpy as np

from jopt._src import checks

DISTRIBUTIONS = ("log", "uniform")


def grid_search(space: Mapping[str, Sequence[float]]) -> dict[str, np.ndarray]:
  """Every combination of the listed values (the Cartesian product), in row-major order.

  Trial `k` of ``grid_search({"a": [1, 2], "b": [3, 4, 5]})`` is the k-th entry
  of ``itertools.product([1, 2], [3, 4, 5])``: the last name varies fastest.

  Args:
    space: name -> a non-empty list of finite values.

  Returns:
    name -> float64 vector of length ``prod(len(values))``, ready for `jopt.sweep`.
  """
  fn = "grid_search"
  if not space:
    raise ValueError(f"{fn}: `space` must name at least one hyperparameter, got {{}}.")
  for name, values in space.items():
    arr = np.asarray(values, dtype=np.float64) if len(values) else np.zeros(0)
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
      raise ValueError(
          f"{fn}: `space[{name!r}]` must be a non-empty list of finite numbers, got {values!r}."
      )
  combos = list(itertools.product(*[list(map(float, v)) for v in space.values()]))
  return {name: np.asarray([c[i] for c in combos]) for i, name in enumerate(space)}


def random_search(
    space: Mapping[str, tuple[str, float, float]], num_trials: int, seed: int = 0
) -> dict[str, np.ndarray]:
  """`num_trials` independent draws of every hyperparameter.

  ``("log", low, high)`` draws `exp(U(log low, log high))` (log-uniform, for
  learning rates and weight decays, 0 < low < high); ``("uniform", low, high)``
  draws `U(low, high)` (low < high). Bergstra & Bengio, 2012, "Random Search for
  Hyper-Parameter Optimization" (https://jmlr.org/papers/v13/bergstra12a.html).

  Args:
    space: name -> (distribution, low, high).
    num_trials: the number of trials, >= 1.
    seed: the NumPy seed; the same seed gives the same trials.

  Returns:
    name -> float64 vector of length `num_trials`, ready for `jopt.sweep`.
  """
  fn = "random_search"
  checks.check_int(fn, "num_trials", num_trials, 1)
  if not space:
    raise ValueError(f"{fn}: `space` must name at least one hyperparameter, got {{}}.")
  rng = np.random.default_rng(seed)
  out = {}
  for name, spec in space.items():
    if not (isinstance(spec, (tuple, list)) and len(spec) == 3 and spec[0] in DISTRIBUTIONS):
      raise ValueError(
          f"{fn}: `space[{name!r}]` must be (distribution, low, high) with distribution in "
          f"{DISTRIBUTIONS}, got {spec!r}."
      )
    dist, low, high = spec[0], float(spec[1]), float(spec[2])
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
      raise ValueError(f"{fn}: `space[{name!r}]` needs finite low < high, got low={low}, high={high}.")
    if dist == "log":
      if low <= 0:
        raise ValueError(f"{fn}: `space[{name!r}]` is log-uniform, so low must be > 0, got {low}.")
      out[name] = np.exp(rng.uniform(math.log(low), math.log(high), num_trials))
    else:
      out[name] = rng.uniform(low, high, num_trials)
  return out
