"""Orbax checkpoints in `<workdir>/checkpoints`, each with a checksum: save the state, resume the newest intact one.

Each step directory gets `jopt_checksum.json` once orbax has finished writing it:
the size and sha256 of each of its files, and the sha256 of the saved arrays
(path, dtype, shape and bytes of every leaf). A resume checks the newest step's
files, restores it, recomputes the arrays' digest from what it read, and falls
back to the next newest when a file is missing, cut short or changed, the step
cannot be read, it has no checksum (a save cut short) or its arrays do not match;
each such step is moved to `<workdir>/checkpoints.corrupt/` (never deleted) with a
one-line warning.
"""

import hashlib
import json
import logging as std_logging
import os
import shutil
import sys
import time
from typing import Any, Optional

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

DIRNAME = "checkpoints"
CORRUPT_DIRNAME = "checkpoints.corrupt"
CHECKSUM = "jopt_checksum.json"
# This process's latest intact checkpoint (saved or restored): (step, directory), for `progress`.
_LATEST: dict[str, Any] = {}


def progress() -> str:
  """`"last checkpoint: step N at PATH"` (or that there is none yet): what a fatal line adds."""
  if not _LATEST:
    return "no checkpoint yet: a rerun starts over"
  return f"last checkpoint: step {_LATEST['step']} at {_LATEST['path']} (a rerun resumes from it)"


def quiet_orbax_logging() -> None:
  """Drops orbax's and jax's INFO lines (dozens per checkpoint; jax's backend probing) from absl's
  log handler; warnings pass.

  Called by the command-line entry points, not on import.
  """
  handler = logging.get_absl_handler()
  if not any(isinstance(f, _QuietOrbax) for f in handler.filters):
    handler.addFilter(_QuietOrbax())


class _QuietOrbax(std_logging.Filter):

  def filter(self, record: std_logging.LogRecord) -> bool:
    path = record.pathname.replace("\\", "/")
    return record.levelno >= std_logging.WARNING or ("/orbax/" not in path and "/jax/" not in path)


def manager(workdir: str, create: bool = True) -> ocp.CheckpointManager:
  """The run's checkpoint manager (the 2 latest steps kept)."""
  return ocp.CheckpointManager(
      os.path.abspath(os.path.join(workdir, DIRNAME)),
      options=ocp.CheckpointManagerOptions(max_to_keep=2, create=create),
  )


def host(tree: Any) -> Any:
  """`tree` as host NumPy arrays (what is saved)."""
  return jax.tree.map(np.asarray, jax.device_get(tree))


def zeros_like(tree: Any) -> Any:
  """A host target of the same shapes and dtypes, for a restore into `tree`'s structure."""
  return jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), jax.eval_shape(lambda t: t, tree))


def _key_name(key: Any) -> str:
  for attr in ("key", "name", "idx"):  # DictKey / FlattenedIndexKey, GetAttrKey, SequenceKey
    if hasattr(key, attr):
      return str(getattr(key, attr))
  return str(key)


def digest(tree: Any) -> str:
  """sha256 of a tree's arrays: each leaf's path, dtype, shape and bytes, in path order.

  Paths are the keys' names only, so a NamedTuple saved and the dict orbax restores
  it as give the same digest.
  """
  leaves = [("/".join(_key_name(k) for k in path), np.asarray(leaf))
            for path, leaf in jax.tree_util.tree_flatten_with_path(jax.device_get(tree))[0]]
  h = hashlib.sha256()
  for path, a in sorted(leaves, key=lambda p: p[0]):
    h.update(f"{path}|{a.dtype.str}|{a.shape}|".encode())
    h.update(np.ascontiguousarray(a).tobytes())
  return h.hexdigest()


def _step_dir(mgr: ocp.CheckpointManager, step: int) -> str:
  return os.path.join(str(mgr.directory), str(step))


