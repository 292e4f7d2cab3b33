"""The run's workdir: is it usable, what may a rerun find in it, and the lock that keeps a second launch off it.

Nothing here deletes or overwrites a file the launcher did not write: a workdir
holding the launcher's output names without its `config.json`, or a
`config.json` / `metrics.jsonl` that this launcher cannot have written, is refused
with one line naming the file.
"""

import datetime
import errno
import json
import os
import socket
from typing import Any, Iterable, Optional

from experiments import outputs
from experiments.errors import ConfigError
from experiments.errors import flag_error
from experiments.errors import one_line

try:
  import fcntl  # pylint: disable=g-import-not-at-top
except ImportError:  # not POSIX: an exclusive-create lock file with the holder's pid
  fcntl = None

FLAG = "--workdir"
LOCK = ".lock"
# What a run writes at the top of its workdir (checkpoints/ is checkpoints.DIRNAME).
OUTPUT_NAMES = (outputs.CONFIG, outputs.METRICS, outputs.SUMMARY, "loss.png", "accuracy.png",
                "learning_rate.png", "checkpoints")
# Fields every config.json of this launcher has.
_CONFIG_KEYS = ("dataset", "model", "optimizer", "learning_rate", "batch_size")


def check_path(workdir: Any) -> str:
  """The absolute workdir path (`~` expanded), if a run can use it: an existing writable
  directory, or a path whose first existing ancestor is a writable directory.

  Writes nothing.

  Raises:
    ConfigError: an empty path, a file, a path under a file, or an unwritable place.
  """
  if not isinstance(workdir, str) or not workdir.strip():
    raise flag_error(FLAG, f"is empty ({workdir!r}); expected a directory path (created if absent).")
  path = os.path.abspath(os.path.expanduser(workdir))
  if os.path.lexists(path):
    if not os.path.isdir(path):
      raise flag_error(FLAG, f"{workdir!r} is a file, not a directory; expected a new directory or a run's.")
    if not os.access(path, os.W_OK | os.X_OK):
      raise flag_error(FLAG, f"{workdir!r} is not writable; expected a directory this user can write to.")
    return path
  parent = os.path.dirname(path)
  while not os.path.lexists(parent):
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent):
    raise flag_error(FLAG, f"{workdir!r} lies under {parent!r}, which is a file, not a directory; expected a "
                           "path through directories.")
  if not os.access(parent, os.W_OK | os.X_OK):
    raise flag_error(FLAG, f"{workdir!r} cannot be created: {parent!r} is not writable; expected a place this "
                           "user can write to.")
  return path


def _refuse(path: str, what: str, fix: str = "move it away or use a new --workdir") -> ConfigError:
  return flag_error(FLAG, f"{path}: {what}; nothing in the workdir was changed: {fix}.")


def read_config(path: str) -> Optional[dict[str, Any]]:
  """The `config.json` of the run in `path`, or None if it has none.

  Raises:
    ConfigError: our output files without a config.json, or a config.json this launcher
      cannot have written (unreadable, truncated, not a config).
  """
  cfg_path = os.path.join(path, outputs.CONFIG)
  if not os.path.lexists(cfg_path):
    ours = [n for n in OUTPUT_NAMES if os.path.lexists(os.path.join(path, n))]
    if ours:
      raise _refuse(path, f"holds {', '.join(ours)} but no {outputs.CONFIG}, so it is not a run of this "
                          "launcher (or its config.json was removed)")
    return None
  try:
    with open(cfg_path, encoding="utf-8") as f:
      cfg = json.load(f)
  except (OSError, ValueError) as e:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
    raise _refuse(cfg_path, f"cannot be read as JSON ({type(e).__name__}: {one_line(str(e))}): truncated, or "
                            "not written by this launcher", "restore it, or use a new --workdir") from None
  if not isinstance(cfg, dict) or not all(k in cfg for k in _CONFIG_KEYS):
    raise _refuse(cfg_path, f"is not a config.json of this launcher (expected a JSON object with "
                            f"{', '.join(_CONFIG_KEYS)}, ...)")
  return cfg


