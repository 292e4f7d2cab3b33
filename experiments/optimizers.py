"""The run's optimizer: jopt optimizers and schedules looked up by name, then clip -> L1 -> L2 -> optimizer -> pruning.

A name is an attribute of jopt's public namespace: `"adamw"` is `jopt.adamw`,
`"contrib.muon"` is `jopt.contrib.muon` (a public submodule, imported when jopt has
it). The optimizer is called as `jopt.<name>(learning_rate=..., **optimizer_kwargs)`
and the schedule as `jopt.<name>(**schedule_kwargs)`; whatever they reject (an
unknown argument, a value out of range) is reported with their own message.
"""

import difflib
import importlib
import types
from typing import Any, Callable, Mapping

import jopt
from experiments import pruning
from experiments.errors import ConfigError

# Public submodules a name may start with (`contrib.muon`), when this jopt has them.
SUBMODULES = ("contrib", "keras", "transformers", "torch")
# Strings that stand for run quantities in `schedule_kwargs`.
PLACEHOLDERS = ("learning_rate", "total_steps", "steps_per_epoch")


def _public(module: types.ModuleType) -> list[str]:
  names = getattr(module, "__all__", None) or dir(module)
  return [n for n in names if not n.startswith("_")]


def _submodule(name: str) -> types.ModuleType | None:
  try:
    return importlib.import_module(f"jopt.{name}")
  except ImportError:
    return None


def public_names() -> list[str]:
  """Every name the lookup accepts: `jopt.__all__` and `<submodule>.<name>` for the submodules jopt has."""
  names = list(_public(jopt))
  for sub in SUBMODULES:
    module = _submodule(sub)
    if module is not None:
      names += [f"{sub}.{n}" for n in _public(module)]
  return names


def lookup(kind: str, name: str) -> Callable[..., Any]:
  """`jopt.<name>` (or `jopt.<submodule>.<name>`), a public callable.

  Args:
    kind: "optimizer" or "schedule" (for the error message).
    name: e.g. "adamw", "cosine_decay_schedule", "contrib.muon".

  Returns:
    The function.

  Raises:
    ConfigError: not a public jopt name, with the closest names jopt has.
  """
  parts = str(name).split(".")
  module: types.ModuleType | None = jopt
  if len(parts) == 2 and parts[0] in SUBMODULES:
    module = _submodule(parts[0])
  elif len(parts) != 1:
    module = None
  fn = None
  if module is not None and not parts[-1].startswith("_") and parts[-1] in _public(module):
    fn = getattr(module, parts[-1], None)
  if not callable(fn):
    close = difflib.get_close_matches(str(name), public_names(), n=6, cutoff=0.6)
    raise ConfigError(
        f"unknown {kind} {name!r}: not a public name of jopt (jopt.NAME, or SUBMODULE.NAME for "
        f"{', '.join(SUBMODULES)})" + (f"; close matches: {', '.join(close)}." if close else ".")
    )
  return fn


def build_schedule(name: str, kwargs: Mapping[str, Any], run: Mapping[str, Any]) -> Callable[[Any], Any]:
  """`jopt.<name>(**kwargs)`, the placeholder strings in `kwargs` replaced by the run's values.

  Args:
    name: a jopt schedule name, e.g. "warmup_cosine_decay_schedule".
    kwargs: its arguments; a value "learning_rate", "total_steps" or "steps_per_epoch" is
      replaced by `run[value]`.
    run: the values of the placeholders.

  Returns:
    The schedule (a function of the step count).

  Raises:
    ConfigError: unknown name, or arguments the schedule rejects.
  """
  fn = lookup("schedule", name)
  args = {k: run[v] if isinstance(v, str) and v in PLACEHOLDERS else v for k, v in kwargs.items()}
  try:
    schedule = fn(**args)
  except (TypeError, ValueError) as e:
    raise ConfigError(f"schedule {name!r} with {args}: {e}") from None
  if not callable(schedule):
    raise ConfigError(f"schedule {name!r}: jopt.{name}(...) returned {type(schedule).__name__}, not a schedule.")
  return schedule


