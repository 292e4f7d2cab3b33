"""Datasets without downloads (scikit-learn's bundled sets, y = 2x, local MNIST files) and the seeded batch order."""

import dataclasses
import functools
import gzip
import os
import zlib
from typing import Optional

import numpy as np

from experiments.errors import ConfigError
from experiments.errors import one_line

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


_DATA_DIR = "--config.data_dir"


def _bad_file(path: str, what: str) -> ConfigError:
  return ConfigError(f"{_DATA_DIR}: {path}: {what}")


def read_idx(path: str) -> np.ndarray:
  """Reads an IDX file (as MNIST ships: magic 0x0000TTDD, then DD big-endian int32 sizes), gzipped or not.

  Raises:
    ConfigError: an unreadable file (a corrupt gzip) or one that is not a well-formed IDX file.
  """
  opener = gzip.open if path.endswith(".gz") else open
  try:
    with opener(path, "rb") as f:
      data = f.read()
  except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
    raise _bad_file(path, f"cannot be read ({type(e).__name__}: {e}); expected an IDX file"
                          f"{', gzipped' if path.endswith('.gz') else ''}.") from None
  if len(data) < 4 or data[0] or data[1] or data[2] not in _IDX_DTYPES:
    raise _bad_file(path, f"is not an IDX file (magic number {data[:4].hex() or 'missing'}); expected "
                          "00 00 <type> <dimensions> as MNIST's files start.")
  ndim = data[3]
  if not 1 <= ndim <= 4:
    raise _bad_file(path, f"IDX header gives {ndim} dimensions; expected 1 (labels) or 3 (images).")
  if len(data) < 4 + 4 * ndim:
    raise _bad_file(path, f"IDX header of {ndim} dimensions is cut short ({len(data)} bytes).")
  shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
  dtype = np.dtype(_IDX_DTYPES[data[2]])
  body = data[4 + 4 * ndim:]
  size = 1
  for d in shape:
    size *= d
  if len(body) != size * dtype.itemsize:
    raise _bad_file(path, f"the header says shape {shape} but the file holds {len(body)} bytes of data.")
  return np.frombuffer(body, dtype).reshape(shape)


def _read_npz(path: str) -> dict[str, np.ndarray]:
  """`x_train, y_train, x_test, y_test` of a Keras-layout `.npz` (no pickled objects)."""
  keys = ("x_train", "y_train", "x_test", "y_test")
  try:
    with np.load(path, allow_pickle=False) as f:
      missing = [k for k in keys if k not in f.files]
      if missing:
        raise _bad_file(path, f"has no {', '.join(missing)} (it holds {', '.join(f.files) or 'nothing'}); "
                              f"expected the arrays {', '.join(keys)} (Keras' mnist.npz layout).")
      return {k: f[k] for k in keys}
  except ConfigError:
    raise
  except Exception as e:  # pylint: disable=broad-except  (zip, zlib, format and pickle errors alike)
    raise _bad_file(path, f"cannot be read as a NumPy .npz ({type(e).__name__}: {one_line(str(e))}); "
                          "expected numeric arrays x_train, y_train, x_test, y_test.") from None


def _images(path: str, a: np.ndarray) -> np.ndarray:
  """[N, H, W] or [N, H, W, 1] real images as float32 [N, H, W, 1] in [0, 1] (uint8 / 255)."""
  if a.ndim == 4 and a.shape[-1] == 1:
    a = a[..., 0]
  if a.ndim != 3 or not all(a.shape[1:]):
    raise _bad_file(path, f"images of shape {a.shape}; expected [N, height, width] (e.g. [60000, 28, 28]).")
  if a.dtype.kind not in "uif":
    raise _bad_file(path, f"images of dtype {a.dtype}; expected uint8 (or real) pixels.")
  return (a.astype(np.float32) / 255.0)[..., None]


