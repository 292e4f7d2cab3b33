"""The run's optimizer: jopt optimizers and schedules looked up by name, then clip -> L1 -> L2 -> optimizer -> pruning.

A name is an attribute of jopt's public namespace: `"adamw"` is `jopt.adamw`,
`"contrib.muon"` is `jopt.contrib.muon` (a public submodule, imported when jopt has
it). The optimizer is called as `jopt.<name>(learning_rate=..., **optimizer_kwargs)`
and the schedule as `jopt.<name>(**schedule_kwargs)`; whatever they reject (an
unknown argument, a wrong type, a value out of range) is reported under the name of
the flag that set it: `--config.optimizer_kwargs.b1: adam's `b1` must be ...`.
"""

import difflib
import importlib
import math
import re
import types
from typing import Any, Callable, Mapping, Optional

import jopt
from experiments import pruning
from experiments.errors import ConfigError
from experiments.errors import one_line

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


# jopt's argument errors read "<function>: `<argument>` <what is wrong and what is accepted>".
_ARG_ERROR = re.compile(r"^(?P<fn>[\w.]+): `(?P<arg>\w+)` (?P<rest>.*)$", re.S)
# Python's own call errors: an unknown or a missing keyword.
_CALL_ERROR = re.compile(r"unexpected keyword argument '(?P<unknown>\w+)'|required \w+ arguments?: '(?P<missing>\w+)'")


def rephrase(e: Exception, flags: Mapping[str, str], default_flag: str, what: str,
             strings: Optional[list[str]] = None) -> ConfigError:
  """`e`, raised by a jopt factory, as a `ConfigError` under the flag that set the argument it names.

  Args:
    e: the factory's exception.
    flags: argument name -> the flag that set it (`"b1"` -> `"--config.optimizer_kwargs.b1"`).
    default_flag: the flag for an error that names no argument, or one set by no flag.
    what: the call, for errors that are not jopt's (`"jopt.adam(...)"`).
    strings: the arguments given as strings; when an error names no argument and
      there is one such, it is blamed (`boundaries_and_scales="abc"`).

  Returns:
    The `ConfigError` to raise: `<flag>: <function>'s `<argument>` <jopt's message>`.
  """
  text = one_line(str(e))
  m = _ARG_ERROR.match(text)
  if m:
    return ConfigError(f"{flags.get(m['arg'], default_flag)}: {m['fn']}'s `{m['arg']}` {m['rest']}")
  m = _CALL_ERROR.search(text)
  if m and isinstance(e, TypeError):
    arg = m["unknown"] or m["missing"]
    return ConfigError(f"{flags.get(arg, default_flag + '.' + arg if m['missing'] else default_flag)}: {text}")
  if strings is not None and len(strings) == 1:  # jopt's message names no argument: the only string given
    default_flag = flags.get(strings[0], default_flag)
  if isinstance(e, (TypeError, ValueError)):
    return ConfigError(f"{default_flag}: {what}: {text}")
  return ConfigError(f"{default_flag}: {what} failed with {type(e).__name__}: {text}")


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
        f"--config.{kind}: unknown {kind} {name!r}: not a public name of jopt (jopt.NAME, or SUBMODULE.NAME for "
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
  flags = {k: f"--config.schedule_kwargs.{k}" + (f" (={v!r}, {args[k]!r} here)" if args[k] is not v else "")
           for k, v in kwargs.items()}
  try:
    schedule = fn(**args)
  except Exception as e:  # pylint: disable=broad-except  (whatever jopt raises, one line naming the flag)
    strings = [k for k, v in kwargs.items() if isinstance(v, str) and v not in PLACEHOLDERS]
    raise rephrase(e, flags, "--config.schedule_kwargs", f"jopt.{name}(**{args})", strings) from None
  if not callable(schedule):
    raise ConfigError(f"--config.schedule: jopt.{name}(...) returned {type(schedule).__name__}, not a schedule.")
  return schedule


