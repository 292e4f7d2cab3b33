"""The launcher's absl flags: one per config field, one per optimizer/schedule hyperparameter found in jopt.

`config_from_flags()` starts from `--config` (an ml_collections config file) or
the default config, then applies every flag given explicitly on the command line.
A hyperparameter flag (`--b1`, `--momentum`, `--decay_steps`, ...) goes to the
chosen optimizer or schedule whose signature has that name (a name both take,
like `gamma`, goes to the optimizer; `--schedule_gamma` to the schedule); a name
neither takes is an error listing what they do take.
"""

import sys
from typing import Any

from absl import flags
from ml_collections import config_flags

from experiments import data as data_lib
from experiments import models
from experiments import registry
from experiments.configs import default
from experiments.registry import ConfigError

FLAGS = flags.FLAGS
_DEFAULT = default.get_config()
_DICT_FIELDS = ("optimizer_kwargs", "schedule_kwargs")
_HELP = {
    "dataset": f"one of {', '.join(data_lib.DATASETS)}",
    "model": f"one of {', '.join(models.MODELS)}",
    "optimizer": "any optimizer jopt exports: " + ", ".join(sorted(registry.OPTIMIZERS)),
    "schedule": "'' (constant) or any schedule jopt exports: " + ", ".join(sorted(registry.SCHEDULES)),
}
_defined: list[str] = []
_hyper: list[str] = []


def define() -> None:
  """Defines `--workdir`, `--config`, the config-field flags and the hyperparameter flags (once)."""
  if _defined:
    return
  flags.DEFINE_string("workdir", None, "where outputs and checkpoints go; rerun to resume", required=True)
  config_flags.DEFINE_config_file("config", None, "an ml_collections config file (get_config())",
                                  lock_config=False)
  for name, value in _DEFAULT.items():
    if name in _DICT_FIELDS:
      continue
    help_text = _HELP.get(name, f"config field {name} (default config: {value!r})")
    definer = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer, float: flags.DEFINE_float}.get(
        type(value), flags.DEFINE_string)
    definer(name, value, help_text)
    _defined.append(name)
  opt_args, sched_args = registry.optimizer_hyperparams(), registry.schedule_args()
  for name in sorted(set(opt_args) | set(sched_args)):
    if name in _DEFAULT:
      continue
    who = opt_args.get(name, []) + sched_args.get(name, [])
    flags.DEFINE_string(name, None, "hyperparameter of " + ", ".join(who) + " (a Python literal)")
    _hyper.append(name)
    if name in opt_args and name in sched_args:  # e.g. gamma: an unambiguous spelling for the schedule
      flags.DEFINE_string("schedule_" + name, None, f"argument {name} of " + ", ".join(sched_args[name]))
      _hyper.append("schedule_" + name)
  flags.DEFINE_string("coordinator_address", None, "multi-host: passed to jopt.initialize_distributed")
  flags.DEFINE_integer("num_processes", None, "multi-host: passed to jopt.initialize_distributed")
  flags.DEFINE_integer("process_id", None, "multi-host: passed to jopt.initialize_distributed")


def config_from_flags() -> Any:
  """The run's config: `--config` (or the default) overridden by the flags given explicitly.

  Raises:
    ConfigError: a hyperparameter flag that neither the optimizer nor the schedule takes.
  """
  config = FLAGS.config if FLAGS.config is not None else default.get_config()
  for name in _defined:
    if FLAGS[name].present:
      config[name] = FLAGS[name].value
  opt = registry.OPTIMIZERS.get(config.optimizer)
  sched = registry.SCHEDULES.get(config.schedule)
  opt_args = registry.arg_names(opt, skip=("learning_rate",)) if opt else []
  sched_args = registry.arg_names(sched) if sched else []
  for name in _hyper:
    if not FLAGS[name].present:
      continue
    value = registry.parse_value(FLAGS[name].value)
    if name.startswith("schedule_") and name[len("schedule_"):] in sched_args:
      config.schedule_kwargs[name[len("schedule_"):]] = value
    elif name in opt_args:  # a name both take goes to the optimizer; the schedule's is --schedule_<name>
      config.optimizer_kwargs[name] = value
    elif name in sched_args:
      config.schedule_kwargs[name] = value
    else:
      raise ConfigError(
          f"--{name} is not an argument of optimizer {config.optimizer!r} "
          f"(it takes: {', '.join(opt_args) or 'nothing'})"
          + (f" nor of schedule {config.schedule!r} (it takes: {', '.join(sched_args)})" if sched else "")
          + "."
      )
  return config


def parse_or_exit(argv: list[str]) -> list[str]:
  """absl's flag parsing, but a bad flag exits with code 2 (absl's own parser uses 1)."""
  try:
    return FLAGS(argv)
  except flags.Error as e:
    sys.stderr.write(f"FATAL Flags parsing error: {e}\nPass --helpshort or --helpfull to see help on flags.\n")
    sys.exit(2)
