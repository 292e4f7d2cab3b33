"""The one training loop every experiment uses: `train_and_evaluate(config, workdir)`.

It validates the config (nothing is written on a bad one), writes config.json,
resumes from the latest orbax checkpoint in `<workdir>/checkpoints` if there is
one, trains with `jopt.make_train_step`, logs metrics.jsonl and TensorBoard
events, evaluates on the validation and test splits, checkpoints, optionally
stops early, and ends with PNG plots and a summary table.
"""

import json
import os
import signal
import sys
import time
from typing import Any, Optional

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from experiments import build as build_lib
from experiments import models
from experiments import outputs
from experiments import pruning
from experiments.registry import ConfigError

# Fault injection for the kill-and-resume test: SIGKILL this process right after this step.
KILL_ENV = "JOPT_EXPERIMENTS_SIGKILL_AT_STEP"
CHECKPOINTS = "checkpoints"


class _QuietLibraries:
  """An absl log filter: INFO lines from orbax (dozens per checkpoint) are dropped; warnings pass."""

  def filter(self, record) -> bool:
    return record.levelno >= 30 or "/orbax/" not in record.pathname.replace("\\", "/")


logging.get_absl_handler().addFilter(_QuietLibraries())


def _host(tree: Any) -> Any:
  return jax.tree.map(np.asarray, jax.device_get(tree))


def _zeros_like(tree: Any) -> Any:
  """A host target of the same shapes and dtypes for orbax's restore."""
  return jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), jax.eval_shape(lambda t: t, tree))


def _manager(workdir: str, create: bool) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(
      os.path.abspath(os.path.join(workdir, CHECKPOINTS)),
      options=ocp.CheckpointManagerOptions(max_to_keep=2, create=create),
  )


def restore_params(workdir: str, params_like: Any) -> Optional[Any]:
  """The params of the latest checkpoint in `workdir` (host arrays), or None if there is none."""
  if not os.path.isdir(os.path.join(workdir, CHECKPOINTS)):
    return None
  mgr = _manager(workdir, create=False)
  step = mgr.latest_step()
  if step is None:
    return None
  item = mgr.restore(step, args=ocp.args.StandardRestore())
  mgr.close()
  params = item["state"]["params"] if isinstance(item["state"], dict) else item["state"].params
  return jax.tree.unflatten(jax.tree.structure(params_like), jax.tree.leaves(params))


def _config_dict(config: Any) -> dict[str, Any]:
  return json.loads(config.to_json()) if hasattr(config, "to_json") else dict(config)


def _check_workdir(workdir: str, config: dict[str, Any]) -> None:
  """An existing workdir must hold the same config (it is resumed); else refuse before writing anything."""
  path = os.path.join(workdir, outputs.CONFIG)
  if not os.path.exists(path):
    return
  with open(path) as f:
    old = json.load(f)
  ignore = {"progress"}  # does not change the numbers
  diff = sorted(k for k in set(old) | set(config) if k not in ignore and old.get(k) != config.get(k))
  if diff:
    raise ConfigError(
        f"--workdir={workdir!r} holds a run with a different config (differs in: "
        + ", ".join(f"{k}: {old.get(k)!r} -> {config.get(k)!r}" for k in diff)
        + "); rerun with the same flags to resume, or use a new --workdir."
    )


def _learning_rate(metrics: dict[str, Any]) -> Optional[float]:
  for k, v in metrics.get("hyperparams", {}).items():
    if k.split("/")[-1] == "learning_rate":
      return float(v)
  return None


