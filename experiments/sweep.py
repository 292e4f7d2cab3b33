"""Grid or random hyperparameter search: `python -m experiments.sweep`.

Examples:
  python -m experiments.sweep --workdir=/tmp/sweep --search=grid \
      --grid=learning_rate=1e-4,1e-3,1e-2 --grid=weight_decay=1e-4,1e-2
  python -m experiments.sweep --workdir=/tmp/sweep --search=random --trials=32 \
      --random=learning_rate=log:1e-5:1e-1 --random=b1=uniform:0.8:0.99

The dataset, model, optimizer, batch size, epochs and seed flags (and `--config`)
are those of `experiments.train` (`experiments/flags.py`); `--NAME=value` fixes an
optimizer argument that is not swept. Every trial trains the same model from
the same init on the same seeded batches; with `--vmap` (the
default) all trials train in lock-step as one jitted program (`jopt.sweep`),
with `--novmap` one after the other. Writes to `--workdir`: `results.csv` (one
row per trial: its hyperparameters, final training and validation loss),
`best.json` (the trial with the lowest validation loss) and `sweep.png` (final
validation loss vs each swept hyperparameter). Bad flags exit with code 2 and a
one-line message.
"""

import csv
import json
import math
import os
import sys
import time

from absl import app
from absl import flags

from experiments import flags as flags_lib
from experiments.registry import ConfigError

FLAGS = flags.FLAGS
flags.DEFINE_enum("search", "grid", ["grid", "random"], "Grid (every combination) or random search.")
flags.DEFINE_multi_string(
    "grid", [], "NAME=V1,V2,...: values of one optimizer argument for --search=grid (repeatable).")
flags.DEFINE_multi_string(
    "random", [], "NAME=log:LOW:HIGH or NAME=uniform:LOW:HIGH for --search=random (repeatable).")
flags.DEFINE_integer("trials", 16, "Number of random-search trials.")
flags.DEFINE_boolean("vmap", True, "Train all trials as one vmapped program (else one by one).")

_SPACE = None  # the trials, set by `parse_flags` before `main` runs.
# Settings of experiments.train that a sweep does not support (every trial is one plain optimizer).
_UNSUPPORTED = ("schedule", "base_batch_size", "l1", "l2", "clip_norm", "prune_sparsity", "distill_from",
                "early_stopping_patience")


class SpecError(ConfigError):
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
  sys.stderr.write(f"FATAL: experiments.sweep: {message}\n")
  sys.exit(2)


def parse_flags(argv: list[str]) -> list[str]:
  """The launcher's flag parsing (bad flags exit 2), then the search flags (bad ones exit 2 too)."""
  rest = flags_lib.parse_or_exit(argv)
  if len(rest) > 1:
    _usage_error(f"unexpected arguments {rest[1:]} (flags are --name=value).")
  if FLAGS.trials < 1:
    _usage_error(f"--trials must be >= 1, got {FLAGS.trials}.")
  global _SPACE
  try:
    _SPACE = search_space(FLAGS.search, FLAGS.grid, FLAGS.random, FLAGS.trials)
  except (ConfigError, ValueError) as e:
    _usage_error(str(e))
  return rest