def build_optimizer(name: str, learning_rate: Any, kwargs: Mapping[str, Any],
                    flags: Optional[Mapping[str, str]] = None) -> jopt.GradientTransformation:
  """`jopt.<name>(learning_rate, **kwargs)` with the learning rate injected (`jopt.inject_hyperparams`) to be logged.

  Args:
    name: a jopt optimizer name, e.g. "adamw" or "contrib.muon".
    learning_rate: a float or a schedule.
    kwargs: the optimizer's other arguments by name.
    flags: argument name -> the flag that set it, for the errors (default:
      `--config.learning_rate` and `--config.optimizer_kwargs.<name>`).

  Returns:
    The optimizer; `jopt.hyperparams(opt_state)` reads its learning rate each step.

  Raises:
    ConfigError: unknown name, arguments the optimizer rejects, or a result that is not a
      GradientTransformation.
  """
  fn = lookup("optimizer", name)
  kwargs = dict(kwargs)
  flags = {"learning_rate": "--config.learning_rate", **{k: f"--config.optimizer_kwargs.{k}" for k in kwargs},
           **(flags or {})}
  try:  # built once plainly so that a bad argument fails here, not at the first step
    plain = fn(learning_rate=learning_rate, **kwargs)
  except Exception as e:  # pylint: disable=broad-except  (whatever jopt raises, one line naming the flag)
    if isinstance(e, TypeError) and "unexpected keyword argument 'learning_rate'" in str(e):
      raise ConfigError(f"--config.optimizer: jopt.{name} has no `learning_rate` argument, which the launcher "
                        "sets from --config.learning_rate; expected an optax-style optimizer such as sgd or "
                        "adamw.") from None
    err = rephrase(e, flags, "--config.optimizer", f"jopt.{name}(learning_rate=..., **{kwargs})",
                   [k for k, v in kwargs.items() if isinstance(v, str)])
    if "weight_decay" in kwargs and "weight_decay" in str(e):
      err = ConfigError(f"{err} (config.weight_decay is the optimizer's decoupled weight decay; "
                        "config.l2 is coupled L2)")
    raise err from None
  if not isinstance(plain, jopt.GradientTransformation):
    raise ConfigError(f"--config.optimizer: jopt.{name}(learning_rate=...) returned "
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
  if isinstance(c.learning_rate, bool) or not isinstance(c.learning_rate, (int, float)) or not (
      math.isfinite(c.learning_rate) and c.learning_rate > 0):
    raise ConfigError(f"--config.learning_rate: must be a finite number > 0, got {c.learning_rate!r}.")
  lr: Any = c.learning_rate
  lr_flag = "--config.learning_rate"
  if c.schedule:
    run = {"learning_rate": c.learning_rate, "total_steps": total_steps, "steps_per_epoch": steps_per_epoch}
    lr = build_schedule(c.schedule, dict(c.schedule_kwargs), run)
    lr_flag = "--config.schedule"
  elif len(c.schedule_kwargs):
    raise ConfigError(f"--config.schedule_kwargs: {dict(c.schedule_kwargs)} given without config.schedule "
                      "(set --config.schedule to a jopt schedule name).")
  if c.base_batch_size:
    if c.base_batch_size < 0:
      raise ConfigError(f"--config.base_batch_size: must be >= 0, got {c.base_batch_size}.")
    try:
      lr = jopt.scale_learning_rate(lr, c.base_batch_size, c.batch_size, rule=c.lr_scaling)
    except Exception as e:  # pylint: disable=broad-except
      raise rephrase(e, {"base_batch_size": "--config.base_batch_size", "rule": "--config.lr_scaling",
                         "batch_size": "--config.batch_size"}, "--config.base_batch_size",
                     "jopt.scale_learning_rate") from None
  kwargs = dict(c.optimizer_kwargs)
  flags = {"learning_rate": lr_flag}
  if c.weight_decay >= 0:
    if "weight_decay" in kwargs:
      raise ConfigError("--config.weight_decay: set both here and as --config.optimizer_kwargs.weight_decay; "
                        "set one of them.")
    kwargs["weight_decay"] = c.weight_decay
    flags["weight_decay"] = "--config.weight_decay"
  if c.clip_norm < 0:
    raise ConfigError(f"--config.clip_norm: must be >= 0, got {c.clip_norm}.")
  parts = []
  for field, make in (("clip_norm", jopt.clip_by_global_norm), ("l1", jopt.add_l1_decay),
                      ("l2", jopt.add_decayed_weights)):
    if c[field]:
      try:
        parts.append(make(c[field]))
      except Exception as e:  # pylint: disable=broad-except
        raise rephrase(e, {}, f"--config.{field}", f"jopt.{make.__name__}") from None
  parts.append(build_optimizer(c.optimizer, lr, kwargs, flags))
  if c.prune_sparsity:
    end = c.prune_end or max(1, (3 * total_steps) // 4)
    try:
      sparsity = pruning.polynomial_sparsity(c.prune_sparsity, c.prune_begin, end)
      parts.append(pruning.magnitude_pruning(sparsity, update_every=c.prune_every))
    except ValueError as e:
      raise ConfigError(f"--config.prune_sparsity: {one_line(str(e))} (with config.prune_begin="
                        f"{c.prune_begin}, prune_end={end}, prune_every={c.prune_every}).") from None
  return parts[0] if len(parts) == 1 else jopt.chain(*parts)
