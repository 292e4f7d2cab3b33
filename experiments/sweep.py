r"""Grid or random hyperparameter search from the command line: `python -m experiments.sweep`.

    python -m experiments.sweep --workdir=/tmp/sweep --search=grid --config.optimizer=adamw \
        --grid=learning_rate=1e-4,1e-3,1e-2 --grid=weight_decay=1e-4,1e-2
    python -m experiments.sweep --workdir=/tmp/sweep --search=random --trials=32 \
        --random=learning_rate=log:1e-5:1e-1 --random=b1=uniform:0.8:0.99

The dataset, model, optimizer, batch size, epochs and seed come from `--config`
(experiments/configs/default.py, fields overridable as `--config.FIELD=VALUE`, as for
`experiments.main`); `--config.optimizer_kwargs.NAME=VALUE` fixes an optimizer argument
that is not swept. Every trial trains the same model from the same init on the same
seeded batches; with `--vmap` (the default) all trials train in lock-step as one
jitted program (`jopt.sweep`), with `--novmap` one after the other. Writes to
`--workdir`: `results.csv` (one row per trial: its hyperparameters, final training
and validation loss), `best.json` (the trial with the lowest validation loss) and
`sweep.png` (final validation loss vs each swept hyperparameter). Bad flags exit with
code 2 and a one-line message.
"""

import csv
import json
import math
import os
import time
from typing import Any

from absl import app
from absl import flags

from experiments import errors
from experiments import main as main_lib  # defines --workdir and --config
from experiments.configs import default
from experiments.errors import ConfigError

FLAGS = flags.FLAGS
flags.DEFINE_enum("search", "grid", ["grid", "random"], "Grid (every combination) or random search.")
flags.DEFINE_multi_string(
    "grid", [], "NAME=V1,V2,...: values of one optimizer argument for --search=grid (repeatable).")
flags.DEFINE_multi_string(
    "random", [], "NAME=log:LOW:HIGH or NAME=uniform:LOW:HIGH for --search=random (repeatable).")
flags.DEFINE_integer("trials", 16, "Number of random-search trials.")
flags.DEFINE_boolean("vmap", True, "Train all trials as one vmapped program (else one by one).")

_TOOL = "experiments.sweep"
# Config fields a sweep does not support (every trial is one plain optimizer): must keep their default.
_UNSUPPORTED = ("schedule", "base_batch_size", "l1", "l2", "clip_norm", "prune_sparsity", "quantize_int8",
                "distill_from", "early_stopping_patience", "flat", "nan_policy")


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
    if len(parts) != 3:
      raise SpecError(f"--random={spec}: expected {form}.")
    if parts[0] not in ("log", "uniform"):
      raise SpecError(f"--random={spec}: unknown distribution {parts[0]!r} (log or uniform).")
    low, high = _number("random", spec, parts[1]), _number("random", spec, parts[2])
    if not low < high:
      raise SpecError(f"--random={spec}: LOW must be < HIGH, got {low:g} and {high:g}.")
    if parts[0] == "log" and low <= 0:
      raise SpecError(f"--random={spec}: a log range needs LOW > 0, got {low:g}.")
    if name in space:
      raise SpecError(f"--random: {name!r} is given twice.")
    space[name] = (parts[0], low, high)
  return space


def search_space(search: str, grid: list[str], random: list[str], trials: int, seed: int = 0):
  """The trials (name -> values) the flags ask for; raises `SpecError` on inconsistent flags."""
  import jopt  # pylint: disable=g-import-not-at-top
  if trials < 1:
    raise SpecError(f"--trials must be >= 1, got {trials}.")
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
  return jopt.random_search(parse_random(random), trials, seed=seed)


