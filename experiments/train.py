"""The one training loop every experiment uses: `train_and_evaluate(config, workdir)`.

It validates the config, the data and the workdir (nothing is written on a bad
one), locks the workdir, writes config.json, resumes from the newest intact orbax
checkpoint in `<workdir>/checkpoints` if there is one, trains with
`jopt.make_train_step` (a non-finite loss stops the run under
`config.nan_policy="raise"`), logs metrics.jsonl, evaluates on the validation and
test splits, checkpoints (with a checksum each), optionally stops early, and ends
with PNG plots and a summary table.

`python -m experiments.train` is the same command as `python -m experiments.main`
(see its `--help`).
"""

import dataclasses
import json
import math
import os
import sys
import time
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from jax.sharding import Mesh

import jopt
from experiments import checkpoints
from experiments import data as data_lib
from experiments import models
from experiments import optimizers
from experiments import outputs
from experiments import pruning
from experiments import workdir as workdir_lib
from experiments.configs import default
from experiments.errors import ConfigError
from experiments.errors import RunError

# config.json fields that do not change the numbers: a rerun may differ in them.
_COSMETIC = ("progress", "nan_policy")  # nan_policy: the same numbers until a non-finite step
NAN_POLICIES = ("raise", "skip", "ignore")


@dataclasses.dataclass
class Setup:
  """A validated run: data, model, optimizer, compiled step and the loop's cadences."""

  config: Any
  data: data_lib.Dataset
  model: Any
  params: Any  # the initial params (from the seed)
  tx: jopt.GradientTransformation
  trainer: jopt.Trainer
  batches: data_lib.Batches
  total_steps: int
  eval_every: int
  checkpoint_every: int
  evaluate: Callable[[Any, data_lib.Split], dict[str, float]]
  extra_train: dict[str, np.ndarray]  # per-example arrays added to training batches (teacher logits)
  stopper: Optional[jopt.EarlyStopping]

  def batch(self, step: int) -> dict[str, np.ndarray]:
    """Training batch `step` as host arrays."""
    idx = self.batches.indices(step)
    out = {"x": self.data.train.x[idx], "y": self.data.train.y[idx]}
    out.update({k: v[idx] for k, v in self.extra_train.items()})
    return out

  def params_of(self, state: Any) -> Any:
    """The params tree of a training state (the flat step's buffers as a tree)."""
    if self.config.flat:
      return self.trainer.params(state)
    return self.trainer.unreplicate(state).params

  def tree_state(self, state: Any) -> Any:
    """What a checkpoint holds: the tree step's state (a flat run's converted), on one device."""
    if self.config.flat:
      return self.trainer.tree_state_from_flat(state)
    return self.trainer.unreplicate(state)

  def from_tree_state(self, state: Any) -> Any:
    """A restored tree state as this run's step takes it."""
    return self.trainer.flat_state_from_tree(state) if self.config.flat else state

  def evaluate_all(self, params: Any) -> dict[str, float]:
    """`train_/val_/test_` loss (and accuracy) of `params`."""
    splits = (("train", self.data.train), ("val", self.data.val), ("test", self.data.test))
    return {f"{name}_{k}": v for name, split in splits for k, v in self.evaluate(params, split).items()}


def _check(cond: bool, msg: str) -> None:
  if not cond:
    raise ConfigError(msg)


def _kind(value: Any) -> str:
  return f"{value!r} ({type(value).__name__})"


# Ranges of the numeric fields: (low, low inclusive, high, high inclusive); None = unbounded.
_RANGES = {
    "batch_size": (1, True, None, False), "epochs": (0, True, None, False), "steps": (0, True, None, False),
    "seed": (0, True, 2**32, False), "devices": (1, True, None, False), "eval_every": (0, True, None, False),
    "log_every": (1, True, None, False), "checkpoint_every": (0, True, None, False),
    "base_batch_size": (0, True, None, False), "l1": (0, True, None, False), "l2": (0, True, None, False),
    "clip_norm": (0, True, None, False), "early_stopping_patience": (0, True, None, False),
    "early_stopping_min_delta": (0, True, None, False), "prune_sparsity": (0, True, 1, False),
    "prune_begin": (0, True, None, False), "prune_end": (0, True, None, False),
    "prune_every": (1, True, None, False), "distill_temperature": (0, False, None, False),
    "distill_alpha": (0, True, 1, True),
}
_CHOICES = {"lr_scaling": ("linear", "sqrt"), "nan_policy": NAN_POLICIES}


