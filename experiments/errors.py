"""How the command-line tools fail: `ConfigError` (bad input: one `FATAL` line, exit 2) and `RunError` (exit 3)."""

import re
import sys
from typing import NoReturn

# Exit codes: a bad flag, config, data file or workdir (nothing was written), and a run
# that started and then failed (diverged; its last good checkpoint is kept).
EXIT_USAGE = 2
EXIT_RUN_FAILED = 3


class ConfigError(ValueError):
  """A bad experiment setting, data file or workdir, raised before anything is written to the workdir.

  Its message starts with the flag to fix (`--config.learning_rate: ...`) where
  there is one.
  """


class RunError(RuntimeError):
  """A run that stopped on its own account (a non-finite loss under `nan_policy="raise"`)."""


def flag_error(flag: str, message: str) -> ConfigError:
  """`ConfigError("<flag>: <message>")`: what is wrong and what is expected, under the flag's name."""
  return ConfigError(f"{flag}: {message}")


def one_line(message: str) -> str:
  """`message` on one line (newlines and runs of spaces from other libraries' messages folded)."""
  return " ".join(str(message).split())


def fail(tool: str, message: str, code: int = EXIT_USAGE) -> NoReturn:
  """Prints one line to stderr and exits with `code` (2: a usage error).

  The line is `FATAL: --flag: ...` when `message` starts with the flag it is about,
  else `FATAL: <tool>: <message>`.
  """
  message = one_line(message)
  prefix = "FATAL: " if message.startswith("--") else f"FATAL: {tool}: "
  sys.stderr.write(prefix + message + "\n")
  sys.stderr.flush()
  sys.exit(code)


_EXPECTED = {
    "float": "a number such as 0.01 or 1e-3",
    "int": "an integer",
    "bool": "true or false",
}


def _flag_message(e: Exception) -> str:
  """absl's `flag --NAME=VALUE: REASON` as `--NAME: 'VALUE' is not ...; expected ...`."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  raw = str(e)
  if "Traceback (most recent call last)" in raw:  # a config file's own error, its traceback embedded
    head = raw.split("Traceback (most recent call last)")[0].rstrip(": \n")
    raw = f"{head}: {[l for l in raw.splitlines() if l.strip()][-1].strip()}"
  text = one_line(raw)
  if isinstance(e, flags.UnrecognizedFlagError):
    name = getattr(e, "flagname", "") or ""
    return (f"--{name}: {text}; --helpfull lists the flags, experiments/configs/default.py the "
            "config fields.")
  if text.startswith("flag --") and ": " in text:
    head, reason = text[len("flag "):].split(": ", 1)
    name, _, value = head.partition("=")
    kind = ""
    try:
      kind = flags.FLAGS[name[2:]].flag_type()
    except (KeyError, AttributeError):
      pass
    if kind in _EXPECTED and not _parses(kind, value, reason):
      return f"{name}: {value!r} is not {_EXPECTED[kind].split(' such')[0]}; expected {_EXPECTED[kind]}."
    return f"{name}: {reason} (got {value!r})."
  if "a value for --config was specified" in text:  # ml_collections: an override before --config=FILE
    return f"--config: {text}; expected --config=FILE before its --config.FIELD overrides."
  match = re.search(r"--[\w.]+", text)
  return f"{match.group(0)}: {text}" if match else text


def _parses(kind: str, value: str, reason: str) -> bool:
  """Whether `value` is of the flag's type (then absl refused it for another reason, e.g. a bound)."""
  if kind == "bool":
    return "Non-boolean" not in reason
  try:
    (float if kind == "float" else int)(value)
    return True
  except ValueError:
    return False


def parse_flags_or_exit(argv: list[str]) -> list[str]:
  """absl's flag parsing (give it to `app.run(flags_parser=...)`); a bad flag is one `FATAL` line and exit 2.

  `--config=FILE` executes FILE while the flags are parsed: whatever it raises is
  reported the same way, as a `--config` error.
  """
  from absl import flags  # pylint: disable=g-import-not-at-top
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    message = _flag_message(e)
    if not isinstance(e, flags.UnrecognizedFlagError):
      message += " (--helpfull lists the flags)"
  except Exception as e:  # pylint: disable=broad-except
    cause = e
    while cause.__cause__ is not None or cause.__context__ is not None:
      cause = cause.__cause__ or cause.__context__
    where = [a.split("=", 1)[1] for a in argv[1:] if a.startswith("--config=")]
    message = (f"--config: cannot load {where[-1] if where else 'the config file'!r}: "
               f"{type(cause).__name__}: {cause}; expected a Python file with get_config().")
  fail("flags", message)
