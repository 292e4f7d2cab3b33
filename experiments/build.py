"""Everything a run needs, built and validated from its config before anything is written."""

import dataclasses
import json
import os
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

import jopt
from experiments import data as data_lib
from experiments import models
from experiments import pruning
from experiments import registry
from experiments.registry import ConfigError


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


def _check(cond: bool, msg: str) -> None:
  if not cond:
    raise ConfigError(msg)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Mean softmax cross-entropy with integer labels."""
  logp = jax.nn.log_softmax(logits)
  return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))


def distillation_loss(student: jax.Array, teacher: jax.Array, labels: jax.Array, t: float, alpha: float):
  """`alpha · T² · KL(softmax(teacher/T) ‖ softmax(student/T)) + (1 - alpha) · CE(student, labels)`.

  Hinton, Vinyals & Dean 2015 (https://arxiv.org/abs/1503.02531): the T² factor
  keeps the soft term's gradient scale independent of the temperature.
  """
  p_t = jax.nn.softmax(teacher / t)
  kl = jnp.sum(p_t * (jax.nn.log_softmax(teacher / t) - jax.nn.log_softmax(student / t)), axis=1)
  return alpha * t * t * jnp.mean(kl) + (1.0 - alpha) * cross_entropy(student, labels)


def _tx(c, total_steps: int) -> jopt.GradientTransformation:
  """clip -> L1 -> L2 -> the optimizer (learning rate scheduled and logged) -> pruning."""
  lr: Any = c.learning_rate
  _check(c.learning_rate > 0, f"--learning_rate must be > 0, got {c.learning_rate}.")
  if c.schedule:
    lr = registry.build_schedule(c.schedule, dict(c.schedule_kwargs), c.learning_rate, total_steps)
  if c.base_batch_size:
    _check(c.base_batch_size > 0, f"--base_batch_size must be >= 0, got {c.base_batch_size}.")
    try:
      lr = jopt.scale_learning_rate(lr, c.base_batch_size, c.batch_size, rule=c.lr_scaling)
    except ValueError as e:
      raise ConfigError(str(e)) from None
  opt_kwargs = dict(c.optimizer_kwargs)
  if c.weight_decay >= 0:
    _check(
        registry.takes(c.optimizer, "weight_decay"),
        f"--weight_decay (decoupled) needs an optimizer that takes it "
        f"({', '.join(n for n in sorted(registry.OPTIMIZERS) if registry.takes(n, 'weight_decay'))}); "
        f"{c.optimizer!r} does not: use --l2 for coupled L2 (PyTorch's weight_decay).",
    )
    opt_kwargs["weight_decay"] = c.weight_decay
  parts = []
  if c.clip_norm:
    _check(c.clip_norm > 0, f"--clip_norm must be >= 0, got {c.clip_norm}.")
    _check(hasattr(jopt, "clip_by_global_norm"), "--clip_norm needs jopt.clip_by_global_norm (not in this jopt).")
    parts.append(jopt.clip_by_global_norm(c.clip_norm))
  try:
    if c.l1:
      parts.append(jopt.add_l1_decay(c.l1))
    if c.l2:
      parts.append(jopt.add_decayed_weights(c.l2))
  except ValueError as e:
    raise ConfigError(str(e)) from None
  parts.append(registry.build_optimizer(c.optimizer, lr, opt_kwargs))
  if c.prune_sparsity:
    end = c.prune_end or max(1, (3 * total_steps) // 4)
    try:
      sparsity = pruning.polynomial_sparsity(c.prune_sparsity, c.prune_begin, end)
      parts.append(pruning.magnitude_pruning(sparsity, update_every=c.prune_every))
    except ValueError as e:
      raise ConfigError(f"--prune_*: {e}") from None
  return parts[0] if len(parts) == 1 else jopt.chain(*parts)


def _teacher_logits(c, data: data_lib.Dataset) -> np.ndarray:
  """The finished run in `c.distill_from`: its model (from config.json) applied to this dataset's training split."""
  from experiments import loop  # pylint: disable=g-import-not-at-top
  path = os.path.join(c.distill_from, "config.json")
  _check(os.path.exists(path), f"--distill_from={c.distill_from!r}: no config.json there (run the teacher first).")
  with open(path) as f:
    tc = json.load(f)
  _check(tc["dataset"] == c.dataset, f"--distill_from: the teacher was trained on {tc['dataset']!r}, not {c.dataset!r}.")
  _check(data.task == "classification", "--distill_from needs a classification dataset.")
  teacher = models.build(tc["model"], data.num_outputs, data.input_shape, tc["hidden"])
  params = teacher.init(jax.random.key(0), data.train.x[:1])["params"]
  restored = loop.restore_params(c.distill_from, params)
  _check(restored is not None, f"--distill_from={c.distill_from!r}: no checkpoint there.")
  apply = jax.jit(lambda p, x: teacher.apply({"params": p}, x))
  return np.concatenate([np.asarray(apply(restored, data.train.x[i:i + 2048]))
                         for i in range(0, len(data.train), 2048)])


def build(c) -> Setup:
  """Validates config `c` and builds the run; writes nothing.

  Raises:
    ConfigError: any bad setting, with the valid choices or range.
  """
  _check(c.epochs > 0 or c.steps > 0, f"--epochs or --steps must be > 0, got {c.epochs} and {c.steps}.")
  _check(c.steps >= 0, f"--steps must be >= 0, got {c.steps}.")
  _check(c.devices >= 1, f"--devices must be >= 1, got {c.devices}.")
  _check(c.log_every >= 1, f"--log_every must be >= 1, got {c.log_every}.")
  _check(c.eval_every >= 0 and c.checkpoint_every >= 0, "--eval_every and --checkpoint_every must be >= 0.")
  _check(c.lr_scaling in ("linear", "sqrt"), f"--lr_scaling must be linear or sqrt, got {c.lr_scaling!r}.")
  data = data_lib.load(c.dataset, c.data_dir)
  batches = data_lib.Batches(len(data.train), c.batch_size, c.seed)
  spe = batches.steps_per_epoch
  total = c.steps or c.epochs * spe
  if c.devices > 1:
    _check(jax.device_count() >= c.devices,
           f"--devices={c.devices} but only {jax.device_count()} device(s) are visible.")
    _check(c.batch_size % c.devices == 0,
           f"--batch_size={c.batch_size} must be divisible by --devices={c.devices}.")
  model = models.build(c.model, data.num_outputs, data.input_shape, c.hidden)
  params = model.init(jax.random.key(c.seed), data.train.x[:1])["params"]
  tx = _tx(c, total)

  extra: dict[str, np.ndarray] = {}
  if c.distill_from:
    _check(c.distill_temperature > 0, f"--distill_temperature must be > 0, got {c.distill_temperature}.")
    _check(0 <= c.distill_alpha <= 1, f"--distill_alpha must be in [0, 1], got {c.distill_alpha}.")
    extra["teacher_logits"] = _teacher_logits(c, data)
  regression = data.task == "regression"

  def loss_fn(p, batch):
    out = model.apply({"params": p}, batch["x"])
    if regression:
      return jnp.mean((out[:, 0] - batch["y"]) ** 2)
    if "teacher_logits" in batch:
      return distillation_loss(out, batch["teacher_logits"], batch["y"], c.distill_temperature, c.distill_alpha)
    return cross_entropy(out, batch["y"])

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