def check_values(config: Any) -> None:
  """Every field holds its default's type (a bool a bool, an int an int, a float a finite number)
  and lies in its range; the first bad one is a `ConfigError` naming `--config.FIELD`."""
  import ml_collections  # pylint: disable=g-import-not-at-top
  for field, like in default.get_config().items():
    value = config[field]
    flag = f"--config.{field}"
    if isinstance(like, bool):
      _check(isinstance(value, (bool, np.bool_)), f"{flag}: must be true or false, got {_kind(value)}.")
    elif isinstance(like, int):
      _check(isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)),
             f"{flag}: must be an integer, got {_kind(value)}.")
    elif isinstance(like, float):
      _check(isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)),
             f"{flag}: must be a number, got {_kind(value)}.")
      _check(math.isfinite(value), f"{flag}: must be finite, got {value!r}.")
    elif isinstance(like, str):
      _check(isinstance(value, str), f"{flag}: must be a string, got {_kind(value)}.")
    elif isinstance(like, ml_collections.ConfigDict):
      _check(isinstance(value, (ml_collections.ConfigDict, dict)),
             f"{flag}: must be a dict of arguments by name (e.g. --{flag[2:]}.NAME=VALUE), got {_kind(value)}.")
    if field in _RANGES:
      low, low_in, high, high_in = _RANGES[field]
      ok = (value >= low if low_in else value > low) and (high is None or (value <= high if high_in else value < high))
      if not ok:
        lo = ("[" if low_in else "(") + str(low)
        hi = "inf)" if high is None else (str(high) + ("]" if high_in else ")"))
        raise ConfigError(f"{flag}: must be in {lo}, {hi}, got {value!r}.")
    if field in _CHOICES:
      _check(value in _CHOICES[field], f"{flag}: must be one of {', '.join(_CHOICES[field])}, got {value!r}.")
  _check(config.epochs > 0 or config.steps > 0,
         f"--config.epochs: config.epochs or config.steps must be > 0, got {config.epochs} and {config.steps}.")


def check_fields(config: Any) -> None:
  """Refuses fields that the default config does not have (a typo in `--config.epoch=5` would be ignored)."""
  known = set(default.get_config())
  unknown = sorted(set(config) - known)
  if unknown:
    import difflib  # pylint: disable=g-import-not-at-top
    hints = [f"{k} (did you mean {', '.join(difflib.get_close_matches(k, known, 3))}?)"
             if difflib.get_close_matches(k, known, 3) else k for k in unknown]
    raise ConfigError(f"--config.{unknown[0]}: unknown config field(s): {', '.join(hints)}; the fields are "
                      "documented in experiments/configs/default.py.")


def _teacher_logits(c, data: data_lib.Dataset) -> np.ndarray:
  """The finished run in `c.distill_from`: its model (from config.json) on this dataset's training split."""
  teacher_dir = os.path.expanduser(c.distill_from)
  flag = "--config.distill_from"
  _check(os.path.exists(os.path.join(teacher_dir, outputs.CONFIG)),
         f"{flag}: {c.distill_from!r} has no config.json (run the teacher first).")
  try:
    tc = workdir_lib.read_config(teacher_dir)
  except ConfigError as e:
    raise ConfigError(f"{flag}: {str(e).split(': ', 1)[1]}") from None
  _check(tc["dataset"] == c.dataset,
         f"{flag}: the teacher was trained on {tc['dataset']!r}, not {c.dataset!r}.")
  _check(data.task == "classification", f"{flag}: distillation needs a classification dataset.")
  teacher = models.build(tc["model"], data.num_outputs, data.input_shape, tc["hidden"])
  params = teacher.init(jax.random.key(0), data.train.x[:1])["params"]
  try:
    restored = checkpoints.restore_params(teacher_dir, params)
  except Exception as e:  # pylint: disable=broad-except
    raise ConfigError(f"{flag}: the checkpoint in {c.distill_from!r} does not fit the teacher's model "
                      f"({type(e).__name__}).") from None
  _check(restored is not None, f"{flag}: {c.distill_from!r} has no intact checkpoint.")
  apply = jax.jit(lambda p, x: teacher.apply({"params": p}, x))
  return np.concatenate([np.asarray(apply(restored, data.train.x[i:i + 2048]))
                         for i in range(0, len(data.train), 2048)])