def train_and_evaluate(config: Any, workdir: str) -> dict[str, Any]:
  """Trains and evaluates the run `config` in `workdir`, resuming from its checkpoint if any.

  Args:
    config: an `ml_collections.ConfigDict` shaped like `experiments/configs/default.py`.
    workdir: where config.json, metrics.jsonl, tensorboard/, checkpoints/, PNGs and
      summary.json go. Rerunning with the same config resumes; a different config
      is refused.

  Returns:
    The summary: final step, losses and accuracies, sparsity, parameter count, wall time.

  Raises:
    ConfigError: a bad setting, before anything is written.
  """
  start = time.time()
  cfg = _config_dict(config)
  setup = build_lib.build(config)
  _check_workdir(workdir, cfg)
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, outputs.CONFIG), "w") as f:
    json.dump(cfg, f, indent=2, sort_keys=True)

  trainer, total = setup.trainer, setup.total_steps
  state = trainer.init(setup.params)
  stop_state = setup.stopper.init(setup.params) if setup.stopper else None
  mgr = _manager(workdir, create=True)
  first = 0
  if mgr.latest_step() is not None:
    first = int(mgr.latest_step())
    target = {"state": _zeros_like(trainer.unreplicate(state))}
    if stop_state is not None:
      target["stopper"] = _zeros_like(stop_state)
    item = mgr.restore(first, args=ocp.args.StandardRestore(target))
    state, stop_state = item["state"], item.get("stopper")
    logging.info("resumed %s from the checkpoint at step %d", workdir, first)
  writer = outputs.MetricsWriter(workdir, first)
  spe = setup.batches.steps_per_epoch
  kill_at = int(os.environ.get(KILL_ENV, "-1"))

  def evaluate(step: int, params: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {"step": step, "epoch": step / spe}
    for name, split in (("train", setup.data.train), ("val", setup.data.val), ("test", setup.data.test)):
      for k, v in setup.evaluate(params, split).items():
        rec[f"{name}_{k}"] = v
    writer.write(rec, prefix="eval/")
    return rec

  def save(step: int) -> None:
    item = {"state": _host(trainer.unreplicate(state))}
    if stop_state is not None:
      item["stopper"] = _host(stop_state)
    mgr.save(step, args=ocp.args.StandardSave(item), force=True)

  stopped = stop_state is not None and bool(stop_state.should_stop)
  last_eval = None
  if first == 0:
    last_eval = evaluate(0, setup.params)
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  bar = tqdm(total=total, initial=first, disable=not config.progress, desc=os.path.basename(workdir),
             file=sys.stderr, dynamic_ncols=True)
  step = first
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
      writer.write(rec, prefix="train/")
      bar.set_postfix(loss=f"{rec['loss']:.4f}")
      if not np.isfinite(rec["loss"]):
        logging.warning("non-finite loss %s at step %d", rec["loss"], step)
    if step == kill_at:
      os.kill(os.getpid(), signal.SIGKILL)
    if step % setup.eval_every == 0 or step == total:
      params = trainer.unreplicate(state).params
      last_eval = evaluate(step, params)
      if stop_state is not None:
        stop_state = setup.stopper.update(last_eval["val_loss"], stop_state, params)
        stopped = bool(stop_state.should_stop)
    if step % setup.checkpoint_every == 0 or step == total or stopped:
      save(step)
  bar.close()
  mgr.wait_until_finished()
  mgr.close()

  params = trainer.unreplicate(state).params
  summary: dict[str, Any] = {"step": step, "epochs": round(step / spe, 3)}
  if stop_state is not None:
    best = int(stop_state.best_step)
    summary.update(stopped_early=bool(stop_state.should_stop), best_step=(best + 1) * setup.eval_every)
    if best >= 0:
      params = jax.tree.map(np.asarray, stop_state.best_params)  # restore the best params
    last_eval = None
  if last_eval is None or last_eval["step"] != step:
    last_eval = {f"{n}_{k}": v for n, s in (("train", setup.data.train), ("val", setup.data.val),
                                            ("test", setup.data.test))
                 for k, v in setup.evaluate(params, s).items()}
  summary.update({k: v for k, v in last_eval.items() if k not in ("step", "epoch")})
  summary["params"] = models.count_params(params)
  if config.prune_sparsity:
    summary["sparsity"] = pruning.sparsity_of(params)
  summary["wall_s"] = round(time.time() - start, 2)
  writer.close()
  records = outputs.read_metrics(workdir)
  outputs.plot_run(workdir, records)
  with open(os.path.join(workdir, outputs.SUMMARY), "w") as f:
    json.dump(summary, f, indent=2)
  text = outputs.table([{"metric": k, "value": v} for k, v in summary.items()])
  logging.info("finished %s: %s", workdir, json.dumps(summary))
  if config.progress:
    print(text)
  return summary


def final_params(workdir: str, like: Any) -> Any:
  """The params of a finished run (its latest checkpoint), shaped like `like`."""
  params = restore_params(workdir, like)
  if params is None:
    raise ConfigError(f"{workdir!r} has no checkpoint.")
  return params