def save(mgr: ocp.CheckpointManager, step: int, item: dict[str, Any], write_checksum: bool = True) -> None:
  """Saves `item` (a dict of trees) at `step`, waits for orbax to finish, then writes its checksum.

  Args:
    mgr: the run's manager.
    step: the step.
    item: a dict of trees.
    write_checksum: False on the processes other than 0 of a multi-host run.
  """
  item = host(item)
  mgr.save(step, args=ocp.args.StandardSave(item), force=True)
  mgr.wait_until_finished()
  if write_checksum:
    step_dir = _step_dir(mgr, step)
    path = os.path.join(step_dir, CHECKSUM)
    tmp = path + ".tmp"
    record = {"step": step, "sha256": digest(item), "leaves": len(jax.tree.leaves(item)),
              "files": _files(step_dir)}
    with open(tmp, "w", encoding="utf-8") as f:
      json.dump(record, f)
    os.replace(tmp, path)
  _LATEST.update(step=step, path=_step_dir(mgr, step))


def _file_sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


def _files(step_dir: str) -> dict[str, list[Any]]:
  """`{relative path: [size, sha256]}` of every file orbax wrote in a step directory."""
  out = {}
  for folder, _, names in os.walk(step_dir):
    for name in names:
      path = os.path.join(folder, name)
      rel = os.path.relpath(path, step_dir).replace(os.sep, "/")
      if rel != CHECKSUM and not rel.startswith(CHECKSUM):
        out[rel] = [os.path.getsize(path), _file_sha256(path)]
  return out


def _changed_file(step_dir: str, files: dict[str, list[Any]]) -> Optional[str]:
  """The first file of the checksum's list that is missing, of another size or other bytes, else None."""
  for rel, (size, sha) in sorted(files.items()):
    path = os.path.join(step_dir, *rel.split("/"))
    if not os.path.isfile(path):
      return f"{rel} is missing"
    if os.path.getsize(path) != size:
      return f"{rel} is {os.path.getsize(path)} bytes, not {size} (cut short)" if os.path.getsize(
          path) < size else f"{rel} is {os.path.getsize(path)} bytes, not {size}"
    if _file_sha256(path) != sha:
      return f"{rel} does not match its sha256 (changed bytes)"
  return None


def restore(mgr: ocp.CheckpointManager, step: int, like: dict[str, Any]) -> dict[str, Any]:
  """The item saved at `step`, shaped like `like` (a dict of trees)."""
  return mgr.restore(step, args=ocp.args.StandardRestore(zeros_like(like)))


def _read_checksum(step_dir: str) -> Optional[dict[str, Any]]:
  """The step's checksum record; None if it has none; `{}` if it is unreadable (matches nothing)."""
  try:
    with open(os.path.join(step_dir, CHECKSUM), encoding="utf-8") as f:
      record = json.load(f)
    return record if isinstance(record, dict) and isinstance(record.get("sha256"), str) else {}
  except FileNotFoundError:
    return None
  except (OSError, ValueError):
    return {}


def _verify(mgr: ocp.CheckpointManager, step: int, legacy: bool) -> tuple[Optional[str], Any]:
  """`(why the checkpoint at step cannot be trusted, None)`, or `(None, what it holds)` if it is intact."""
  step_dir = _step_dir(mgr, step)
  record = _read_checksum(step_dir)
  if record is None and not legacy:
    return "half-written (no checksum: its save was cut short)", None
  if record == {}:
    return f"corrupt (its {CHECKSUM} is unreadable)", None
  if record is not None and isinstance(record.get("files"), dict):
    changed = _changed_file(step_dir, record["files"])
    if changed:
      return f"corrupt ({changed})", None
  try:
    raw = mgr.restore(step, args=ocp.args.StandardRestore())
  except Exception as e:  # pylint: disable=broad-except  (truncated files, garbled metadata, missing manifest)
    return f"unreadable ({type(e).__name__}: {' '.join(str(e).split())[:200]})", None
  if record is not None and digest(raw) != record["sha256"]:
    return "corrupt (its arrays do not match their checksum)", None
  return None, raw


