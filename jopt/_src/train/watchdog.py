"""Multi-host watchdog: a lost, stopped, failed or missing peer ends the others with one line.

JAX's distributed runtime notices a dead peer only after its own heartbeat timeout and then
aborts the process with a C++ stack trace ("another task died"); a dead coordinator aborts the
survivors at once, the same way. This module puts three small pieces around
`jax.distributed.initialize`, all on daemon threads and none in a compiled step:

- `Watchdog`: every process writes a heartbeat counter to JAX's key-value store every
  `interval` seconds. Process 0 reads every counter; a counter that has not moved for
  `timeout` seconds of successful reads names a lost process. Process 0 posts the loss in the
  store (so every survivor names the same process), waits two intervals, and exits; the others
  read the post, or notice that the coordinator stopped answering.
- `Forwarder`: a non-coordinator reaches the coordinator through a loopback TCP relay, so the
  closed connection of a dead coordinator is seen here first (and reported in one line)
  instead of by JAX's error-polling RPC, which would abort the process.
- `InitTimer`: a join that does not finish within the initialization timeout is reported by
  name before JAX's own (longer) timeout would abort.

A process whose main thread raised reports its exception through the store instead of waiting
in JAX's shutdown barrier for peers that wait for it (`Watchdog.report_crash`). Each piece
ends the process through `fatal_exit`: one `FATAL: ...` line on stderr and
`os._exit(EXIT_CODE)` (or `exit_now(1)`, silently, for the process that raised).
"""

import os
import socket
import sys
import threading
import time
from typing import Callable, NoReturn, Optional, Union

EXIT_CODE = 75  # EX_TEMPFAIL: this process was ended by a peer's fault; a rerun resumes the run

Progress = Union[str, Callable[[], str], None]

_PREFIX = "jopt/watchdog/"
_BEAT = _PREFIX + "beat/"  # _BEAT + str(process_id): that process's heartbeat counter
_COORDINATOR = _PREFIX + "coordinator/"  # what every non-coordinator reads each interval
_COORDINATOR_BEAT = _COORDINATOR + "beat"
_COORDINATOR_LOST = _COORDINATOR + "lost"  # posted by process 0: "culprits|the line to print"
_CRASHED = _PREFIX + "crashed/"  # _CRASHED + str(process_id): that process's exception, in one line

_fatal_lock = threading.Lock()


def _run_with_timeout(fn: Callable[[], object], seconds: float) -> object:
  """`fn()` on a helper thread; None if it raises or takes longer than `seconds` (never a hang)."""
  box = []

  def target():
    try:
      box.append(fn())
    except BaseException:  # pylint: disable=broad-except
      pass

  thread = threading.Thread(target=target, daemon=True)
  thread.start()
  thread.join(seconds)
  return box[0] if box else None


def describe(progress: Progress) -> str:
  """The user's progress text (a string, or a callable's result within 2 s), on one line."""
  if progress is None:
    return ""
  text = progress if isinstance(progress, str) else _run_with_timeout(progress, 2.0)
  return " ".join(str(text).split()) if text else ""


def fatal_exit(message: str, progress: Progress = None) -> NoReturn:
  """Writes `FATAL: message; progress` as one line on stderr and ends the process with `EXIT_CODE`.

  See `exit_now`; the progress text is asked for once the exit is decided.
  """
  _end(EXIT_CODE, lambda: "FATAL: " + " ".join(message.split()) + (
      f"; {extra}" if (extra := describe(progress)) else ""))


def exit_now(code: int) -> NoReturn:
  """Ends the process with `code` and no message (skipping atexit handlers)."""
  _end(code, None)


def _end(code: int, line: Optional[Callable[[], str]]) -> NoReturn:
  """The first caller wins (a second thread that gets here waits for the exit). Python's own
  buffers are flushed first, within 1 s (a stalled pipe must not turn the exit into a hang),
  so that the line comes last."""
  if not _fatal_lock.acquire(blocking=False):
    while True:
      time.sleep(3600)
  try:
    text = line() if line is not None else None

    def flush():
      for stream in (sys.stdout, sys.stderr):
        if stream is not None:
          stream.flush()

    _run_with_timeout(flush, 1.0)
    if text:
      os.write(2, (text + "\n").encode("utf-8", "replace"))
  finally:
    os._exit(code)  # pylint: disable=protected-access