def build_sweep(config: Any, space: dict[str, Any]):
  """Data, model, loss, batches and the optimizer for `config` (the main job's modules).

  Returns:
    `(loss_fn, factory, fixed, params, batches, eval_fn)` for `jopt.sweep`.

  Raises:
    ConfigError: an unsupported setting, a swept name the optimizer lacks, or a value it rejects.
  """
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  from experiments import data as data_lib  # pylint: disable=g-import-not-at-top
  from experiments import models  # pylint: disable=g-import-not-at-top
  from experiments import optimizers  # pylint: disable=g-import-not-at-top
  from experiments import train  # pylint: disable=g-import-not-at-top

  train.check_fields(config)
  base = default.get_config()
  for name in _UNSUPPORTED:
    if config[name] != base[name]:
      raise ConfigError(f"config.{name} is not supported by experiments.sweep (use experiments.main).")
  if config.devices != 1:
    raise ConfigError("config.devices is not supported by experiments.sweep (the trial axis is split "
                      "over the local devices automatically).")
  factory = optimizers.lookup("optimizer", config.optimizer)
  fixed = dict(config.optimizer_kwargs)
  if "learning_rate" not in space:
    fixed["learning_rate"] = config.learning_rate
  if config.weight_decay >= 0 and "weight_decay" not in space:
    fixed["weight_decay"] = config.weight_decay
  clash = sorted(set(space) & set(fixed))
  if clash:
    raise ConfigError(f"{clash} are both swept and set in config.optimizer_kwargs.")
  first = {n: v[0] for n, v in space.items()}
  try:  # the optimizer's own checks on every value of every swept name (e.g. a negative learning rate)
    for n, values in space.items():
      for value in sorted(set(float(v) for v in values)):
        factory(**fixed, **{**first, n: value})
  except (ValueError, TypeError) as e:
    raise ConfigError(f"optimizer {config.optimizer!r}: {e}") from None

  data = data_lib.load(config.dataset, config.data_dir)
  order = data_lib.Batches(len(data.train), config.batch_size, config.seed)
  total = config.steps or config.epochs * order.steps_per_epoch
  if total < 1:
    raise ConfigError(f"config.epochs or config.steps must be > 0, got {config.epochs} and {config.steps}.")
  model = models.build(config.model, data.num_outputs, data.input_shape, config.hidden)
  params = model.init(jax.random.key(config.seed), data.train.x[:1])["params"]
  train_x, train_y = jnp.asarray(data.train.x), jnp.asarray(data.train.y)
  regression = data.task == "regression"

  def loss_on(p, x, y):
    out = model.apply({"params": p}, x)
    return jnp.mean((out[:, 0] - y) ** 2) if regression else models.cross_entropy(out, y)

  # Batches are the main job's seeded batch order, as row indices: [T, batch_size] int32.
  batches = {"idx": jnp.asarray(np.stack([order.indices(s) for s in range(total)]), jnp.int32)}
  loss_fn = lambda p, b: loss_on(p, train_x[b["idx"]], train_y[b["idx"]])
  val_x, val_y = jnp.asarray(data.val.x), jnp.asarray(data.val.y)
  eval_fn = lambda p: {"train": loss_on(p, train_x, train_y), "val": loss_on(p, val_x, val_y)}
  return loss_fn, factory, fixed, params, batches, eval_fn


def write_results(workdir, space, train_loss, val_loss, seconds, config, search: str, vmap: bool):
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
      "fixed": dict(config.optimizer_kwargs), "search": search, "trials": len(val_loss),
      "vmap": vmap, "seconds": round(seconds, 2),
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
  fig.suptitle(f"{search} search, {config.optimizer} on {config.dataset}/{config.model}, {len(val_loss)} trials")
  fig.tight_layout()
  fig.savefig(os.path.join(workdir, "sweep.png"), dpi=100)
  plt.close(fig)
  return best


def main(argv: list[str]) -> None:
  """Parses the search flags, trains every trial with `jopt.sweep`, writes the results."""
  if len(argv) > 1:
    errors.fail(_TOOL, f"unexpected arguments {argv[1:]} (flags are --name=value).")
  if FLAGS.docs or FLAGS.coordinator_address or FLAGS.num_processes:
    errors.fail(_TOOL, "--docs and the multi-host flags are for experiments.main, not experiments.sweep.")
  config = main_lib.load_config(_TOOL)
  workdir = os.path.expanduser(FLAGS.workdir)
  try:
    space = search_space(FLAGS.search, FLAGS.grid, FLAGS.random, FLAGS.trials, seed=config.seed)
    loss_fn, factory, fixed, params, batches, eval_fn = build_sweep(config, space)
  except ConfigError as e:
    errors.fail(_TOOL, str(e))
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import jopt  # pylint: disable=g-import-not-at-top

  t0 = time.perf_counter()
  res = jopt.sweep(loss_fn, factory, space, params, batches, fixed=fixed, eval_fn=eval_fn, vmap=FLAGS.vmap)
  val = np.asarray(jax.device_get(res.metrics["val"]), np.float64)
  train_loss = np.asarray(jax.device_get(res.metrics["train"]), np.float64)
  seconds = time.perf_counter() - t0
  best = write_results(workdir, space, train_loss, val, seconds, config, FLAGS.search, FLAGS.vmap)
  print(f"{len(val)} trials ({'vmapped' if FLAGS.vmap else 'one by one'}) of {config.optimizer} on "
        f"{config.dataset}/{config.model} in {seconds:.1f} s; best val loss {best['final_val_loss']:.4f} "
        f"at {best['hyperparams']}")
  print(f"wrote {workdir}/results.csv, best.json, sweep.png")


if __name__ == "__main__":
  flags.declare_key_flag("workdir")
  flags.declare_key_flag("config")
  app.run(main, flags_parser=errors.parse_flags_or_exit)