def build(c) -> Setup:
  """Validates config `c` and builds the run; writes nothing.

  Raises:
    ConfigError: any bad setting, with the valid choices or range.
  """
  check_fields(c)
  check_values(c)
  data = data_lib.load(c.dataset, c.data_dir)
  batches = data_lib.Batches(len(data.train), c.batch_size, c.seed)
  spe = batches.steps_per_epoch
  total = c.steps or c.epochs * spe
  if c.devices > 1:
    _check(jax.device_count() >= c.devices,
           f"--config.devices: {c.devices} but only {jax.device_count()} device(s) are visible.")
    _check(c.batch_size % c.devices == 0,
           f"--config.batch_size: {c.batch_size} must be divisible by config.devices={c.devices}.")
  tx = optimizers.build(c, total, spe)
  model = models.build(c.model, data.num_outputs, data.input_shape, c.hidden)
  params = model.init(jax.random.key(c.seed), data.train.x[:1])["params"]
  try:  # traced, not compiled: an optimizer that cannot update these params fails here, not at step 1
    jax.eval_shape(lambda p: tx.update(p, tx.init(p), p), params)
  except Exception as e:  # pylint: disable=broad-except
    raise ConfigError(f"--config.optimizer: {c.optimizer!r} cannot update this model's params "
                      f"({type(e).__name__}: {' '.join(str(e).split())[:300]}).") from None

  extra: dict[str, np.ndarray] = {}
  if c.distill_from:
    extra["teacher_logits"] = _teacher_logits(c, data)
  regression = data.task == "regression"

  def loss_fn(p, batch):
    out = model.apply({"params": p}, batch["x"])
    if regression:
      return jnp.mean((out[:, 0] - batch["y"]) ** 2)
    if "teacher_logits" in batch:
      return models.distillation_loss(out, batch["teacher_logits"], batch["y"], c.distill_temperature,
                                      c.distill_alpha)
    return models.cross_entropy(out, batch["y"])

  options = dict(nan_policy=c.nan_policy, flat=bool(c.flat))
  try:
    if c.devices > 1:
      mesh = Mesh(np.array(jax.devices()[:c.devices]), ("data",))
      trainer = jopt.make_train_step(loss_fn, tx, parallel="mesh", mesh=mesh, **options)
    else:
      trainer = jopt.make_train_step(loss_fn, tx, **options)
  except (TypeError, ValueError) as e:
    raise ConfigError(f"--config.{'flat' if c.flat else 'optimizer'}: jopt.make_train_step refuses this run "
                      f"({' '.join(str(e).split())}).") from None

  chunk = 512  # every split is evaluated in padded chunks of this size: one compile per run

  @jax.jit
  def eval_batch(p, x, y, valid):
    out = model.apply({"params": p}, x)
    if regression:
      return jnp.sum(valid * (out[:, 0] - y) ** 2), jnp.zeros([])
    logp = jax.nn.log_softmax(out)
    nll = -jnp.sum(valid * jnp.take_along_axis(logp, y[:, None], axis=1)[:, 0])
    return nll, jnp.sum(valid * (jnp.argmax(out, 1) == y))

  def evaluate(p, split: data_lib.Split) -> dict[str, float]:
    """Mean loss (cross-entropy or squared error) and accuracy of params `p` on `split`."""
    loss = correct = 0.0
    for i in range(0, len(split), chunk):
      x, y = split.x[i:i + chunk], split.y[i:i + chunk]
      n = len(x)
      pad = lambda a: np.concatenate([a, np.zeros((chunk - n,) + a.shape[1:], a.dtype)])
      l, k = eval_batch(p, pad(x), pad(y), (np.arange(chunk) < n).astype(np.float32))
      loss, correct = loss + float(l), correct + float(k)
    out = {"loss": loss / len(split)}
    if not regression:
      out["accuracy"] = correct / len(split)
    return out

  stopper = None
  if c.early_stopping_patience:
    try:
      stopper = jopt.early_stopping(
          c.early_stopping_patience, c.early_stopping_min_delta, mode="min", keep_best_params=True
      )
    except ValueError as e:
      raise ConfigError(f"--config.early_stopping_patience: {e}") from None
  return Setup(
      config=c, data=data, model=model, params=params, tx=tx, trainer=trainer, batches=batches,
      total_steps=total, eval_every=c.eval_every or spe, checkpoint_every=c.checkpoint_every or spe,
      evaluate=evaluate, extra_train=extra, stopper=stopper,
  )


