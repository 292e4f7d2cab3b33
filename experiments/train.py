"""The one training loop every experiment uses: `train_and_evaluate(config, workdir)`.

It validates the config (nothing is written on a bad one), writes config.json,
resumes from the latest orbax checkpoint in `<workdir>/checkpoints` if there is
one, trains with `jopt.make_train_step`, logs metrics.jsonl, evaluates on the
validation and test splits, checkpoints, optionally stops early, and ends with
PNG plots and a summary table.

`python -m experiments.train` is the same command as `python -m experiments.main`
(see its `--help`).
"""

import dataclasses
import json
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
from experiments.configs import default
from experiments.errors import ConfigError

# config.json fields that do not change the numbers: a rerun may differ in them.
_COSMETIC = ("progress",)


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

  def evaluate_all(self, params: Any) -> dict[str, float]:
    """`train_/val_/test_` loss (and accuracy) of `params`."""
    splits = (("train", self.data.train), ("val", self.data.val), ("test", self.data.test))
    return {f"{name}_{k}": v for name, split in splits for k, v in self.evaluate(params, split).items()}


def _check(cond: bool, msg: str) -> None:
  if not cond:
    raise ConfigError(msg)


def check_fields(config: Any) -> None:
  """Refuses fields that the default config does not have (a typo in `--config.epoch=5` would be ignored)."""
  known = set(default.get_config())
  unknown = sorted(set(config) - known)
  if unknown:
    import difflib  # pylint: disable=g-import-not-at-top
    hints = [f"{k} (did you mean {', '.join(difflib.get_close_matches(k, known, 3))}?)"
             if difflib.get_close_matches(k, known, 3) else k for k in unknown]
    raise ConfigError(f"unknown config field(s): {', '.join(hints)}; the fields are documented in "
                      "experiments/configs/default.py.")


def _teacher_logits(c, data: data_lib.Dataset) -> np.ndarray:
  """The finished run in `c.distill_from`: its model (from config.json) on this dataset's training split."""
  teacher_dir = os.path.expanduser(c.distill_from)
  path = os.path.join(teacher_dir, outputs.CONFIG)
  _check(os.path.exists(path), f"config.distill_from={c.distill_from!r}: no config.json there (run the teacher first).")
  with open(path) as f:
    tc = json.load(f)
  _check(tc["dataset"] == c.dataset,
         f"config.distill_from: the teacher was trained on {tc['dataset']!r}, not {c.dataset!r}.")
  _check(data.task == "classification", "config.distill_from needs a classification dataset.")
  teacher = models.build(tc["model"], data.num_outputs, data.input_shape, tc["hidden"])
  params = teacher.init(jax.random.key(0), data.train.x[:1])["params"]
  restored = checkpoints.restore_params(teacher_dir, params)
  _check(restored is not None, f"config.distill_from={c.distill_from!r}: no checkpoint there.")
  apply = jax.jit(lambda p, x: teacher.apply({"params": p}, x))
  return np.concatenate([np.asarray(apply(restored, data.train.x[i:i + 2048]))
                         for i in range(0, len(data.train), 2048)])


def build(c) -> Setup:
  """Validates config `c` and builds the run; writes nothing.

  Raises:
    ConfigError: any bad setting, with the valid choices or range.
  """
  check_fields(c)
  _check(c.epochs > 0 or c.steps > 0, f"config.epochs or config.steps must be > 0, got {c.epochs} and {c.steps}.")
  _check(c.steps >= 0, f"config.steps must be >= 0, got {c.steps}.")
  _check(c.devices >= 1, f"config.devices must be >= 1, got {c.devices}.")
  _check(c.log_every >= 1, f"config.log_every must be >= 1, got {c.log_every}.")
  _check(c.eval_every >= 0 and c.checkpoint_every >= 0, "config.eval_every and config.checkpoint_every must be >= 0.")
  _check(c.lr_scaling in ("linear", "sqrt"), f"config.lr_scaling must be linear or sqrt, got {c.lr_scaling!r}.")
  data = data_lib.load(c.dataset, c.data_dir)
  batches = data_lib.Batches(len(data.train), c.batch_size, c.seed)
  spe = batches.steps_per_epoch
  total = c.steps or c.epochs * spe
  if c.devices > 1:
    _check(jax.device_count() >= c.devices,
           f"config.devices={c.devices} but only {jax.device_count()} device(s) are visible.")
    _check(c.batch_size % c.devices == 0,
           f"config.batch_size={c.batch_size} must be divisible by config.devices={c.devices}.")
  model = models.build(c.model, data.num_outputs, data.input_shape, c.hidden)
  params = model.init(jax.random.key(c.seed), data.train.x[:1])["params"]
  tx = optimizers.build(c, total, spe)

  extra: dict[str, np.ndarray] = {}
  if c.distill_from:
    _check(c.distill_temperature > 0, f"config.distill_temperature must be > 0, got {c.distill_temperature}.")
    _check(0 <= c.distill_alpha <= 1, f"config.distill_alpha must be in [0, 1], got {c.distill_alpha}.")
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

  if c.devices > 1:
    mesh = Mesh(np.array(jax.devices()[:c.devices]), ("data",))
    trainer = jopt.make_train_step(loss_fn, tx, parallel="mesh", mesh=mesh)
  else:
    trainer = jopt.make_train_step(loss_fn, tx)

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
      raise ConfigError(str(e)) from None
  return Setup(
      config=c, data=data, model=model, params=params, tx=tx, trainer=trainer, batches=batches,
      total_steps=total, eval_every=c.eval_every or spe, checkpoint_every=c.checkpoint_every or spe,
      evaluate=evaluate, extra_train=extra, stopper=stopper,
  )


