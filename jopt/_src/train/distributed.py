"""Multi-host helpers: `jax.distributed.initialize` with a fault watchdog; per-process batches."""

import atexit
import os
import sys
from typing import Any, Callable, NamedTuple, Optional, Union

import jax
from jax._src import distributed as jax_distributed  # the runtime's client, for the watchdog

from jopt._src import checks
from jopt._src.train import watchdog as watchdog_lib

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
    heartbeat_timeout: int = 100,
    watchdog: bool = True,
    describe_progress: Union[str, Callable[[], str], None] = None,
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

  Faults (``watchdog=True``, the default): never a hang, never a C++ stack trace alone. A
  process that dies, is stopped (``SIGSTOP``, a hung host) or raises an uncaught exception
  ends every other process with exit code 75 (``EX_TEMPFAIL``: rerun the command, it
  resumes) and ONE line on stderr, the last one::

    FATAL: lost process 1 of 2 (no heartbeat for more than 100 s; heartbeat_timeout=100); <progress>
    FATAL: lost process 0 of 2, the coordinator at HOST:PORT (its connection closed); <progress>
    FATAL: process 1 of 2 failed (RuntimeError: ...); <progress>

  within ``heartbeat_timeout + 8 * interval + 1`` seconds (117 s for the default 100; 12 s
  for 6), the heartbeat ``interval`` being ``heartbeat_timeout / 10`` clipped to [0.2, 2] s;
  a dead coordinator's closed connection is reported at once. The process that raised prints
  its traceback and exits with code 1 instead of waiting in JAX's shutdown barrier (atexit
  handlers registered after this call still run). A process that never starts ends the
  others after ``initialization_timeout`` seconds with ``FATAL: initialize_distributed:
  process 1 of 2 did not join the coordinator at HOST:PORT within initialization_timeout=300
  s``. ``<progress>`` is ``describe_progress`` (e.g. the launcher's "last checkpoint: step N
  at PATH").

  How: daemon threads write heartbeats to JAX's key-value store and process 0 watches them
  all and posts its verdict for the others; a non-coordinator reaches the coordinator through
  a loopback relay that sees a closed connection before JAX would; ``sys.excepthook`` (outside
  interactive sessions) reports an uncaught exception; JAX itself gets timeouts long enough
  (``2 * heartbeat_timeout + 5`` s, ``initialization_timeout`` + 30 s or more) that these lines
  come before its own abort. Nothing runs in the compiled step. Heartbeats are Python
  threads: ``heartbeat_timeout`` must exceed the longest time the main thread holds the GIL.
  With ``watchdog=False`` the timeouts go to JAX unchanged and JAX's own abort ends the
  survivors. With cluster auto-detection (no address given) there is no relay: a dead
  coordinator is then reported by JAX itself.

  Args:
    coordinator_address: ``"host:port"`` of the coordinator (process 0), or None.
    num_processes: the total number of processes (>= 1), or None.
    process_id: this process's index in ``[0, num_processes)``, or None.
    local_device_ids: restrict this process to these local devices (None: all).
    initialization_timeout: seconds (a positive integer) to wait for every process to join.
    heartbeat_timeout: seconds (a positive integer) without a heartbeat after which a
      process counts as lost.
    watchdog: report lost, stopped and failed peers in one line within the bound above
      (see "Faults").
    describe_progress: a string, or a function returning one (called once, at most 2 s),
      appended to the fatal line; None for nothing.

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
  checks.check_positive_int(fn, "initialization_timeout", initialization_timeout)
  checks.check_positive_int(fn, "heartbeat_timeout", heartbeat_timeout)
  checks.check_bool(fn, "watchdog", watchdog)
  if describe_progress is not None and not (
      isinstance(describe_progress, str) or callable(describe_progress)):
    raise TypeError(
        f"{fn}: `describe_progress` must be a string, a function returning one, or None; got "
        f"{describe_progress!r} ({type(describe_progress).__name__})."
    )
  if not watchdog:
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
        local_device_ids=local_device_ids,
        initialization_timeout=initialization_timeout,
        heartbeat_timeout_seconds=heartbeat_timeout,
    )
    return process_info()

  state = watchdog_lib.RunState(process_id if process_id is not None else -1)
  relay, address = None, coordinator_address
  upstream = watchdog_lib.split_address(coordinator_address) if coordinator_address else None
  if upstream is not None and process_id != 0:
    try:
      relay = watchdog_lib.Forwarder(*upstream, num_processes, state)
      address = relay.address
    except OSError:  # no IPv4 loopback: JAX then talks to the coordinator directly
      relay = None

  def missing() -> str:
    if process_id is None:
      return "not every process joined the coordinator (cluster auto-detection)"
    if process_id == 0:
      who = "process 1 of 2" if num_processes == 2 else (
          f"at least one of processes 1..{num_processes - 1} of {num_processes}")
      return f"{who} did not join the coordinator at {coordinator_address}"
    if relay is not None and not relay.reached.is_set():
      return (f"the coordinator (process 0 of {num_processes}) at {coordinator_address} did not "
              f"answer process {process_id}")
    return (f"not every one of the {num_processes} processes joined the coordinator at "
            f"{coordinator_address} (process {process_id} waited)")

  timer = watchdog_lib.InitTimer(initialization_timeout, missing)
  try:
    jax.distributed.initialize(
        coordinator_address=address,
        num_processes=num_processes,
        process_id=process_id,
        local_device_ids=local_device_ids,
        initialization_timeout=watchdog_lib.jax_initialization_timeout(initialization_timeout),
        heartbeat_timeout_seconds=watchdog_lib.jax_heartbeat_timeout(heartbeat_timeout),
    )
  except BaseException:
    if relay is not None:
      relay.close()
    raise
  finally:
    timer.cancel()
  # Watch before anything else: the backend's own start (gloo's rendezvous) waits for peers.
  global _active
  runtime = jax_distributed.global_state
  if runtime.num_processes == 1:  # no peer to lose
    if relay is not None:
      relay.close()
    return process_info()
  state.process_id = runtime.process_id
  _disarm_on_shutdown(runtime, state)
  dog = watchdog_lib.Watchdog(
      runtime.client, runtime.process_id, runtime.num_processes, heartbeat_timeout, state,
      describe_progress,
  ).start()
  _report_crashes(state, dog)
  _active = state
  if relay is not None:
    relay.progress, relay.armed = describe_progress, True
  return process_info()


