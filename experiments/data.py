"""Datasets without downloads (scikit-learn's bundled sets, y = 2x, local MNIST files) and the seeded batch order."""

import dataclasses
import functools
import gzip
import os
from typing import Optional

import numpy as np

from experiments.errors import ConfigError

MNIST_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclasses.dataclass(frozen=True)
class Split:
  """One split: inputs `x` (float32, [N, ...]) and targets `y` (int32 labels or float32 values, [N])."""

  x: np.ndarray
  y: np.ndarray

  def __len__(self) -> int:
    return len(self.x)


@dataclasses.dataclass(frozen=True)
class Dataset:
  """A dataset with fixed train / validation / test splits.

  Attributes:
    name: the `config.dataset` name.
    task: "classification" (softmax cross-entropy, accuracy) or "regression" (mean squared error).
    num_outputs: classes, or 1 for regression.
    train, val, test: the splits.
  """

  name: str
  task: str
  num_outputs: int
  train: Split
  val: Split
  test: Split

  @property
  def input_shape(self) -> tuple[int, ...]:
    return tuple(self.train.x.shape[1:])


def _split(x: np.ndarray, y: np.ndarray, n_val: int, n_test: int, seed: int = 0):
  """A fixed permutation (seed 0, independent of the run's seed): test, then validation, then train."""
  perm = np.random.default_rng(seed).permutation(len(x))
  test, val, train = perm[:n_test], perm[n_test:n_test + n_val], perm[n_test + n_val:]
  return Split(x[train], y[train]), Split(x[val], y[val]), Split(x[test], y[test])


def _standardize(train: Split, *others: Split, target: bool) -> list[Split]:
  """Features (and for regression the target) standardized with the training split's statistics."""
  mu, sd = train.x.mean(0), train.x.std(0) + 1e-8
  ty_mu, ty_sd = (train.y.mean(), train.y.std()) if target else (0.0, 1.0)
  out = []
  for s in (train,) + others:
    y = ((s.y - ty_mu) / ty_sd).astype(np.float32) if target else s.y
    out.append(Split(((s.x - mu) / sd).astype(np.float32), y))
  return out


def _digits() -> Dataset:
  from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
  x, y = load_digits(return_X_y=True)
  x = (x / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)
  train, val, test = _split(x, y.astype(np.int32), n_val=180, n_test=360)
  return Dataset("digits", "classification", 10, train, val, test)


def _breast_cancer() -> Dataset:
  from sklearn.datasets import load_breast_cancer  # pylint: disable=g-import-not-at-top
  x, y = load_breast_cancer(return_X_y=True)
  splits = _split(x.astype(np.float32), y.astype(np.int32), n_val=57, n_test=114)
  return Dataset("breast_cancer", "classification", 2, *_standardize(*splits, target=False))


def _diabetes() -> Dataset:
  from sklearn.datasets import load_diabetes  # pylint: disable=g-import-not-at-top
  x, y = load_diabetes(return_X_y=True)
  splits = _split(x.astype(np.float32), y.astype(np.float32), n_val=44, n_test=88)
  return Dataset("diabetes", "regression", 1, *_standardize(*splits, target=True))


def _linear_2x() -> Dataset:
  """The worked example's regression: y = 2x + 0.1·noise, x ~ U(-1, 1), 100 train, 20 val, 20 test points."""
  rng = np.random.default_rng(0)
  x = rng.uniform(-1.0, 1.0, size=(140, 1)).astype(np.float32)
  y = (2.0 * x[:, 0] + 0.1 * rng.standard_normal(140)).astype(np.float32)
  train, val, test = _split(x, y, n_val=20, n_test=20)
  return Dataset("linear_2x", "regression", 1, train, val, test)


def read_idx(path: str) -> np.ndarray:
  """Reads an IDX file (as MNIST ships: magic 0x0000TTDD, then DD big-endian int32 sizes), gzipped or not."""
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "rb") as f:
    data = f.read()
  if len(data) < 4 or data[0] or data[1] or data[2] not in _IDX_DTYPES:
    raise ConfigError(f"{path} is not an IDX file (bad magic number {data[:4].hex()}).")
  ndim = data[3]
  shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
  dtype = np.dtype(_IDX_DTYPES[data[2]])
  body = data[4 + 4 * ndim:]
  if len(body) != int(np.prod(shape)) * dtype.itemsize:
    raise ConfigError(f"{path}: header says shape {shape} but the file holds {len(body)} bytes.")
  return np.frombuffer(body, dtype).reshape(shape)