def _config_dict(config: Any) -> dict[str, Any]:
  return json.loads(config.to_json()) if hasattr(config, "to_json") else dict(config)


def _check_workdir(workdir: str, config: dict[str, Any]) -> list[dict[str, Any]]:
  """What a run may find in its workdir: nothing of ours, or a run of the same config (it is resumed).

  Reads only. Returns the records of its metrics.jsonl.

  Raises:
    ConfigError: our outputs without a config.json, a config.json or metrics.jsonl this
      launcher cannot have written, or a run with a different config.
  """
  if not os.path.isdir(workdir):
    return []
  old = workdir_lib.read_config(workdir)
  if old is None:
    return workdir_lib.read_records(workdir)  # none: read_config refuses our outputs without config.json
  # A field added to the config since that run was written counts as its default there.
  old = {**_config_dict(default.get_config()), **old}
  diff = sorted(k for k in set(old) | set(config) if k not in _COSMETIC and old.get(k) != config.get(k))
  if diff:
    raise ConfigError(
        f"--workdir: {workdir!r} holds a run with a different config (differs in: "
        + ", ".join(f"{k}: {old.get(k)!r} -> {config.get(k)!r}" for k in diff)
        + "); rerun with the same config to resume, or use a new --workdir."
    )
  return workdir_lib.read_records(workdir)


def _learning_rate(metrics: dict[str, Any]) -> Optional[float]:
  for k, v in metrics.get("hyperparams", {}).items():
    if k.split("/")[-1] == "learning_rate":
      return float(v)
  return None


def _read_summary(workdir: str) -> Optional[dict[str, Any]]:
  """The summary.json of a finished run (None if absent or unreadable: it is rewritten at the end)."""
  try:
    with open(os.path.join(workdir, outputs.SUMMARY), encoding="utf-8") as f:
      summary = json.load(f)
  except (OSError, ValueError):
    return None
  return summary if isinstance(summary, dict) else None


