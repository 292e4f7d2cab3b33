"""Grid or random hyperparameter search: `python -m experiments.sweep`.

Examples:
  python -m experiments.sweep --workdir=/tmp/sweep --search=grid \
      --grid=learning_rate=1e-4,1e-3,1e-2 --grid=weight_decay=1e-4,1e-2
  python -m experiments.sweep --workdir=/tmp/sweep --search=random --trials=32 \
      --random=learning_rate=log:1e-5:1e-1 --random=b1=uniform:0.8:0.99

Every trial trains the same model on the same batches; with `--vmap` (the
default) all trials train in lock-step as one jitted program (`jopt.sweep`),
with `--novmap` one after the other. Writes to `--workdir`: `results.csv` (one
row per trial: its hyperparameters, final training and validation loss),
`best.json` (the trial with the lowest validation loss) and `sweep.png` (final
validation loss vs each swept hyperparameter). Bad flags exit with code 2 and a
one-line message.
"""

import csv
import inspect
import json
import math
import os
import sys
import time

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory for results.csv, best.json and sweep.png.")
flags.DEFINE_enum("search", "grid", ["grid", "random"], "Grid (every combination) or random search.")
flags.DEFINE_multi_string(
    "grid", [], "NAME=V1,V2,...: values of one optimizer argument for --search=grid (repeatable).")
flags.DEFINE_multi_string(
    "random", [], "NAME=log:LOW:HIGH or NAME=uniform:LOW:HIGH for --search=random (repeatable).")
flags.DEFINE_integer("trials", 16, "Number of random-search trials.")
flags.DEFINE_integer("seed", 0, "Seed of the random search, the batch order and the initial params.")
flags.DEFINE_boolean("vmap", True, "Train all trials as one vmapped program (else one by one).")
# Dataset / model / optimizer (the same names as the training launcher's).
flags.DEFINE_enum("dataset", "digits", ["digits"], "Dataset.")
flags.DEFINE_enum("model", "mlp", ["mlp"], "Model.")
flags.DEFINE_integer("hidden", 64, "Hidden width of the MLP.")
flags.DEFINE_string("optimizer", "adamw", "A jopt optimizer name, e.g. sgd, adam, adamw, hd_adam.")
flags.DEFINE_float("learning_rate", 1e-3, "Learning rate when it is not swept.")
flags.DEFINE_float("weight_decay", None, "Weight decay when it is not swept (optimizer default if unset).")
flags.DEFINE_float("momentum", None, "Momentum when it is not swept (sgd; optimizer default if unset).")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_integer("epochs", 20, "Training epochs per trial.")

_SPACE = None  # the trials, set by `parse_flags` before `main` runs.


class SpecError(ValueError):
  """A malformed --grid/--random value or an inconsistent set of search flags."""


def _number(flag: str, spec: str, text: str) -> float:
  try:
    value = float(text)
  except ValueError:
    raise SpecError(f"--{flag}={spec}: {text!r} is not a number.") from None
  if not math.isfinite(value):
    raise SpecError(f"--{flag}={spec}: {text!r} is not finite.")
  return value


def _split(flag: str, spec: str, form: str) -> tuple[str, str]:
  name, sep, rest = spec.partition("=")
  if not sep or not name.strip() or not rest.strip():
    raise SpecError(f"--{flag}={spec}: expected {form}.")
  return name.strip(), rest.strip()


def parse_grid(specs: list[str]) -> dict[str, list[float]]:
  """`["lr=1e-3,1e-2", ...]` -> `{"lr": [1e-3, 1e-2], ...}`; raises `SpecError`."""
  space: dict[str, list[float]] = {}
  for spec in specs:
    name, rest = _split("grid", spec, "NAME=V1,V2,... (e.g. learning_rate=1e-4,1e-3,1e-2)")
    if name in space:
      raise SpecError(f"--grid: {name!r} is given twice.")
    space[name] = [_number("grid", spec, v.strip()) for v in rest.split(",")]
  return space


def parse_random(specs: list[str]) -> dict[str, tuple[str, float, float]]:
  """`["lr=log:1e-5:1e-1", ...]` -> `{"lr": ("log", 1e-5, 1e-1), ...}`; raises `SpecError`."""
  form = "NAME=log:LOW:HIGH or NAME=uniform:LOW:HIGH (e.g. learning_rate=log:1e-5:1e-1)"
  space: dict[str, tuple[str, float, float]] = {}
  for spec in specs:
    name, rest = _split("random", spec, form)
    parts = rest.split(":")
    if len(parts) != 3 or parts[0] not in ("log", "uniform"):
      raise SpecError(f"--random={spec}: expected {form}.")
    low, high = _number("random", spec, parts[1]), _number("random", spec, parts[2])
    if not low < high:
      raise SpecError(f"--random={spec}: LOW must be < HIGH, got {low:g} and {high:g}.")
    if parts[0] == "log" and low <= 0:
      raise SpecError(f"--random={spec}: a log range needs LOW > 0, got {low:g}.")
    if name in space:
      raise SpecError(f"--random: {name!r} is given twice.")
    space[name] = (parts[0], low, high)
  return space


def search_space(search: str, grid: list[str], random: list[str], trials: int):
  """The trials (name -> values) the flags ask for; raises `SpecError` on inconsistent flags."""
  import jopt  # pylint: disable=g-import-not-at-top
  if search == "grid":
    if random:
      raise SpecError("--search=grid takes --grid=NAME=V1,V2,... ranges, not --random.")
    if not grid:
      raise SpecError("--search=grid needs at least one --grid=NAME=V1,V2,... flag.")
    return jopt.grid_search(parse_grid(grid))
  if grid:
    raise SpecError("--search=random takes --random=NAME=log:LOW:HIGH ranges, not --grid.")
  if not random:
    raise SpecError("--search=random needs at least one --random=NAME=log:LOW:HIGH flag.")
  if trials < 1:
    raise SpecError(f"--trials must be >= 1, got {trials}.")
  return jopt.random_search(parse_random(random), trials, seed=FLAGS.seed)


