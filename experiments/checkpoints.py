"""Orbax checkpoints in `<workdir>/checkpoints`: save the training state, resume it, read a finished run's params."""

import logging as std_logging
import os
from typing import Any, Optional

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

DIRNAME = "checkpoints"


def quiet_orbax_logging() -> None:
  """Drops orbax's INFO lines (dozens per checkpoint) from absl's log handler; warnings pass.

  Called by the command-line entry points, not on import.
  """
  handler = logging.get_absl_handler()
  if not any(isinstance(f, _QuietOrbax) for f in handler.filters):
    handler.addFilter(_QuietOrbax())


class _QuietOrbax(std_logging.Filter):

  def filter(self, record: std_logging.LogRecord) -> bool:
    return record.levelno >= std_logging.WARNING or "/orbax/" not in record.pathname.replace("\\", "/")


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


def save(mgr: ocp.CheckpointManager, step: int, item: dict[str, Any]) -> None:
  """Saves `item` (a dict of trees) at `step`."""
  mgr.save(step, args=ocp.args.StandardSave(host(item)), force=True)


def restore(mgr: ocp.CheckpointManager, step: int, like: dict[str, Any]) -> dict[str, Any]:
  """The item saved at `step`, shaped like `like` (a dict of trees)."""
  return mgr.restore(step, args=ocp.args.StandardRestore(zeros_like(like)))


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
  step = mgr.latest_step()
  if step is None:
    mgr.close()
    return None
  item = mgr.restore(step, args=ocp.args.StandardRestore())
  mgr.close()
  state = item["state"]
  params = state["params"] if isinstance(state, dict) else state.params
  if like is None:
    return params
  return jax.tree.unflatten(jax.tree.structure(like), jax.tree.leaves(params))
