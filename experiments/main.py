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
docstring; `--config=FILE:quick` runs it reduced; `--config=FILE` executes FILE as
Python, as ml_collections does: run only config files you trust).

A bad flag, config value, data file or workdir prints one line
`FATAL: --flag: what is wrong, what is expected` and exits with code 2 before
anything is written; a second launch on a workdir in use is refused the same way.
A run that diverges (non-finite loss, `config.nan_policy="raise"`) or cannot write
its workdir exits with code 3 and one line; its last good checkpoint is kept.
Rerunning a command resumes it from its newest intact checkpoint.
"""

import errno
import os
import sys
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
flags.DEFINE_integer("initialization_timeout", 300, "Multi-host: seconds to wait for every process to "
                     "connect (jopt.initialize_distributed's initialization_timeout).", lower_bound=1)
flags.DEFINE_integer("heartbeat_timeout", None, "Multi-host: seconds without a heartbeat after which a "
                     "process counts as lost (jopt.initialize_distributed's heartbeat_timeout; default: "
                     "its default, 100).", lower_bound=1)

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


_MULTI_HOST = ("coordinator_address", "num_processes", "process_id")


def initialize_distributed() -> None:
  """`jopt.initialize_distributed` with the multi-host flags, when they are given.

  Raises:
    ConfigError: a bad multi-host flag, or a timeout flag without the multi-host flags.
  """
  multi_host = FLAGS.coordinator_address or FLAGS.num_processes
  for name in ("initialization_timeout", "heartbeat_timeout"):
    if FLAGS[name].present and not multi_host:
      raise errors.flag_error(f"--{name}", "is for multi-host runs; expected it with --coordinator_address, "
                                           "--num_processes and --process_id.")
  if not multi_host:
    return
  import jopt  # pylint: disable=g-import-not-at-top
  from experiments import checkpoints  # pylint: disable=g-import-not-at-top
  from experiments import optimizers  # pylint: disable=g-import-not-at-top
  kwargs: dict[str, Any] = {"initialization_timeout": FLAGS.initialization_timeout}
  if FLAGS.heartbeat_timeout is not None:
    kwargs["heartbeat_timeout"] = FLAGS.heartbeat_timeout
  # A lost peer ends this process with one line; it names the run's last checkpoint.
  kwargs["describe_progress"] = checkpoints.progress
  try:
    jopt.initialize_distributed(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id, **kwargs)
  except (TypeError, ValueError) as e:
    if "unexpected keyword argument" in str(e):
      raise errors.flag_error("--heartbeat_timeout", f"this jopt's initialize_distributed does not take it "
                                                     f"({e}); leave the flag out.") from None
    raise optimizers.rephrase(e, {n: f"--{n}" for n in _MULTI_HOST + tuple(kwargs)}, "--coordinator_address",
                              "jopt.initialize_distributed") from None


def main(argv: list[str]) -> None:
  """Runs `train.train_and_evaluate`, or `variants.run` for a worked example's config."""
  if len(argv) > 1:
    errors.fail(_TOOL, f"unexpected arguments {argv[1:]} (flags are --name=value).")
  config = load_config(_TOOL)
  from experiments import checkpoints  # pylint: disable=g-import-not-at-top
  from experiments import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  checkpoints.quiet_orbax_logging()
  try:
    workdir_lib.check_path(FLAGS.workdir)
    if "example" not in config and FLAGS.docs:
      raise errors.ConfigError("--docs: is for worked examples (a config with an `example` field).")
    if "devices" in config and isinstance(config.devices, int) and not isinstance(config.devices, bool):
      _host_devices(config.devices)
    initialize_distributed()
    if "example" in config:
      from experiments import variants  # pylint: disable=g-import-not-at-top
      variants.run(config, FLAGS.workdir, docs=FLAGS.docs)
    else:
      from experiments import train  # pylint: disable=g-import-not-at-top
      train.train_and_evaluate(config, FLAGS.workdir)
  except errors.ConfigError as e:
    _fail(str(e), errors.EXIT_USAGE)
  except errors.RunError as e:
    _fail(str(e), errors.EXIT_RUN_FAILED)
  except OSError as e:
    if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS, errno.EIO):
      raise
    _fail(f"writing the run in --workdir={FLAGS.workdir!r} failed: {e}; its last good checkpoint is kept: "
          "free the space or fix the permission, then rerun to resume.", errors.EXIT_RUN_FAILED)
  except Exception as e:  # pylint: disable=broad-except
    if "JaxRuntimeError" not in type(e).__name__ or not _multi_host_failure(f"{type(e).__name__}: {e}", 1):
      raise
    # A collective failed: a peer is gone. The watchdog's verdict, one line naming it, ends this process.
    sys.exit(1)


def _multi_host_failure(message: str, code: int) -> bool:
  """In a multi-host run, tells the watchdog this process ends with `code` (so that it does not wait
  in JAX's shutdown barrier and the others name it); returns whether it could."""
  if not (FLAGS.num_processes or 0) > 1:
    return False
  import jopt  # pylint: disable=g-import-not-at-top
  report = getattr(jopt, "report_failure", None)
  if report is None:
    return False
  report(errors.one_line(message), code)
  return True


def _fail(message: str, code: int) -> None:
  _multi_host_failure(message, code)
  errors.fail(_TOOL, message, code=code)


def run() -> None:
  """The command-line entry: absl flags (a bad one exits with code 2), then `main`."""
  app.run(main, flags_parser=errors.parse_flags_or_exit)


if __name__ == "__main__":
  run()