_active: Optional[watchdog_lib.RunState] = None  # the watchdog's state, once joined


def report_failure(message: str, exit_code: int = 1) -> None:
  """Marks this process as failed, for a program that ends with `sys.exit` after an error.

  An uncaught exception is reported by the watchdog (see `initialize_distributed`), but a
  `SystemExit` cannot be: without this call the process would wait in JAX's shutdown barrier
  for peers that wait for it (up to JAX's 300 s shutdown timeout). After it, at exit, the
  other processes end with ``FATAL: process K of N failed (message)`` and this one exits
  with `exit_code` (skipping JAX's shutdown). Does nothing without an armed watchdog.

  Args:
    message: what went wrong, on one line (the others print it).
    exit_code: this process's exit code, 1..255.
  """
  fn = "report_failure"
  if not isinstance(message, str):
    raise TypeError(
        f"{fn}: `message` must be a string, got {message!r} ({type(message).__name__})."
    )
  code = checks.check_int(fn, "exit_code", exit_code, 1)
  if code > 255:
    raise ValueError(f"{fn}: `exit_code` must be in 1..255, got {exit_code!r}.")
  state = _active
  if state is None or state.disarmed.is_set():
    return
  state.crash_summary, state.crash_code = " ".join(message.split())[:300], code
  state.crashed.set()


def _disarm_on_shutdown(runtime: Any, state: watchdog_lib.RunState) -> None:
  """Makes `jax.distributed.shutdown` (also run at exit) disarm the watchdog once it succeeded.

  Peers that passed JAX's shutdown barrier exit and close their connections; that is no fault.
  A shutdown that fails or hangs (a peer died meanwhile) leaves the watchdog armed.
  """
  shutdown = type(runtime).shutdown.__get__(runtime)

  def shutdown_then_disarm():
    state.shutting_down.set()
    shutdown()
    state.disarmed.set()
    runtime.__dict__.pop("shutdown", None)

  runtime.shutdown = shutdown_then_disarm


def _report_crashes(state: watchdog_lib.RunState, dog: watchdog_lib.Watchdog) -> None:
  """An uncaught exception in the main thread (outside an interactive session) is reported.

  Without this, the process would wait in JAX's shutdown barrier for peers that wait for it
  in a collective: a hang until JAX's shutdown timeout (300 s). Instead the exception goes
  to the store, the others end with `FATAL: process K of N failed (Type: message)`, and this
  process exits with code 1 after its traceback, skipping JAX's shutdown (atexit handlers
  registered after `initialize_distributed`, such as a checkpointer's, still run first).
  """
  previous = sys.excepthook

  def excepthook(exc_type, exc, tb):
    previous(exc_type, exc, tb)
    if not (hasattr(sys, "ps1") or sys.flags.interactive or state.disarmed.is_set()):
      state.crash_summary = watchdog_lib.summarize(exc)
      state.crashed.set()

  def at_exit():
    if state.crashed.is_set() and not state.disarmed.is_set():
      dog.report_crash()

  sys.excepthook = excepthook
  atexit.register(at_exit)


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