def _find(data_dir: str, name: str, stem: str) -> Optional[str]:
  for folder in (data_dir, os.path.join(data_dir, name)):
    for path in (os.path.join(folder, stem + ".gz"), os.path.join(folder, stem)):
      if os.path.exists(path):
        return path
  return None


def _mnist_like(name: str, data_dir: str) -> Dataset:
  """MNIST / Fashion-MNIST from `<data_dir>[/<name>]/` IDX files (.gz or raw) or `<name>.npz` (Keras layout)."""
  if not data_dir:
    raise ConfigError(
        f"dataset {name!r} reads local files: pass --config.data_dir=DIR holding {name}.npz "
        f"or the four IDX files ({', '.join(v + '.gz' for v in MNIST_FILES.values())}); "
        "nothing is downloaded."
    )
  npz = [p for p in (os.path.join(data_dir, f"{name}.npz"), os.path.join(data_dir, name, f"{name}.npz"))
         if os.path.exists(p)]
  if npz:
    with np.load(npz[0]) as f:
      arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    tx, ty, vx, vy = arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]
  else:
    paths = {k: _find(data_dir, name, v) for k, v in MNIST_FILES.items()}
    missing = [MNIST_FILES[k] + "[.gz]" for k, v in paths.items() if v is None]
    if missing:
      raise ConfigError(
          f"dataset {name!r}: no {name}.npz and missing IDX file(s) {missing} in {data_dir!r} "
          f"(or {os.path.join(data_dir, name)!r}); nothing is downloaded."
      )
    tx, ty, vx, vy = (read_idx(paths[k]) for k in ("train_x", "train_y", "test_x", "test_y"))
  if len(tx) != len(ty) or len(vx) != len(vy):
    raise ConfigError(f"dataset {name!r}: images and labels differ in count in {data_dir!r}.")
  to_x = lambda a: (a.astype(np.float32) / 255.0).reshape(len(a), a.shape[1], a.shape[2], 1)
  n_val = max(1, len(tx) // 12)  # 5000 of MNIST's 60000: the last rows of the training file.
  train = Split(to_x(tx[:-n_val]), ty[:-n_val].astype(np.int32))
  val = Split(to_x(tx[-n_val:]), ty[-n_val:].astype(np.int32))
  return Dataset(name, "classification", 10, train, val, Split(to_x(vx), vy.astype(np.int32)))


_LOADERS = {
    "digits": _digits,
    "breast_cancer": _breast_cancer,
    "diabetes": _diabetes,
    "linear_2x": _linear_2x,
}
DATASETS = tuple(_LOADERS) + ("mnist", "fashion_mnist")


def load(name: str, data_dir: str = "") -> Dataset:
  """The dataset `name` (one of `DATASETS`); MNIST-like sets read from `data_dir` (`~` expanded; cached per process).

  Raises:
    ConfigError: unknown name, or MNIST files absent or malformed.
  """
  return _load(name, os.path.expanduser(data_dir) if data_dir else "")


@functools.lru_cache(maxsize=8)
def _load(name: str, data_dir: str) -> Dataset:
  if name in _LOADERS:
    return _LOADERS[name]()
  if name in ("mnist", "fashion_mnist"):
    return _mnist_like(name, data_dir)
  raise ConfigError(f"unknown dataset {name!r}; valid choices: {', '.join(DATASETS)}.")


class Batches:
  """The training batch order: a fresh permutation per epoch from (seed, epoch); the last partial batch dropped.

  Batch `k` depends only on (seed, k), so a resumed run sees exactly the batches an
  uninterrupted run would.
  """

  def __init__(self, n: int, batch_size: int, seed: int):
    if not 1 <= batch_size <= n:
      raise ConfigError(f"config.batch_size must be in [1, {n}] (the training split's size), got {batch_size}.")
    self.n, self.batch_size, self.seed = n, batch_size, seed
    self.steps_per_epoch = n // batch_size
    self._epoch, self._perm = -1, None

  def indices(self, step: int) -> np.ndarray:
    """The training-row indices of batch `step` (0-based)."""
    epoch, i = divmod(step, self.steps_per_epoch)
    if epoch != self._epoch:
      self._epoch = epoch
      self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
    return self._perm[i * self.batch_size:(i + 1) * self.batch_size]