def build_sweep(config, space):
  """Data, model, loss, batches and the optimizer factory for `config` (the launcher's modules).

  Returns:
    `(loss_fn, factory, fixed, params, batches, eval_fn)` for `jopt.sweep`.

  Raises:
    ConfigError: an unsupported setting, a swept name the optimizer lacks, or a value it rejects.
  """
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  from experiments import build as build_lib  # pylint: disable=g-import-not-at-top
  from experiments import data as data_lib  # pylint: disable=g-import-not-at-top
  from experiments import models  # pylint: disable=g-import-not-at-top
  from experiments import registry  # pylint: disable=g-import-not-at-top

  default = flags_lib.default.get_config()
  for name in _UNSUPPORTED:
    if config[name] != default[name]:
      raise ConfigError(f"--{name} is not supported by experiments.sweep (use experiments.train).")
  if config.devices != 1:
    raise ConfigError("--devices is not supported by experiments.sweep (the trial axis is split "
                      "over the local devices automatically).")
  if config.optimizer not in registry.OPTIMIZERS:
    raise ConfigError(f"unknown optimizer {config.optimizer!r}; valid choices: "
                      f"{', '.join(sorted(registry.OPTIMIZERS))}.")
  factory = registry.OPTIMIZERS[config.optimizer]
  valid = registry.arg_names(factory)
  unknown = [n for n in space if n not in valid]
  if unknown:
    raise ConfigError(f"{unknown} are not arguments of optimizer {config.optimizer!r}; its arguments "
                      f"are: {', '.join(valid)}.")
  fixed = dict(config.optimizer_kwargs)
  if "learning_rate" not in space:
    fixed["learning_rate"] = config.learning_rate
  if config.weight_decay >= 0:
    if not registry.takes(config.optimizer, "weight_decay"):
      raise ConfigError(f"--weight_decay: optimizer {config.optimizer!r} does not take it.")
    if "weight_decay" not in space:
      fixed["weight_decay"] = config.weight_decay
  clash = sorted(set(space) & set(fixed) - {"learning_rate", "weight_decay"})
  if clash:
    raise ConfigError(f"{clash} are both swept and set by a flag.")
  try:  # the optimizer's own checks on every trial's value (e.g. a negative learning rate)
    factory(**fixed, **space)
  except (ValueError, TypeError) as e:
    raise ConfigError(f"optimizer {config.optimizer!r}: {e}") from None

  data = data_lib.load(config.dataset, config.data_dir)
  order = data_lib.Batches(len(data.train), config.batch_size, config.seed)
  total = config.steps or config.epochs * order.steps_per_epoch
  if total < 1:
    raise ConfigError(f"--epochs or --steps must be > 0, got {config.epochs} and {config.steps}.")
  model = models.build(config.model, data.num_outputs, data.input_shape, config.hidden)
  params = model.init(jax.random.key(config.seed), data.train.x[:1])["params"]
  train_x, train_y = jnp.asarray(data.train.x), jnp.asarray(data.train.y)
  regression = data.task == "regression"

  def loss_on(p, x, y):
    out = model.apply({"params": p}, x)
    return jnp.mean((out[:, 0] - y) ** 2) if regression else build_lib.cross_entropy(out, y)

  # Batches are the launcher's seeded batch order, as row indices: [T, batch_size] int32.
  batches = {"idx": jnp.asarray(np.stack([order.indices(s) for s in range(total)]), jnp.int32)}
  loss_fn = lambda p, b: loss_on(p, train_x[b["idx"]], train_y[b["idx"]])
  val_x, val_y = jnp.asarray(data.val.x), jnp.asarray(data.val.y)
  eval_fn = lambda p: {"train": loss_on(p, train_x, train_y), "val": loss_on(p, val_x, val_y)}
  return loss_fn, factory, fixed, params, batches, eval_fn


def write_results(workdir, space, train_loss, val_loss, seconds, config):
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
      "optimizer": config.optimizer, "dataset": config.dataset, "model": config.model,
      "fixed": {k: v for k, v in dict(config.optimizer_kwargs).items()}, "search": FLAGS.search, "trials": len(val_loss),
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
  fig.suptitle(f"{FLAGS.search} search, {config.optimizer} on {config.dataset}/{config.model}, "
               f"{len(val_loss)} trials")
  fig.tight_layout()
  fig.savefig(os.path.join(workdir, "sweep.png"), dpi=100)
  return best


def main(argv):
  del argv
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  import jopt  # pylint: disable=g-import-not-at-top

  space = _SPACE
  try:
    config = flags_lib.config_from_flags()
    loss_fn, factory, fixed, params, batches, eval_fn = build_sweep(config, space)
  except ConfigError as e:
    _usage_error(str(e))
  t0 = time.perf_counter()
  res = jopt.sweep(loss_fn, factory, space, params, batches, fixed=fixed, eval_fn=eval_fn,
                   vmap=FLAGS.vmap)
  val = np.asarray(jax.device_get(res.metrics["val"]), np.float64)
  train = np.asarray(jax.device_get(res.metrics["train"]), np.float64)
  seconds = time.perf_counter() - t0
  best = write_results(FLAGS.workdir, space, train, val, seconds, config)
  print(f"{len(val)} trials ({'vmapped' if FLAGS.vmap else 'one by one'}) of {config.optimizer} on "
        f"{config.dataset}/{config.model} in {seconds:.1f} s; best val loss {best['final_val_loss']:.4f} "
        f"at {best['hyperparams']}")
  print(f"wrote {FLAGS.workdir}/results.csv, best.json, sweep.png")


if __name__ == "__main__":
  flags_lib.define()
  app.run(main, flags_parser=parse_flags)