def interval_for(timeout: float) -> float:
  """Seconds between heartbeats: a tenth of the timeout, within [0.2, 2]."""
  return min(max(timeout / 10.0, 0.2), 2.0)


def detection_bound(timeout: float) -> float:
  """The stated bound: a lost or crashed peer ends every survivor within this many seconds."""
  return timeout + 8 * interval_for(timeout) + 1.0


def jax_heartbeat_timeout(timeout: int) -> int:
  """The heartbeat timeout handed to JAX: late enough that the watchdog always speaks first."""
  return 2 * timeout + 5


def jax_initialization_timeout(timeout: int) -> int:
  """The initialization timeout handed to JAX: late enough that `InitTimer` always speaks first."""
  return timeout + max(30, timeout // 10)


class RunState:
  """Armed (running), crashed, shutting down (inside `jax.distributed.shutdown`) or disarmed (done).

  A clean shutdown passes JAX's shutdown barrier, after which peers exit and connections close:
  `lost` ignores that. A process whose main thread raised (`crashed`) and is named among the
  culprits exits with `crash_code` (1) and no line: its traceback is its message.
  """

  def __init__(self, process_id: int = -1):
    self.process_id = process_id
    self.shutting_down = threading.Event()
    self.disarmed = threading.Event()
    self.crashed = threading.Event()
    self.crash_summary, self.crash_code = "", 1

  def lost(self, message: str, progress: Progress, *, grace: bool = False,
           culprits: tuple[int, ...] = ()) -> None:
    """Exits with `message` unless the run ended normally.

    With `grace` (a closed connection, a failing store: what a clean shutdown also causes), a
    shutdown in progress gets 5 s to finish first. A stale heartbeat needs none: peers beat
    until they have passed the shutdown barrier.
    """
    if self.disarmed.is_set():
      return
    if self.crashed.is_set() and self.process_id in culprits:
      exit_now(self.crash_code)
    if grace and self.shutting_down.is_set() and self.disarmed.wait(5.0):
      return
    fatal_exit(message, progress)


def summarize(exc: BaseException) -> str:
  """`Type: message` of an exception, on one line of at most 300 characters."""
  text = " ".join(f"{type(exc).__name__}: {exc}".split())
  return text if len(text) <= 300 else text[:297] + "..."


class Watchdog:
  """Heartbeats through JAX's key-value store; ends the process when a peer stops or fails.

  Process 0 is the judge: it reads every heartbeat and every crash report, and posts its
  verdict (`culprits|message`) for the others. A peer whose heartbeat stood still for
  `timeout` seconds is lost. A peer whose main thread raised reports the crash and keeps
  beating; if no heartbeat goes stale within `timeout` plus three intervals (the crash may have
  been caused by a peer that died: then that peer is named), the crashed processes are
  named. The others read the verdict each interval; a non-coordinator that gets no answer
  from process 0 for `timeout` seconds reports process 0 lost.

  Args:
    client: `jax._src.distributed.global_state.client` after `jax.distributed.initialize`.
    process_id: this process's index.
    num_processes: the number of processes.
    timeout: seconds without a heartbeat after which a peer is lost.
    state: shared with the `Forwarder`; `jax.distributed.shutdown` disarms it.
    progress: text (or a callable giving it) appended to the fatal line.
  """

  def __init__(self, client, process_id: int, num_processes: int, timeout: float,
               state: RunState, progress: Progress = None):
    self.client, self.process_id, self.num_processes = client, process_id, num_processes
    self.timeout, self.state, self.progress = float(timeout), state, progress
    self.interval = interval_for(timeout)
    self._lock = threading.Lock()
    now = time.monotonic()
    self._last_ok = now  # the end of the last successful round trip to the store
    self._in_call_since: Optional[float] = None
    self._failing_since: Optional[float] = None
    watched = range(num_processes) if process_id == 0 else [0]
    self._seen = {p: (None, now) for p in watched if p != process_id}  # p: (counter, changed at)
    self._crashes: dict[int, tuple[str, float]] = {}  # process 0: p -> (summary, first seen)

  def start(self) -> "Watchdog":
    threading.Thread(target=self._beat_loop, name="jopt-watchdog-beat", daemon=True).start()
    threading.Thread(target=self._judge_loop, name="jopt-watchdog-judge", daemon=True).start()
    return self

  def _round_trip(self, counter: int) -> tuple[dict[int, str], dict[int, str], Optional[str]]:
    """Writes this process's counter; returns the watched counters, the crash reports (process
    0) and the posted verdict (the others)."""
    c = self.client
    if self.process_id == 0:
      c.key_value_set(_COORDINATOR_BEAT, str(counter), allow_overwrite=True)
      beats = {int(k.rsplit("/", 1)[-1]): v for k, v in c.key_value_dir_get(_BEAT)}
      crashes = {int(k.rsplit("/", 1)[-1]): v for k, v in c.key_value_dir_get(_CRASHED)}
      return beats, crashes, None
    c.key_value_set(_BEAT + str(self.process_id), str(counter), allow_overwrite=True)
    entries = dict(c.key_value_dir_get(_COORDINATOR))
    return {0: entries.get(_COORDINATOR_BEAT)}, {}, entries.get(_COORDINATOR_LOST)

  def _beat_loop(self) -> None:
    counter = 0
    while not self.state.disarmed.is_set():
      counter += 1
      with self._lock:
        self._in_call_since = time.monotonic()
      try:
        beats, crashes, posted = self._round_trip(counter)
      except Exception:  # pylint: disable=broad-except
        # The store failed to answer (the coordinator is gone, or JAX is shutting down): the
        # judge decides from how long it has been failing.
        with self._lock:
          self._in_call_since = None
          if self._failing_since is None:
            self._failing_since = time.monotonic()
        time.sleep(self.interval)
        continue
      now = time.monotonic()
      with self._lock:
        self._in_call_since = self._failing_since = None
        self._last_ok = now
        for p, (old, changed) in self._seen.items():
          new = beats.get(p)
          if new is not None and new != old:
            self._seen[p] = (new, now)
        for p, summary in crashes.items():
          self._crashes.setdefault(p, (summary, now))
      if posted:
        names, _, message = posted.partition("|")
        culprits = tuple(int(p) for p in names.split(",") if p.isdigit())
        self.state.lost(message, self.progress, culprits=culprits)
      time.sleep(self.interval)

  def report_crash(self) -> NoReturn:
    """Called at exit after the main thread raised: reports the crash, waits for the verdict.

    The verdict ends the process (`state.crash_code` when it names this process, else 75 and
    the line); if none comes in time, `state.crash_code`.
    """
    now = time.monotonic()
    if self.process_id == 0:
      with self._lock:
        self._crashes.setdefault(0, (self.state.crash_summary, now))
    else:
      try:
        self.client.key_value_set(_CRASHED + str(self.process_id), self.state.crash_summary,
                                  allow_overwrite=True)
      except Exception:  # pylint: disable=broad-except
        pass
    time.sleep(2 * detection_bound(self.timeout) + 5.0)
    exit_now(self.state.crash_code)

  def _judge_loop(self) -> None:
    while not self.state.disarmed.wait(self.interval / 2):
      now = time.monotonic()
      with self._lock:
        # A peer is lost when its counter stood still through `timeout` seconds of our own
        # successful reads: if this process was starved, `_last_ok` stood still too.
        stale = sorted(p for p, (_, changed) in self._seen.items()
                       if self._last_ok - changed > self.timeout)
        # A crash is named only after a dead peer (its likely cause) would have gone stale.
        last_ok = self._last_ok
        waited = now - last_ok
        stuck = (self._in_call_since is not None and now - self._in_call_since > self.timeout / 2)
        failing = self._failing_since is not None
        crashes = dict(self._crashes)
      if stale:
        self._verdict(stale, f"(no heartbeat for more than {self.timeout:g} s; "
                             f"heartbeat_timeout={self.timeout:g})", "lost")
      elif crashes and (last_ok - min(t for _, t in crashes.values())
                        > self.timeout + 3 * self.interval):
        first = min(crashes, key=lambda p: crashes[p][1])
        detail = crashes[first][0] if len(crashes) == 1 else f"process {first}: {crashes[first][0]}"
        self._verdict(sorted(crashes), f"({detail})", "failed")
      elif waited > self.timeout and (stuck or failing):
        if self.process_id == 0:
          self.state.lost(
              f"the coordination service of process 0 stopped answering for {waited:.0f} s",
              self.progress, grace=True)
        else:
          how = "no reply" if stuck else "its requests fail"
          self.state.lost(
              f"lost process 0 of {self.num_processes}, the coordinator ({how} for {waited:.0f} s)",
              self.progress, grace=True)

  def _verdict(self, culprits: list[int], why: str, what: str) -> None:
    names = ", ".join(map(str, culprits))
    noun = "process" if len(culprits) == 1 else "processes"
    message = (f"lost {noun} {names} of {self.num_processes} {why}" if what == "lost" else
               f"{noun} {names} of {self.num_processes} failed {why}")
    if self.process_id == 0 and not self.state.disarmed.is_set():
      # Post the verdict so every survivor prints the same names, then give them time to read it.
      try:
        self.client.key_value_set(_COORDINATOR_LOST, ",".join(map(str, culprits)) + "|" + message,
                                  allow_overwrite=True)
        time.sleep(min(2 * self.interval, 5.0))
      except Exception:  # pylint: disable=broad-except
        pass
    self.state.lost(message, self.progress, culprits=tuple(culprits))


def split_address(address: str) -> Optional[tuple[str, int]]:
  """`("host", port)` of `"host:port"` or `"[v6]:port"`; None if it does not parse."""
  host, sep, port = address.rpartition(":")
  if not sep or not port.isdigit() or not host:
    return None
  return host.strip("[]"), int(port)


class Forwarder:
  """A loopback TCP relay from this process's JAX client to the coordinator.

  JAX's client polls the coordinator with a long-lived RPC and aborts the process when the
  connection drops. Through this relay the drop is seen here: once armed, a closed or
  refused coordinator connection ends the process with one line naming process 0.
  Traffic is the coordination service's own (heartbeats, key-value store, barriers): small.
  """

  def __init__(self, host: str, port: int, num_processes: int, state: RunState):
    self.upstream = (host, port)
    self.num_processes, self.state = num_processes, state
    self.progress: Progress = None
    self.armed = False
    self.reached = threading.Event()  # the coordinator accepted a connection at least once
    self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    self._listener.bind(("127.0.0.1", 0))
    self._listener.listen(16)
    self.address = "127.0.0.1:%d" % self._listener.getsockname()[1]
    threading.Thread(target=self._accept_loop, name="jopt-watchdog-relay", daemon=True).start()

  def close(self) -> None:
    """Stops accepting connections (when joining failed)."""
    self._listener.close()

  def _lost(self, why: str) -> None:
    if self.armed:
      host, port = self.upstream
      self.state.lost(
          f"lost process 0 of {self.num_processes}, the coordinator at {host}:{port} ({why})",
          self.progress, grace=True)

  def _accept_loop(self) -> None:
    while True:
      try:
        down, _ = self._listener.accept()
      except OSError:
        return
      try:
        up = socket.create_connection(self.upstream, timeout=10)
        up.settimeout(None)
      except OSError as e:
        self._lost(f"it refuses connections: {e.strerror or e}")
        down.close()  # joining (or shut down): JAX's client retries
        continue
      self.reached.set()
      for s in (down, up):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
      pair = {"closed": False, "lock": threading.Lock()}
      for src, dst, from_up in ((down, up, False), (up, down, True)):
        threading.Thread(target=self._pump, args=(src, dst, from_up, pair),
                         name="jopt-watchdog-relay", daemon=True).start()

  def _pump(self, src: socket.socket, dst: socket.socket, from_up: bool, pair: dict) -> None:
    coordinator_gone = from_up  # when `src` ends; when writing to `dst` fails, it is `dst`'s side
    try:
      while data := src.recv(1 << 16):
        try:
          dst.sendall(data)
        except OSError:
          coordinator_gone = not from_up
          break
    except OSError:
      pass
    with pair["lock"]:
      first, pair["closed"] = not pair["closed"], True
    if first:  # the side that ended first says who closed; the other pump only follows
      if coordinator_gone:
        # Armed, this exits: JAX's client must not see the closed connection (it would abort).
        self._lost("its connection closed")
      for s in (src, dst):
        try:
          s.shutdown(socket.SHUT_RDWR)
        except OSError:
          pass
    src.close()


class InitTimer:
  """Ends the process with one line if joining takes longer than `timeout` seconds."""

  def __init__(self, timeout: int, describe_missing: Callable[[], str]):
    self._done = threading.Event()
    self._timeout, self._describe = timeout, describe_missing
    threading.Thread(target=self._run, name="jopt-watchdog-init", daemon=True).start()

  def _run(self) -> None:
    if not self._done.wait(self._timeout):
      fatal_exit(f"initialize_distributed: {self._describe()} within "
                 f"initialization_timeout={self._timeout} s")

  def cancel(self) -> None:
    self._done.set()