def _config_dict(config: Any) -> dict[str, Any]:
  return json.loads(config.to_json()) if hasattr(config, "to_json") else dict(config)


def _check_workdir(workdir: str, config: dict[str, Any]) -> None:
  """An existing workdir must hold the same config (it is resumed); else refuse before writing anything."""
  path = os.path.join(workdir, outputs.CONFIG)
  if not os.path.exists(path):
    return
  with open(path) as f:
    old = json.load(f)
  # A field added to the config since that run was written counts as its default there.
  old = {**_config_dict(default.get_config()), **old}
  diff = sorted(k for k in set(old) | set(config) if k not in _COSMETIC and old.get(k) != config.get(k))
  if diff:
    raise ConfigError(
        f"workdir {workdir!r} holds a run with a different config (differs in: "
        + ", ".join(f"{k}: {old.get(k)!r} -> {config.get(k)!r}" for k in diff)
        + "); rerun with the same config to resume, or use a new --workdir."
    )


def _learning_rate(metrics: dict[str, Any]) -> Optional[float]:
  for k, v in metrics.get("hyperparams", {}).items():
    if k.split("/")[-1] == "learning_rate":
      return float(v)
  return None


def _read_summary(workdir: str) -> Optional[dict[str, Any]]:
  path = os.path.join(workdir, outputs.SUMMARY)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


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
    ConfigError: a bad setting, before anything is written.
  """
  start = time.time()
  workdir = os.path.expanduser(workdir)
  if "example" in config:
    raise ConfigError("this is a worked example's config (it has `example`): run it with "
                      "`python -m experiments.main` or experiments.variants.run.")
  cfg = _config_dict(config)
  setup = build(config)
  _check_workdir(workdir, cfg)
  previous = _read_summary(workdir)
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, outputs.CONFIG), "w") as f:
    json.dump(cfg, f, indent=2, sort_keys=True)

  trainer, total = setup.trainer, setup.total_steps
  state = trainer.init(setup.params)
  stop_state = setup.stopper.init(setup.params) if setup.stopper else None
  mgr = checkpoints.manager(workdir)
  first = 0
  if mgr.latest_step() is not None:
    first = int(mgr.latest_step())
    like = {"state": trainer.unreplicate(state)}
    if stop_state is not None:
      like["stopper"] = stop_state
    item = checkpoints.restore(mgr, first, like)
    state, stop_state = item["state"], item.get("stopper")
    logging.info("resumed %s from the checkpoint at step %d", workdir, first)
  writer = outputs.MetricsWriter(workdir, first)
  spe = setup.batches.steps_per_epoch

  def evaluate(step: int, params: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {"step": step, "epoch": step / spe, **setup.evaluate_all(params)}
    writer.write(rec)
    return rec

  def save(step: int) -> None:
    item = {"state": trainer.unreplicate(state)}
    if stop_state is not None:
      item["stopper"] = stop_state
    checkpoints.save(mgr, step, item)

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
        params = trainer.unreplicate(state).params
        last_eval = evaluate(step, params)
        if stop_state is not None:
          stop_state = setup.stopper.update(last_eval["val_loss"], stop_state, params)
          stopped = bool(stop_state.should_stop)
      if step % setup.checkpoint_every == 0 or step == total or stopped:
        save(step)
  finally:  # also when a step raises: finish the checkpoint in flight, keep the records written
    bar.close()
    mgr.wait_until_finished()
    mgr.close()
    writer.close()

  params = trainer.unreplicate(state).params
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
  if config.prune_sparsity or config.quantize_int8:
    summary["sparsity"] = pruning.sparsity_of(params)
  if config.quantize_int8:
    q_params, sizes = pruning.quantize_int8(params)
    summary.update({f"int8_test_{k}": v for k, v in setup.evaluate(q_params, setup.data.test).items()})
    summary.update({f"{k}_kib": v / 1024 for k, v in sizes.items()})
  # A rerun of a finished run keeps the wall time of the run that did the training.
  summary["wall_s"] = previous["wall_s"] if previous and "wall_s" in previous else round(time.time() - start, 2)
  outputs.plot_run(workdir, outputs.read_metrics(workdir))
  with open(os.path.join(workdir, outputs.SUMMARY), "w") as f:
    json.dump(summary, f, indent=2)
  logging.info("finished %s: %s", workdir, json.dumps(summary))
  if config.progress:
    print(outputs.table([{"metric": k, "value": v} for k, v in summary.items()]))
  return summary


def final_params(workdir: str, like: Any) -> Any:
  """The params of a finished run (its latest checkpoint), shaped like `like`."""
  params = checkpoints.restore_params(os.path.expanduser(workdir), like)
  if params is None:
    raise ConfigError(f"{workdir!r} has no checkpoint.")
  return params


if __name__ == "__main__":
  from absl import flags  # pylint: disable=g-import-not-at-top
  from experiments import main as main_lib  # pylint: disable=g-import-not-at-top
  flags.adopt_module_key_flags(main_lib)
  main_lib.run()