def train_and_evaluate(
    config: Any,
    workdir: str,
    *,
    step_hook: Optional[Callable[[int], None]] = None,
) -> dict[str, Any]:
  """Trains and evaluates the run `config` in `workdir`, resuming from its checkpoint if any.

  Args:
    config: an `ml_collections.ConfigDict` shaped like `experiments/configs/default.py`.
    workdir: where config.json, metrics.jsonl, checkpoints/, the PNGs and summary.json
      go (`~` expanded). Rerunning with the same config resumes (a finished run keeps
      its summary, wall time included); a different config is refused.
    step_hook: called with the step number after each training step (after its
      metrics record, before its evaluation and checkpoint); tests use it to kill
      the process mid-run.

  Returns:
    The summary: final step, losses and accuracies, parameter count, sparsity and
    int8 results when asked for, wall time.

  Raises:
    ConfigError: a bad setting, data file or workdir, before anything is written; or a
      workdir in use by another launch (`<workdir>/.lock`).
    RunError: a non-finite loss or gradient under `config.nan_policy="raise"`; the last
      good checkpoint is kept.
  """
  start = time.time()
  if "example" in config:
    raise ConfigError("--config: this is a worked example's config (it has `example`): run it with "
                      "`python -m experiments.main` or experiments.variants.run.")
  workdir = workdir_lib.check_path(workdir)
  cfg = _config_dict(config)
  setup = build(config)  # the config first: a typo is reported as such, not as another run's config
  _check_workdir(workdir, cfg)  # before anything is written; again under the lock below
  lead = jax.process_index() == 0  # a multi-host run's other processes write nothing but their checkpoint shards
  lock = workdir_lib.acquire(workdir) if lead else None
  try:
    return _train(setup, cfg, workdir, lead, start, step_hook)
  finally:
    if lock is not None:
      lock.release()


