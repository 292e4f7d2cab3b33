"""Multi-host helpers: a thin wrapper of `jax.distributed.initialize` and per-process batch slices."""

import os
from typing import NamedTuple, Optional

import jax

from jopt._src import checks

ENV_COORDINATOR = "JOPT_COORDINATOR_ADDRESS"
ENV_NUM_PROCESSES = "JOPT_NUM_PROCESSES"
ENV_PROCESS_ID = "JOPT_PROCESS_ID"


class ProcessInfo(NamedTuple):
  """Where this process sits in a (possibly multi-host) JAX runtime."""

  process_id: int  # jax.process_index()
  num_processes: int  # jax.process_count()
  local_device_count: int  # jax.local_device_count()
  device_count: int  # jax.device_count(), over every process


def process_info() -> ProcessInfo:
  """The current process's `ProcessInfo` (works with or without `initialize_distributed`)."""
  return ProcessInfo(
      jax.process_index(), jax.process_count(), jax.local_device_count(), jax.device_count()
  )


def _env_int(name: str) -> Optional[int]:
  raw = os.environ.get(name)
  if raw is None or raw == "":
    return None
  try:
    return int(raw)
  except ValueError:
    raise ValueError(
        f"initialize_distributed: environment variable {name} must be an integer, got {raw!r}."
    ) from None


def initialize_distributed(
    coordinator_address: Optional[str] = None,
    num_processes: Optional[int] = None,
    process_id: Optional[int] = None,
    *,
    local_device_ids: Optional[list[int]] = None,
    initialization_timeout: int = 300,
) -> ProcessInfo:
  """Joins JAX's multi-process runtime (`jax.distributed.initialize`) and reports this process.

  Each argument left as None is read from the environment: ``JOPT_COORDINATOR_ADDRESS``
  (``"host:port"`` of process 0), ``JOPT_NUM_PROCESSES`` and ``JOPT_PROCESS_ID``.
  If all three are still unset, JAX's own cluster detection runs (Cloud TPU
  pods, SLURM, Open MPI, Kubernetes/GKE, ...). Call it once per process, before
  any other JAX call that touches devices; afterwards `jax.devices()` lists the
  devices of every process and a mesh built from them spans hosts.

  On CPU, cross-process collectives also need
  ``jax.config.update("jax_cpu_collectives_implementation", "gloo")`` before this call.

  Args:
    coordinator_address: ``"host:port"`` of the coordinator (process 0), or None.
    num_processes: the total number of processes (>= 1), or None.
    process_id: this process's index in ``[0, num_processes)``, or None.
    local_device_ids: restrict this process to these local devices (None: all).
    initialization_timeout: seconds to wait for every process to connect.

  Returns:
    `ProcessInfo` of this process after initialisation.
  """
  fn = "initialize_distributed"
  if coordinator_address is None:
    coordinator_address = os.environ.get(ENV_COORDINATOR) or None
  if num_processes is None:
    num_processes = _env_int(ENV_NUM_PROCESSES)
  if process_id is None:
    process_id = _env_int(ENV_PROCESS_ID)
  if coordinator_address is not None and ":" not in coordinator_address:
    raise ValueError(
        f"{fn}: `coordinator_address` must be 'host:port', got {coordinator_address!r}."
    )
  if num_processes is not None and (isinstance(num_processes, bool) or num_processes < 1):
    raise ValueError(f"{fn}: `num_processes` must be >= 1, got {num_processes!r}.")
  if process_id is not None and num_processes is not None and not 0 <= process_id < num_processes:
    raise ValueError(
        f"{fn}: `process_id` must be in [0, {num_processes}), got {process_id!r}."
    )
  given = [v is not None for v in (coordinator_address, num_processes, process_id)]
  if any(given) and not all(given):
    raise ValueError(
        f"{fn}: give all of coordinator_address, num_processes and process_id (arguments or "
        f"{ENV_COORDINATOR}/{ENV_NUM_PROCESSES}/{ENV_PROCESS_ID}) or none of them; got "
        f"coordinator_address={coordinator_address!r}, num_processes={num_processes!r}, "
        f"process_id={process_id!r}."
    )
  jax.distributed.initialize(
      coordinator_address=coordinator_address,
      num_processes=num_processes,
      process_id=process_id,
      local_device_ids=local_device_ids,
      initialization_timeout=initialization_timeout,
  )
  return process_info()


def process_batch_slice(global_batch_size: int) -> slice:
  """The consecutive rows of a global batch that this process loads.

  Process ``i`` of ``n`` gets rows ``[i * B/n, (i + 1) * B/n)``, the order in which
  `make_global_batch` (and `trainer.step` of the mesh variant) reassemble the
  global batch, so a multi-host run sees exactly the single-host batch.

  Args:
    global_batch_size: the batch size over all processes.

  Returns:
    A `slice` into the global batch.
  """
  n, i = jax.process_count(), jax.process_index()
  checks.check_int("process_batch_slice", "global_batch_size", global_batch_size, 1)
  if global_batch_size % n:
    raise ValueError(
        f"process_batch_slice: the global batch size {global_batch_size} is not divisible by the "
        f"{n} processes."
    )
  per = global_batch_size // n
  return slice(i * per, (i + 1) * per)