def build_optimizer(name: str, learning_rate: Any, kwargs: Mapping[str, Any]) -> jopt.GradientTransformation:
  """`jopt.<name>(learning_rate, **kwargs)` with the learning rate injected (`jopt.inject_hyperparams`) to be logged.

  Args:
    name: a jopt optimizer name, e.g. "adamw" or "contrib.muon".
    learning_rate: a float or a schedule.
    kwargs: the optimizer's other arguments by name.

  Returns:
    The optimizer; `jopt.hyperparams(opt_state)` reads its learning rate each step.

  Raises:
    ConfigError: unknown name, arguments the optimizer rejects, or a result that is not a
      GradientTransformation.
  """
  fn = lookup("optimizer", name)
  kwargs = dict(kwargs)
  try:  # built once plainly so that a bad argument fails here, not at the first step
    plain = fn(learning_rate=learning_rate, **kwargs)
  except (TypeError, ValueError) as e:
    hint = ""
    if "weight_decay" in kwargs and "weight_decay" in str(e):
      hint = " (config.weight_decay is the optimizer's decoupled weight decay; config.l2 is coupled L2)"
    raise ConfigError(f"optimizer {name!r}: {e}{hint}") from None
  if not isinstance(plain, jopt.GradientTransformation):
    raise ConfigError(f"optimizer {name!r}: jopt.{name}(learning_rate=...) returned "
                      f"{type(plain).__name__}, not a GradientTransformation.")

  def with_learning_rate(learning_rate):  # only the rate is injected: other arguments stay static (ints...)
    return fn(learning_rate=learning_rate, **kwargs)

  with_learning_rate.__name__ = with_learning_rate.__qualname__ = name
  return jopt.inject_hyperparams(with_learning_rate)(learning_rate=learning_rate)


def build(config: Any, total_steps: int, steps_per_epoch: int) -> jopt.GradientTransformation:
  """The run's transform: clip -> L1 -> L2 -> the optimizer (scheduled, hyperparameters logged) -> pruning.

  Args:
    config: the run's config (see `experiments/configs/default.py`).
    total_steps: the run's length in steps.
    steps_per_epoch: training steps per epoch.

  Returns:
    A GradientTransformation.

  Raises:
    ConfigError: any bad optimizer, schedule, regularization or pruning setting.
  """
  c = config
  if not c.learning_rate > 0:
    raise ConfigError(f"config.learning_rate must be > 0, got {c.learning_rate}.")
  lr: Any = c.learning_rate
  if c.schedule:
    run = {"learning_rate": c.learning_rate, "total_steps": total_steps, "steps_per_epoch": steps_per_epoch}
    lr = build_schedule(c.schedule, dict(c.schedule_kwargs), run)
  elif len(c.schedule_kwargs):
    raise ConfigError(f"config.schedule_kwargs {dict(c.schedule_kwargs)} given without config.schedule.")
  if c.base_batch_size:
    if c.base_batch_size < 0:
      raise ConfigError(f"config.base_batch_size must be >= 0, got {c.base_batch_size}.")
    try:
      lr = jopt.scale_learning_rate(lr, c.base_batch_size, c.batch_size, rule=c.lr_scaling)
    except ValueError as e:
      raise ConfigError(str(e)) from None
  kwargs = dict(c.optimizer_kwargs)
  if c.weight_decay >= 0:
    kwargs["weight_decay"] = c.weight_decay
  if c.clip_norm < 0:
    raise ConfigError(f"config.clip_norm must be >= 0, got {c.clip_norm}.")
  parts = []
  try:
    if c.clip_norm:
      parts.append(jopt.clip_by_global_norm(c.clip_norm))
    if c.l1:
      parts.append(jopt.add_l1_decay(c.l1))
    if c.l2:
      parts.append(jopt.add_decayed_weights(c.l2))
  except ValueError as e:
    raise ConfigError(str(e)) from None
  parts.append(build_optimizer(c.optimizer, lr, kwargs))
  if c.prune_sparsity:
    end = c.prune_end or max(1, (3 * total_steps) // 4)
    try:
      sparsity = pruning.polynomial_sparsity(c.prune_sparsity, c.prune_begin, end)
      parts.append(pruning.magnitude_pruning(sparsity, update_every=c.prune_every))
    except ValueError as e:
      raise ConfigError(f"config.prune_*: {e}") from None
  return parts[0] if len(parts) == 1 else jopt.chain(*parts)
