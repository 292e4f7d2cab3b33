"""`python -m experiments.train --workdir=DIR [flags]`: one run of the shared loop (default: Adam, digits, MLP).

    python -m experiments.train --workdir=runs/default
    python -m experiments.train --workdir=runs/sgd --optimizer=sgd --learning_rate=0.1 --momentum=0.9 \
        --schedule=cosine_decay_schedule --l2=1e-4 --epochs=10
    python -m experiments.train --workdir=runs/x --config=experiments/configs/default.py --config.epochs=5

Bad flags or settings print the problem (with the valid choices) and exit with code 2
before anything is written; rerunning a command with the same workdir resumes it.
"""

import os
import sys


def _force_cpu_devices(argv: list[str]) -> None:
  """`--devices=N` on a CPU-only host: ask XLA for N host devices before jax is imported."""
  n = None
  for i, arg in enumerate(argv):
    if arg.startswith("--devices="):
      n = arg.split("=", 1)[1]
    elif arg == "--devices" and i + 1 < len(argv):
      n = argv[i + 1]
  flags_env = os.environ.get("XLA_FLAGS", "")
  if n and n.isdigit() and int(n) > 1 and "xla_force_host_platform_device_count" not in flags_env:
    os.environ["XLA_FLAGS"] = f"{flags_env} --xla_force_host_platform_device_count={int(n)}".strip()


if __name__ == "__main__":
  _force_cpu_devices(sys.argv)

from absl import app  # pylint: disable=g-import-not-at-top,wrong-import-position
from absl import flags  # pylint: disable=g-import-not-at-top,wrong-import-position

from experiments import flags as flags_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from experiments.registry import ConfigError  # pylint: disable=g-import-not-at-top,wrong-import-position

FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    _fail(f"unexpected arguments {argv[1:]} (flags are --name=value).")
  try:
    config = flags_lib.config_from_flags()
    if FLAGS.coordinator_address or FLAGS.num_processes:
      import jopt  # pylint: disable=g-import-not-at-top
      jopt.initialize_distributed(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
    from experiments import loop  # pylint: disable=g-import-not-at-top
    loop.train_and_evaluate(config, FLAGS.workdir)
  except ConfigError as e:
    _fail(str(e))


def _fail(message: str) -> None:
  sys.stderr.write(f"FATAL: {message}\n")
  sys.exit(2)


if __name__ == "__main__":
  flags_lib.define()
  app.run(main, flags_parser=flags_lib.parse_or_exit)