def _warn(message: str) -> None:
  sys.stderr.write(f"WARNING: {message}\n")
  sys.stderr.flush()


def restore_latest(workdir: str, like: dict[str, Any], quarantine: bool = True) -> tuple[int, Optional[dict[str, Any]]]:
  """The newest intact checkpoint in `workdir`: `(step, item shaped like like)`, or `(0, None)` if none.

  A step that cannot be read, lacks its checksum or fails it is reported in one
  line on stderr and moved to `<workdir>/checkpoints.corrupt/<step>` (when
  `quarantine`; processes other than 0 of a multi-host run only skip it), and the
  next newest is tried. Checkpoints written before checksums existed (no step has
  one) are restored unverified, with a warning.

  Raises:
    ValueError: an intact checkpoint that does not fit `like` (another run's state).
  """
  root = os.path.join(workdir, DIRNAME)
  if not os.path.isdir(root):
    return 0, None
  mgr = manager(workdir, create=False)
  try:
    steps = sorted(mgr.all_steps(), reverse=True)
    legacy = bool(steps) and all(_read_checksum(_step_dir(mgr, s)) is None for s in steps)
    if legacy:
      _warn(f"the checkpoints in {root} have no checksums (written by an older version, or the only one was cut "
            "short between orbax's save and its checksum): restored unverified.")
    for step in steps:
      why, _ = _verify(mgr, step, legacy)
      if why is None:
        _LATEST.update(step=step, path=_step_dir(mgr, step))
        try:
          return step, restore(mgr, step, like)
        except Exception as e:  # pylint: disable=broad-except
          raise ValueError(f"the checkpoint at step {step} in {root} does not fit this run's state "
                           f"({type(e).__name__}: {' '.join(str(e).split())[:200]})") from None
      older = [s for s in steps if s < step]
      then = f"falling back to step {older[0]}" if older else "no older checkpoint: starting from step 0"
      if quarantine:
        dest = _quarantine(workdir, _step_dir(mgr, step), step)
        _warn(f"checkpoint step {step} in {root} is {why}; moved to {dest}; {then}.")
      else:
        _warn(f"checkpoint step {step} in {root} is {why}; {then}.")
  finally:
    mgr.close()
  return 0, None


def _quarantine(workdir: str, step_dir: str, step: int) -> str:
  dest_root = os.path.join(workdir, CORRUPT_DIRNAME)
  os.makedirs(dest_root, exist_ok=True)
  base = os.path.join(dest_root, f"{step}-{time.strftime('%Y%m%d-%H%M%S')}")
  dest, n = base, 1
  while os.path.lexists(dest):
    dest, n = f"{base}.{n}", n + 1
  shutil.move(step_dir, dest)
  return dest


def restore_params(workdir: str, like: Any = None) -> Optional[Any]:
  """The params of the latest checkpoint in `workdir` (host arrays), or None if there is none.

  Args:
    workdir: a run's workdir.
    like: a params tree to give the result the same structure; None keeps the
      checkpoint's own nesting (dicts).
  """
  if not os.path.isdir(os.path.join(workdir, DIRNAME)):
    return None
  mgr = manager(workdir, create=False)
  try:
    steps = sorted(mgr.all_steps(), reverse=True)
    legacy = all(_read_checksum(_step_dir(mgr, s)) is None for s in steps)
    for step in steps:  # the newest intact one; nothing is moved
      why, item = _verify(mgr, step, legacy)
      if why is None:
        break
      _warn(f"checkpoint step {step} in {os.path.join(workdir, DIRNAME)} is {why}; skipped.")
    else:
      return None
  finally:
    mgr.close()
  state = item["state"]
  params = state["params"] if isinstance(state, dict) else state.params
  if like is None:
    return params
  return jax.tree.unflatten(jax.tree.structure(like), jax.tree.leaves(params))