def _usage_error(message: str) -> None:
  sys.stderr.write(f"experiments.sweep: error: {message}\nTry --help for the flags.\n")
  sys.exit(2)


def parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing that exits with code 2 and one clear line on any bad flag (as argparse does)."""
  try:
    rest = FLAGS(argv)
  except flags.Error as e:
    _usage_error(str(e))
  if len(rest) > 1:
    _usage_error(f"unexpected arguments {rest[1:]}.")
  if not FLAGS.workdir:
    _usage_error("--workdir is required.")
  if FLAGS.trials < 1:
    _usage_error(f"--trials must be >= 1, got {FLAGS.trials}.")
  global _SPACE
  try:
    _SPACE = search_space(FLAGS.search, FLAGS.grid, FLAGS.random, FLAGS.trials)
  except (SpecError, ValueError) as e:
    _usage_error(str(e))
  return rest


def optimizer_and_fixed(name: str, swept: list[str]):
  """The jopt optimizer factory `name` and its non-swept arguments from the flags; exits 2 if bad."""
  import jopt  # pylint: disable=g-import-not-at-top
  factory = getattr(jopt, name, None)
  if not callable(factory) or inspect.isclass(factory):
    _usage_error(f"--optimizer={name}: not a jopt optimizer.")
  params = inspect.signature(factory).parameters
  unknown = [s for s in swept if s not in params]
  if unknown:
    _usage_error(f"{unknown} are not arguments of jopt.{name}; its arguments are {list(params)}.")
  fixed = {}
  for arg in ("learning_rate", "weight_decay", "momentum"):
    value = getattr(FLAGS, arg)
    if arg in params and arg not in swept and value is not None:
      fixed[arg] = value
  return factory, fixed


def write_results(workdir, space, train_loss, val_loss, seconds):
  """results.csv, best.json and sweep.png in `workdir`; returns the best trial as a dict."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  os.makedirs(workdir, exist_ok=True)
  names = list(space)
  with open(os.path.join(workdir, "results.csv"), "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["trial", *names, "final_train_loss", "final_val_loss"])
    for k in range(len(val_loss)):
      writer.writerow([k, *(f"{space[n][k]:.6g}" for n in names), f"{train_loss[k]:.6f}", f"{val_loss[k]:.6f}"])
  finite = np.where(np.isfinite(val_loss), val_loss, np.inf)
  best_k = int(np.argmin(finite))
  best = {
      "trial": best_k, "hyperparams": {n: float(space[n][best_k]) for n in names},
      "final_val_loss": float(val_loss[best_k]), "final_train_loss": float(train_loss[best_k]),
      "optimizer": FLAGS.optimizer, "search": FLAGS.search, "trials": len(val_loss),
      "vmap": FLAGS.vmap, "seconds": round(seconds, 2),
  }
  with open(os.path.join(workdir, "best.json"), "w") as f:
    json.dump(best, f, indent=2)
  fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.6), squeeze=False)
  for ax, n in zip(axes[0], names):
    ax.scatter(space[n], val_loss, s=14)
    ax.scatter([space[n][best_k]], [val_loss[best_k]], s=40, color="tab:red", label="best")
    if np.all(np.asarray(space[n]) > 0) and np.max(space[n]) / np.min(space[n]) > 20:
      ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(n)
    ax.set_ylabel("final validation loss")
    ax.legend(fontsize=8)
  fig.suptitle(f"{FLAGS.search} search, {FLAGS.optimizer}, {len(val_loss)} trials")
  fig.tight_layout()
  fig.savefig(os.path.join(workdir, "sweep.png"), dpi=100)
  return best


def main(argv):
  del argv
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  import jopt  # pylint: disable=g-import-not-at-top
  from experiments.examples import tuning_common  # pylint: disable=g-import-not-at-top

  space = _SPACE
  factory, fixed = optimizer_and_fixed(FLAGS.optimizer, list(space))
  try:  # the optimizer's own checks on every trial's values (e.g. a negative learning rate)
    factory(**fixed, **space)
  except ValueError as e:
    _usage_error(str(e))
  prob = tuning_common.digits_mlp(hidden=FLAGS.hidden, batch_size=FLAGS.batch_size, epochs=FLAGS.epochs,
                                  seed=FLAGS.seed)
  t0 = time.perf_counter()
  res = jopt.sweep(prob.loss_fn, factory, space, prob.params, prob.batches, fixed=fixed,
                   eval_fn=lambda p: {"train": prob.train_loss(p), "val": prob.val_loss(p)},
                   vmap=FLAGS.vmap)
  val = np.asarray(jax.device_get(res.metrics["val"]), np.float64)
  train = np.asarray(jax.device_get(res.metrics["train"]), np.float64)
  seconds = time.perf_counter() - t0
  best = write_results(FLAGS.workdir, space, train, val, seconds)
  print(f"{len(val)} trials ({'vmapped' if FLAGS.vmap else 'one by one'}) in {seconds:.1f} s; "
        f"best val loss {best['final_val_loss']:.4f} at {best['hyperparams']}")
  print(f"wrote {FLAGS.workdir}/results.csv, best.json, sweep.png")


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
