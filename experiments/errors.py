"""`ConfigError` (a bad experiment setting) and how the command-line tools report it: one line, exit code 2."""

import sys


class ConfigError(ValueError):
  """A bad experiment setting, raised before anything is written to the workdir."""


def fail(tool: str, message: str) -> None:
  """Prints `FATAL: <tool>: <message>` to stderr and exits with code 2 (a usage error)."""
  sys.stderr.write(f"FATAL: {tool}: {message}\n")
  sys.exit(2)


def parse_flags_or_exit(argv: list[str]) -> list[str]:
  """absl's flag parsing (give it to `app.run(flags_parser=...)`), but a bad flag exits with code 2, not 1."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    sys.stderr.write(f"FATAL Flags parsing error: {e}\nPass --helpshort or --helpfull to see help on flags.\n")
    sys.exit(2)