def read_records(path: str) -> list[dict[str, Any]]:
  """The records of `<path>/metrics.jsonl` (none if absent).

  A last line without its newline is the record a killed write left half-written: it
  is dropped (every record up to the latest checkpoint was complete before that
  checkpoint was saved).

  Raises:
    ConfigError: a line that is not a metrics record of this launcher.
  """
  file = os.path.join(path, outputs.METRICS)
  if not os.path.lexists(file):
    return []
  try:
    with open(file, "rb") as f:
      text = f.read().decode("utf-8")
  except (OSError, UnicodeDecodeError) as e:
    raise _refuse(file, f"cannot be read ({type(e).__name__}: {one_line(str(e))})") from None
  lines = text.split("\n")
  if lines and lines[-1]:  # no newline at the end: a write cut short
    lines = lines[:-1]
  records = []
  for i, line in enumerate(lines, 1):
    if not line.strip():
      continue
    try:
      rec = json.loads(line)
    except ValueError:
      rec = None
    if not (isinstance(rec, dict) and isinstance(rec.get("step"), int)):
      raise _refuse(file, f"line {i} is not a metrics record of this launcher ({line[:60]!r}); expected one "
                          "JSON object with an integer step per line")
    records.append(rec)
  return records


def expected_records(step: int, total: int, log_every: int, eval_every: int) -> tuple[int, int]:
  """How many training and evaluation records a run has written up to `step` (inclusive)."""
  last = lambda every: 1 if step == total and total % every else 0  # the final step's record
  return step // log_every + last(log_every), 1 + step // eval_every + last(eval_every)


def check_records(path: str, records: Iterable[dict[str, Any]], step: int, expected: tuple[int, int]) -> None:
  """Refuses a resume at `step` whose metrics.jsonl lacks records written before that step's checkpoint."""
  kept = [r for r in records if r["step"] <= step]
  got = (sum(1 for r in kept if "loss" in r), sum(1 for r in kept if "train_loss" in r))
  if got != expected:
    raise _refuse(os.path.join(path, outputs.METRICS),
                  f"holds {got[0]} training and {got[1]} evaluation records up to step {step}, the checkpoint "
                  f"the run resumes from, but the run wrote {expected[0]} and {expected[1]} (truncated or "
                  "edited)", "restore the file, or move the run away to start over")


class Lock:
  """An exclusive lock on a workdir, held until `release` (or the process ends)."""

  def __init__(self, path: str, fd: int):
    self.path = path
    self._fd = fd

  def release(self) -> None:
    """Removes the lock file, then lets go of the lock."""
    if self._fd is None:
      return
    try:
      os.unlink(self.path)
    except FileNotFoundError:
      pass
    os.close(self._fd)
    self._fd = None


def _holder(path: str) -> str:
  try:
    with open(path, encoding="utf-8", errors="replace") as f:
      return one_line(f.read()) or "a process that has not written its pid yet"
  except OSError:
    return "another process"


def _pid_alive(text: str) -> bool:
  parts = text.split()
  if len(parts) < 4 or parts[0] != "pid" or not parts[1].isdigit() or parts[3] != socket.gethostname():
    return bool(text.strip())  # another host's, or unreadable: assume alive
  try:
    os.kill(int(parts[1]), 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def acquire(path: str) -> Lock:
  """Creates the workdir if needed and locks it (`<workdir>/.lock`, holding the pid).

  The lock is an `flock` on the file, released by the kernel when the holder dies, so
  a lock file left by a killed run (a dead pid) is simply taken over.

  Raises:
    ConfigError: another live launch holds the workdir.
  """
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    raise flag_error(FLAG, f"{path!r} cannot be created ({e.strerror}); expected a writable place.") from None
  lock_path = os.path.join(path, LOCK)
  stamp = (f"pid {os.getpid()} on {socket.gethostname()} since "
           f"{datetime.datetime.now().isoformat(timespec='seconds')}\n").encode()
  for _ in range(100):
    if fcntl is None:
      try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
      except FileExistsError:
        held = _holder(lock_path)
        if _pid_alive(held):
          raise _busy(path, lock_path, held) from None
        os.unlink(lock_path)  # a dead pid's: take it over
        continue
    else:
      fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except OSError as e:
        os.close(fd)
        if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
          raise _busy(path, lock_path, _holder(lock_path)) from None
        raise
      try:
        same = os.stat(lock_path).st_ino == os.fstat(fd).st_ino
      except FileNotFoundError:
        same = False
      if not same:  # the holder removed the file as we opened it: lock the new one
        os.close(fd)
        continue
      os.ftruncate(fd, 0)
    os.write(fd, stamp)
    return Lock(lock_path, fd)
  raise flag_error(FLAG, f"{path}: could not take the lock {lock_path}.")


def _busy(path: str, lock_path: str, held: str) -> ConfigError:
  return flag_error(FLAG, f"{path} is in use by another launch ({held}; lock {lock_path}); wait for it to "
                          "finish, or use another --workdir.")


def write_json(path: str, obj: Any, sort_keys: bool = False) -> None:
  """Writes `obj` as JSON to `path` atomically (a temporary file, then a rename): never half-written."""
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(obj, f, indent=2, sort_keys=sort_keys)
  os.replace(tmp, path)