def _train(setup: Setup, cfg: dict[str, Any], workdir: str, lead: bool, start: float,
           step_hook: Optional[Callable[[int], None]]) -> dict[str, Any]:
  """`train_and_evaluate` once the run is validated and its workdir locked."""
  config = setup.config
  records = _check_workdir(workdir, cfg)
  previous = _read_summary(workdir)
  trainer, total = setup.trainer, setup.total_steps
  state = trainer.init(setup.params)
  stop_state = setup.stopper.init(setup.params) if setup.stopper else None
  like = {"state": setup.tree_state(state)}
  if stop_state is not None:
    like["stopper"] = stop_state
  try:  # a corrupt checkpoint is moved to checkpoints.corrupt/ (the only write before config.json)
    first, item = checkpoints.restore_latest(workdir, like, quarantine=lead)
  except ValueError as e:
    raise ConfigError(f"--workdir: {e}; use a new --workdir.") from None
  if jax.process_count() > 1:  # every process resumes from the step process 0 kept
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    multihost_utils.sync_global_devices("experiments.train: checkpoints verified")
  if item is not None:
    state, stop_state = setup.from_tree_state(item["state"]), item.get("stopper")
    workdir_lib.check_records(workdir, records, first, workdir_lib.expected_records(
        first, total, config.log_every, setup.eval_every))
    logging.info("resumed %s from the checkpoint at step %d", workdir, first)
  if lead:
    workdir_lib.write_json(os.path.join(workdir, outputs.CONFIG), cfg, sort_keys=True)
  mgr = checkpoints.manager(workdir)
  writer = outputs.MetricsWriter(workdir, first, records) if lead else outputs.NullWriter()
  spe = setup.batches.steps_per_epoch
  saved = [first] if item is not None else []

  def evaluate(step: int, params: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {"step": step, "epoch": step / spe, **setup.evaluate_all(params)}
    writer.write(rec)
    return rec

  def save(step: int) -> None:
    item = {"state": setup.tree_state(state)}
    if stop_state is not None:
      item["stopper"] = stop_state
    checkpoints.save(mgr, step, item, write_checksum=lead)
    saved.append(step)

  stopped = stop_state is not None and bool(stop_state.should_stop)
  last_eval = None
  if first == 0:
    last_eval = evaluate(0, setup.params)
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  bar = tqdm(total=total, initial=first, disable=not config.progress, desc=os.path.basename(workdir),
             file=sys.stderr, dynamic_ncols=True)
  step = first
  try:
    while step < total and not stopped:
      state, metrics = trainer.step(state, setup.batch(step))
      step += 1
      bar.update(1)
      if step % config.log_every == 0 or step == total:
        rec = {"step": step, "epoch": step / spe, "loss": float(metrics["loss"]),
               "grad_norm": float(metrics["grad_norm"]), "update_norm": float(metrics["update_norm"])}
        lr = _learning_rate(metrics)
        if lr is not None:
          rec["learning_rate"] = lr
        writer.write(rec)
        bar.set_postfix(loss=f"{rec['loss']:.4f}")
        if not np.isfinite(rec["loss"]):
          logging.warning("non-finite loss %s at step %d", rec["loss"], step)
      if step_hook is not None:
        step_hook(step)
      if step % setup.eval_every == 0 or step == total:
        params = setup.params_of(state)
        last_eval = evaluate(step, params)
        if stop_state is not None:
          stop_state = setup.stopper.update(last_eval["val_loss"], stop_state, params)
          stopped = bool(stop_state.should_stop)
      if step % setup.checkpoint_every == 0 or step == total or stopped:
        save(step)
  except jopt.NonFiniteError as e:  # nan_policy="raise": the last good checkpoint stays as it is
    where = (f"the last good checkpoint, step {saved[-1]} in {os.path.join(workdir, checkpoints.DIRNAME)}, is "
             "kept (a rerun resumes from it)" if saved else "no checkpoint was written before it")
    raise RunError(
        f"training diverged: non-finite {e.metric} ({e.value}) at step {e.step + 1} (config.nan_policy=raise); "
        f"{where}; lower --config.learning_rate, add --config.clip_norm, check the data, or set "
        "--config.nan_policy=skip.") from None
  finally:  # also when a step raises: finish the checkpoint in flight, keep the records written
    bar.close()
    mgr.wait_until_finished()
    mgr.close()
    writer.close()

  params = setup.params_of(state)
  summary: dict[str, Any] = {"step": step, "epochs": round(step / spe, 3)}
  if stop_state is not None:
    best = int(stop_state.best_step)
    summary.update(stopped_early=bool(stop_state.should_stop), best_step=(best + 1) * setup.eval_every)
    if best >= 0:
      params = jax.tree.map(np.asarray, stop_state.best_params)  # restore the best params
      summary["best_epoch"] = round(summary["best_step"] / spe, 2)
    last_eval = None
  if last_eval is None or last_eval["step"] != step:
    last_eval = setup.evaluate_all(params)
  summary.update({k: v for k, v in last_eval.items() if k not in ("step", "epoch")})
  summary["params"] = models.count_params(params)
  counted = setup.tree_state(state).nonfinite_steps
  nonfinite = int(np.max(jax.device_get(counted))) if counted is not None else 0
  if nonfinite:
    summary["nonfinite_steps"] = nonfinite
  if config.prune_sparsity or config.quantize_int8:
    summary["sparsity"] = pruning.sparsity_of(params)
  if config.quantize_int8:
    q_params, sizes = pruning.quantize_int8(params)
    summary.update({f"int8_test_{k}": v for k, v in setup.evaluate(q_params, setup.data.test).items()})
    summary.update({f"{k}_kib": v / 1024 for k, v in sizes.items()})
  # A rerun of a finished run keeps the wall time of the run that did the training.
  summary["wall_s"] = previous["wall_s"] if previous and "wall_s" in previous else round(time.time() - start, 2)
  if lead:
    outputs.plot_run(workdir, outputs.read_metrics(workdir))
    workdir_lib.write_json(os.path.join(workdir, outputs.SUMMARY), summary)
  logging.info("finished %s: %s", workdir, json.dumps(summary))
  if config.progress and lead:
    print(outputs.table([{"metric": k, "value": v} for k, v in summary.items()]))
  return summary


def final_params(workdir: str, like: Any) -> Any:
  """The params of a finished run (its latest checkpoint), shaped like `like`."""
  params = checkpoints.restore_params(os.path.expanduser(workdir), like)
  if params is None:
    raise ConfigError(f"--workdir: {workdir!r} has no intact checkpoint.")
  return params


if __name__ == "__main__":
  from absl import flags  # pylint: disable=g-import-not-at-top
  from experiments import main as main_lib  # pylint: disable=g-import-not-at-top
  flags.adopt_module_key_flags(main_lib)
  main_lib.run()
