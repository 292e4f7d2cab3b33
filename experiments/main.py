r"""Trains one run, or a worked example's variants: `python -m experiments.main --workdir=DIR [--config=FILE]`.

    python -m experiments.main --workdir=runs/default
    python -m experiments.main --workdir=runs/adamw --config.optimizer=adamw \
        --config.optimizer_kwargs.b1=0.95 --config.weight_decay=1e-4
    python -m experiments.main --workdir=runs/sgd --config.optimizer=sgd --config.learning_rate=0.1 \
        --config.schedule=cosine_decay_schedule --config.schedule_kwargs.init_value=learning_rate \
        --config.schedule_kwargs.decay_steps=total_steps
    python -m experiments.main --workdir=runs/lr_schedules --config=experiments/configs/lr_schedules.py

The config's fields are documented in experiments/configs/default.py; each worked
example is a config file in experiments/configs/ (its launch command in its
docstring; `--config=FILE:quick` runs it reduced). Bad settings print one line and
exit with code 2 before anything is written; rerunning a command resumes it.
"""

import os
from typing import Any

from absl import app
from absl import flags
from ml_collections import config_flags

from experiments import errors

FLAGS = flags.FLAGS
DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "default.py")

flags.DEFINE_string("workdir", None, "Where the run's outputs and checkpoints go (rerun the same command "
                    "to resume); a worked example puts one run per variant in it.", required=True)
config_flags.DEFINE_config_file(
    "config", DEFAULT_CONFIG,
    "A config file with get_config() (default: experiments/configs/default.py, which documents every field); "
    "FILE:quick runs a worked example reduced. Override fields with --config.FIELD=VALUE, e.g. "
    "--config.optimizer=adamw --config.optimizer_kwargs.b1=0.95.",
    lock_config=False, accept_new_attributes=True)
flags.DEFINE_string("docs", "", "Worked examples only: also copy the comparison PNG into this folder "
                    "(the README's figures: --docs=docs).")
flags.DEFINE_string("coordinator_address", None, "Multi-host: passed to jopt.initialize_distributed.")
flags.DEFINE_integer("num_processes", None, "Multi-host: passed to jopt.initialize_distributed.")
flags.DEFINE_integer("process_id", None, "Multi-host: passed to jopt.initialize_distributed.")

_TOOL = "experiments.main"


def _host_devices(n: int) -> None:
  """`config.devices=N` on a CPU-only host: N host devices, set before jax's backend starts."""
  if n > 1 and "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    import jax  # pylint: disable=g-import-not-at-top
    try:
      jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError:  # the backend is already up (e.g. in-process use): keep its devices
      pass


def load_config(tool: str) -> Any:
  """`--config` with its overrides; a file that does not load exits with code 2 and the reason."""
  try:
    config = FLAGS.config
    config.keys()  # a file that failed to load raises here
    return config
  except Exception as e:  # pylint: disable=broad-except  (config_flags reports a bad file on first use)
    cause = e.__cause__ or e.__context__ or e
    errors.fail(tool, f"--config: {type(cause).__name__}: {cause}")


def main(argv: list[str]) -> None:
  """Runs `train.train_and_evaluate`, or `variants.run` for a worked example's config."""
  if len(argv) > 1:
    errors.fail(_TOOL, f"unexpected arguments {argv[1:]} (flags are --name=value).")
  config = load_config(_TOOL)
  from experiments import checkpoints  # pylint: disable=g-import-not-at-top
  checkpoints.quiet_orbax_logging()
  try:
    if "example" not in config and FLAGS.docs:
      raise errors.ConfigError("--docs is for worked examples (a config with an `example` field).")
    if "devices" in config:
      _host_devices(int(config.devices))
    if FLAGS.coordinator_address or FLAGS.num_processes:
      import jopt  # pylint: disable=g-import-not-at-top
      jopt.initialize_distributed(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
    if "example" in config:
      from experiments import variants  # pylint: disable=g-import-not-at-top
      variants.run(config, FLAGS.workdir, docs=FLAGS.docs)
    else:
      from experiments import train  # pylint: disable=g-import-not-at-top
      train.train_and_evaluate(config, FLAGS.workdir)
  except errors.ConfigError as e:
    errors.fail(_TOOL, str(e))


def run() -> None:
  """The command-line entry: absl flags (a bad one exits with code 2), then `main`."""
  app.run(main, flags_parser=errors.parse_flags_or_exit)


if __name__ == "__main__":
  run()