def _labels(path: str, a: np.ndarray) -> np.ndarray:
  if a.ndim != 1:
    raise _bad_file(path, f"labels of shape {a.shape}; expected one integer label per image ([N]).")
  if a.dtype.kind not in "uif" or (a.dtype.kind == "f" and not np.all(np.isfinite(a) & (a == np.round(a)))):
    raise _bad_file(path, f"labels of dtype {a.dtype} that are not all integers; expected integer class labels.")
  return a.astype(np.int64)


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
        f"{_DATA_DIR}: dataset {name!r} reads local files: pass --config.data_dir=DIR holding {name}.npz "
        f"or the four IDX files ({', '.join(v + '.gz' for v in MNIST_FILES.values())}); "
        "nothing is downloaded."
    )
  if not os.path.isdir(data_dir):
    raise ConfigError(f"{_DATA_DIR}: {data_dir!r} is not a directory; expected a folder holding {name}.npz "
                      f"or the four IDX files ({', '.join(v + '[.gz]' for v in MNIST_FILES.values())}).")
  npz = [p for p in (os.path.join(data_dir, f"{name}.npz"), os.path.join(data_dir, name, f"{name}.npz"))
         if os.path.exists(p)]
  if npz:
    arrays = _read_npz(npz[0])
    paths = dict.fromkeys(("train_x", "train_y", "test_x", "test_y"), npz[0])
    tx, ty, vx, vy = arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]
  else:
    paths = {k: _find(data_dir, name, v) for k, v in MNIST_FILES.items()}
    missing = [MNIST_FILES[k] + "[.gz]" for k, v in paths.items() if v is None]
    if missing:
      raise ConfigError(
          f"{_DATA_DIR}: dataset {name!r}: no {name}.npz and missing IDX file(s) {missing} in {data_dir!r} "
          f"(or {os.path.join(data_dir, name)!r}); nothing is downloaded."
      )
    tx, ty, vx, vy = (read_idx(paths[k]) for k in ("train_x", "train_y", "test_x", "test_y"))
  tx, vx = _images(paths["train_x"], tx), _images(paths["test_x"], vx)
  ty, vy = _labels(paths["train_y"], ty), _labels(paths["test_y"], vy)
  for x, y, key in ((tx, ty, "train"), (vx, vy, "test")):
    if len(x) != len(y):
      raise ConfigError(f"{_DATA_DIR}: dataset {name!r}: {len(x)} {key} images but {len(y)} {key} labels in "
                        f"{data_dir!r}; expected one label per image.")
  if tx.shape[1:] != vx.shape[1:]:
    raise ConfigError(f"{_DATA_DIR}: dataset {name!r}: training images are {tx.shape[1:3]} but test images "
                      f"{vx.shape[1:3]}; expected one image size.")
  if len(tx) < 2 or not len(vx):
    raise ConfigError(f"{_DATA_DIR}: dataset {name!r}: {len(tx)} training and {len(vx)} test images; expected "
                      "at least 2 and 1.")
  n_val = max(1, len(tx) // 12)  # 5000 of MNIST's 60000: the last rows of the training file.
  checked = [(paths["train_y"], ty), (paths["test_y"], vy)]
  for path, y in checked:
    bad = np.flatnonzero((y < 0) | (y >= 10))
    if bad.size:
      raise _bad_file(path, f"{bad.size} label(s) outside [0, 10), e.g. {int(y[bad[0]])} at row {int(bad[0])}; "
                            "expected the classes 0..9.")
  for path, x in ((paths["train_x"], tx), (paths["test_x"], vx)):
    bad = np.flatnonzero(~np.isfinite(x).reshape(len(x), -1).all(1))
    if bad.size:
      raise _bad_file(path, f"{bad.size} image(s) with NaN or infinite pixels, e.g. row {int(bad[0])}; "
                            "expected finite pixel values.")
  train = Split(tx[:-n_val], ty[:-n_val].astype(np.int32))
  val = Split(tx[-n_val:], ty[-n_val:].astype(np.int32))
  return Dataset(name, "classification", 10, train, val, Split(vx, vy.astype(np.int32)))


def validate(ds: Dataset) -> Dataset:
  """Checks what training needs of any dataset: finite features and targets, labels in
  [0, num_outputs), one label per example, one input shape across splits.

  Raises:
    ConfigError: naming the split and the first bad row.
  """
  flag = _DATA_DIR if ds.name in ("mnist", "fashion_mnist") else "--config.dataset"
  for split_name in ("train", "val", "test"):
    s = getattr(ds, split_name)
    if len(s.x) != len(s.y) or not len(s.x):
      raise ConfigError(f"{flag}: {ds.name} {split_name} split has {len(s.x)} inputs and {len(s.y)} targets; "
                        "expected as many of each, at least one.")
    if s.x.shape[1:] != ds.input_shape:
      raise ConfigError(f"{flag}: {ds.name} {split_name} inputs are {s.x.shape[1:]}, training inputs "
                        f"{ds.input_shape}; expected one input shape.")
    if not np.isfinite(s.x).all():
      row = int(np.flatnonzero(~np.isfinite(s.x).reshape(len(s.x), -1).all(1))[0])
      raise ConfigError(f"{flag}: {ds.name} {split_name} inputs hold NaN or inf (row {row}); expected finite "
                        "features.")
    if ds.task == "classification":
      bad = np.flatnonzero((s.y < 0) | (s.y >= ds.num_outputs))
      if bad.size or s.y.dtype.kind not in "iu":
        row = int(bad[0]) if bad.size else 0
        raise ConfigError(f"{flag}: {ds.name} {split_name} labels must be integers in [0, {ds.num_outputs}), "
                          f"got {s.y[row]!r} at row {row}.")
    elif not np.isfinite(s.y).all():
      raise ConfigError(f"{flag}: {ds.name} {split_name} targets hold NaN or inf; expected finite values.")
  return ds


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
    return validate(_LOADERS[name]())
  if name in ("mnist", "fashion_mnist"):
    return validate(_mnist_like(name, data_dir))
  raise ConfigError(f"--config.dataset: unknown dataset {name!r}; valid choices: {', '.join(DATASETS)}.")


class Batches:
  """The training batch order: a fresh permutation per epoch from (seed, epoch); the last partial batch dropped.

  Batch `k` depends only on (seed, k), so a resumed run sees exactly the batches an
  uninterrupted run would.
  """

  def __init__(self, n: int, batch_size: int, seed: int):
    if not 1 <= batch_size <= n:
      raise ConfigError(f"--config.batch_size: must be in [1, {n}] (the training split's size), got {batch_size}.")
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
