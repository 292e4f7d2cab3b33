"""Multi-host faults: a killed, stopped, failed or missing peer ends the others with one line."""

import inspect
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import jax
import pytest

import jopt
from jopt._src.train import distributed
from jopt._src.train import watchdog

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "multihost_worker.py")
HEARTBEAT = 6  # heartbeat_timeout of the subprocess tests, seconds
SLACK = 8.0  # scheduling delays on a loaded machine (2 cores shared by many jobs)
START_S = 240  # to start both workers and run a few steps


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


# -- Arguments -----------------------------------------------------------------------------------


def test_signature_keeps_the_positional_arguments_and_adds_keyword_only_timeouts():
  params = inspect.signature(jopt.initialize_distributed).parameters
  assert list(params)[:3] == ["coordinator_address", "num_processes", "process_id"]
  kw = {n: p.default for n, p in params.items() if p.kind is p.KEYWORD_ONLY}
  assert kw == dict(local_device_ids=None, initialization_timeout=300, heartbeat_timeout=100,
                    watchdog=True, describe_progress=None)


@pytest.mark.parametrize("name, value, error", [
    ("heartbeat_timeout", 0, ValueError), ("heartbeat_timeout", -5, ValueError),
    ("heartbeat_timeout", 2.5, ValueError), ("heartbeat_timeout", True, ValueError),
    ("heartbeat_timeout", "10", TypeError), ("heartbeat_timeout", None, TypeError),
    ("initialization_timeout", 0, ValueError), ("initialization_timeout", 1e9, ValueError),
    ("watchdog", "yes", TypeError), ("watchdog", None, TypeError),
    ("describe_progress", 3, TypeError),
])
def test_bad_arguments_are_named_before_joining(monkeypatch, name, value, error):
  monkeypatch.setattr(jax.distributed, "initialize", _must_not_run)
  with pytest.raises(error, match=rf"initialize_distributed: `{name}`.*{re.escape(repr(value))}"):
    jopt.initialize_distributed("127.0.0.1:1234", 2, 1, **{name: value})


def _must_not_run(**kwargs):
  raise AssertionError(f"jax.distributed.initialize ran with {kwargs}")


class _Stop(Exception):
  pass


@pytest.mark.parametrize("process_id", [0, 1])
@pytest.mark.parametrize("use_watchdog", [True, False])
def test_timeouts_reach_jax(monkeypatch, process_id, use_watchdog):
  seen = {}

  def fake_initialize(**kwargs):
    seen.update(kwargs)
    raise _Stop  # stop before the real runtime would be needed

  monkeypatch.setattr(jax.distributed, "initialize", fake_initialize)
  with pytest.raises(_Stop):
    jopt.initialize_distributed("127.0.0.1:1234", 2, process_id, initialization_timeout=40,
                                heartbeat_timeout=7, watchdog=use_watchdog)
  if use_watchdog:  # JAX's own timeouts come after the watchdog's lines
    assert seen["heartbeat_timeout_seconds"] == 2 * 7 + 5
    assert seen["initialization_timeout"] == 40 + 30
    relayed = seen["coordinator_address"] != "127.0.0.1:1234"
    assert relayed == (process_id != 0)  # non-coordinators talk through the loopback relay
  else:
    assert seen["heartbeat_timeout_seconds"] == 7 and seen["initialization_timeout"] == 40
    assert seen["coordinator_address"] == "127.0.0.1:1234"


def test_shutdown_disarms_only_when_it_succeeds():
  class Runtime:
    calls = 0

    def shutdown(self):
      self.calls += 1
      if self.calls == 1:
        raise RuntimeError("barrier failed")

  runtime, state = Runtime(), watchdog.RunState(0)
  distributed._disarm_on_shutdown(runtime, state)  # pylint: disable=protected-access
  with pytest.raises(RuntimeError, match="barrier failed"):
    runtime.shutdown()
  assert state.shutting_down.is_set() and not state.disarmed.is_set()
  runtime.shutdown()  # a failed shutdown left the hook in place; this one succeeds
  assert state.disarmed.is_set() and runtime.calls == 2
  assert "shutdown" not in vars(runtime)


def test_report_failure_checks_its_arguments_and_marks_the_armed_watchdog(monkeypatch):
  with pytest.raises(TypeError, match="report_failure: `message` must be a string, got 3"):
    distributed.report_failure(3)
  for code in (0, 256, 2.0):
    with pytest.raises(ValueError, match=f"report_failure: `exit_code`.*{code!r}"):
      distributed.report_failure("x", code)
  monkeypatch.setattr(distributed, "_active", None)
  distributed.report_failure("no watchdog: nothing to do")
  state = watchdog.RunState(1)
  monkeypatch.setattr(distributed, "_active", state)
  distributed.report_failure("bad\nshard", 2)
  assert state.crashed.is_set() and (state.crash_summary, state.crash_code) == ("bad shard", 2)


# -- The pieces, in process (a fake state records what would end the process) --------------------


class RecordingState(watchdog.RunState):

  def __init__(self):
    super().__init__()
    self.messages, self.culprits = [], []
    self.reported = threading.Event()

  def lost(self, message, progress, *, grace=False, culprits=()):
    if self.disarmed.is_set():
      return
    self.culprits.append(culprits)
    self.messages.append(message + (f"; {watchdog.describe(progress)}" if progress else ""))
    self.reported.set()
    self.disarmed.set()  # stops the watchdog's threads


class FakeStore:
  """JAX's key-value client, in memory; `hang` makes every call block (a stopped coordinator)."""

  def __init__(self):
    self.data, self.lock, self.hang = {}, threading.Lock(), threading.Event()

  def _wait(self):
    while self.hang.is_set():
      time.sleep(0.05)

  def key_value_set(self, key, value, allow_overwrite=False):
    self._wait()
    with self.lock:
      assert allow_overwrite or key not in self.data
      self.data[key] = value

  def key_value_dir_get(self, prefix):
    self._wait()
    with self.lock:
      return [(k, v) for k, v in self.data.items() if k.startswith(prefix)]


def _beat(store, key, until):
  """Writes a counter to `key` every 0.1 s for `until` seconds (or until the event is set)."""
  end = time.monotonic() + until if isinstance(until, float) else None
  i = 0
  while (time.monotonic() < end) if end else not until.is_set():
    i += 1
    store.key_value_set(key, str(i), allow_overwrite=True)
    time.sleep(0.1)


def test_coordinator_names_the_peer_whose_heartbeat_stopped_and_posts_it():
  store, state, timeout = FakeStore(), RecordingState(), 1
  watchdog.Watchdog(store, 0, 3, timeout, state, lambda: "last checkpoint: step 4 at /ckpt").start()
  alive = threading.Event()  # process 1 beats until the end; process 2 stops after 1.5 s
  peers = [threading.Thread(target=_beat, args=(store, f"jopt/watchdog/beat/{p}", until))
           for p, until in ((1, alive), (2, 1.5))]
  for t in peers:
    t.start()
  try:
    assert not state.reported.wait(1.5)  # both beat: nobody is lost
    assert state.reported.wait(watchdog.detection_bound(timeout) + SLACK)
  finally:
    alive.set()
  lost = "lost process 2 of 3 (no heartbeat for more than 1 s; heartbeat_timeout=1)"
  assert state.messages == [lost + "; last checkpoint: step 4 at /ckpt"]
  assert store.data["jopt/watchdog/coordinator/lost"] == "2|" + lost  # for the other survivors
  for t in peers:
    t.join()


def test_non_coordinator_repeats_the_loss_the_coordinator_posted():
  store, state = FakeStore(), RecordingState()
  watchdog.Watchdog(store, 1, 3, 5, state, "mine").start()
  store.key_value_set("jopt/watchdog/coordinator/lost", "2|lost process 2 of 3 (...)")
  assert state.reported.wait(2 + SLACK)
  assert state.messages == ["lost process 2 of 3 (...); mine"] and state.culprits == [(2,)]


@pytest.mark.parametrize("dies", [False, True])
def test_coordinator_names_a_crashed_peer_unless_another_peer_died(dies):
  # Process 1 reports an exception (and keeps beating while it waits at exit). If process 2
  # stopped beating just before, the crash was likely its consequence: process 2 is named.
  store, state, timeout = FakeStore(), RecordingState(), 1
  dog = watchdog.Watchdog(store, 0, 3, timeout, state).start()
  alive = threading.Event()
  peers = [threading.Thread(target=_beat, args=(store, f"jopt/watchdog/beat/{p}", until))
           for p, until in ((1, alive), (2, 0.3 if dies else alive))]
  for t in peers:
    t.start()
  try:
    time.sleep(0.5)
    store.key_value_set("jopt/watchdog/crashed/1", "RuntimeError: boom")
    start = time.monotonic()
    assert state.reported.wait(watchdog.detection_bound(timeout) + SLACK)
    elapsed = time.monotonic() - start
  finally:
    alive.set()
  if dies:
    assert state.messages == [
        "lost process 2 of 3 (no heartbeat for more than 1 s; heartbeat_timeout=1)"]
  else:
    assert elapsed > timeout + 3 * dog.interval  # time for a dead peer to show first
    assert state.messages == ["process 1 of 3 failed (RuntimeError: boom)"]
    assert store.data["jopt/watchdog/coordinator/lost"] == "1|" + state.messages[0]
  for t in peers:
    t.join()


def test_non_coordinator_reports_a_coordinator_that_stopped_answering():
  store, state, timeout = FakeStore(), RecordingState(), 1
  watchdog.Watchdog(store, 1, 2, timeout, state).start()
  beating = threading.Thread(target=_beat, args=(store, "jopt/watchdog/coordinator/beat", 0.5))
  beating.start()
  beating.join()
  assert not state.reported.is_set()
  store.hang.set()  # SIGSTOP: requests are neither answered nor refused
  start = time.monotonic()
  assert state.reported.wait(watchdog.detection_bound(timeout) + SLACK)
  assert time.monotonic() - start >= timeout / 2
  assert re.fullmatch(r"lost process 0 of 2, the coordinator \(no reply for \d+ s\)",
                      state.messages[0]), state.messages
  store.hang.clear()


def _echo_server():
  server = socket.socket()
  server.bind(("127.0.0.1", 0))
  server.listen(1)
  accepted = []

  def serve():
    conn, _ = server.accept()
    accepted.append(conn)
    try:
      while data := conn.recv(1024):
        conn.sendall(data)
    except OSError:  # the test closed it
      pass

  threading.Thread(target=serve, daemon=True).start()
  return server, accepted


@pytest.mark.parametrize("armed", [True, False])
def test_relay_forwards_and_reports_a_closed_coordinator_connection(armed):
  server, accepted = _echo_server()
  port = server.getsockname()[1]
  state = RecordingState()
  relay = watchdog.Forwarder("127.0.0.1", port, 2, state)
  relay.progress = "p"
  with socket.create_connection(("127.0.0.1", int(relay.address.rsplit(":", 1)[1])), 5) as client:
    client.sendall(b"ping" * 1000)
    got = b""
    while len(got) < 4000:
      got += client.recv(4096)
    assert got == b"ping" * 1000 and relay.reached.is_set()
    relay.armed = armed
    accepted[0].shutdown(socket.SHUT_RDWR)  # the coordinator goes away
    accepted[0].close()
    client.settimeout(1.0)
    if armed:
      assert state.reported.wait(5)
      assert state.messages == [
          f"lost process 0 of 2, the coordinator at 127.0.0.1:{port} (its connection closed); p"]
    else:  # while joining, JAX's client sees the close and retries
      assert client.recv(10) == b""
      assert not state.reported.is_set()
  relay.close()
  server.close()


# -- Real processes: two workers on a loopback coordinator, one of them killed or stopped ---------


class Workers:
  """Starts workers (`multihost_worker.py`) with logs in `tmp_path`; kills every one on exit."""

  def __init__(self, tmp_path, ids, extra, num_processes=2, per=None):
    self.port, self.tmp_path = free_port(), tmp_path
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu")
    self.procs, self.logs, self.started = {}, {}, time.monotonic()
    self.mark = self.started  # what `wait_exit` measures from; `fault` moves it
    for i in ids:
      self.logs[i] = tmp_path / f"worker{i}.log"
      with open(self.logs[i], "w") as log:
        self.procs[i] = subprocess.Popen(
            [sys.executable, WORKER, str(self.port), str(i), str(num_processes),
             str(tmp_path / "params.npz"), *extra, *(per or {}).get(i, [])],
            env=env, stdout=log, stderr=subprocess.STDOUT)

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    for p in self.procs.values():
      if p.poll() is None:
        p.kill()  # SIGKILL also ends a stopped process
      p.wait()

  def log(self, i) -> str:
    return self.logs[i].read_text()

  def wait_for_steps(self, n):
    deadline = time.monotonic() + START_S
    while not all(re.search(rf"^step {n}$", self.log(i), re.M) for i in self.procs):
      for i, p in self.procs.items():
        assert p.poll() is None, f"worker {i} exited with {p.returncode}:\n{self.log(i)[-3000:]}"
      assert time.monotonic() < deadline, f"no step {n} after {START_S} s:\n{self.log(0)[-3000:]}"
      time.sleep(0.2)

  def wait_exit(self, i, limit) -> tuple[int, float]:
    """(exit code, seconds since `mark`) of worker i; fails if it runs past `limit` seconds."""
    while self.procs[i].poll() is None:
      assert time.monotonic() - self.mark < limit, (
          f"worker {i} still running {limit:.0f} s after the fault:\n{self.log(i)[-3000:]}")
      time.sleep(0.05)
    return self.procs[i].returncode, time.monotonic() - self.mark

  def wait_for_failure(self, i):
    """Sets the mark when worker i has printed its traceback."""
    deadline = time.monotonic() + START_S
    while "on purpose" not in self.log(i):  # the last line the worker prints
      assert time.monotonic() < deadline, f"worker {i} did not fail:\n{self.log(i)[-3000:]}"
      time.sleep(0.05)
    self.mark = time.monotonic()

  def fault(self, i, sig):
    self.procs[i].send_signal(sig)
    self.mark = time.monotonic()


def assert_one_fatal_line(text, pattern):
  lines = [l for l in text.splitlines() if l.strip() and not l.startswith("[Gloo]")]
  fatal = [l for l in lines if l.startswith("FATAL:")]
  assert len(fatal) == 1 and lines[-1] == fatal[0], text[-3000:]
  assert re.fullmatch(pattern, fatal[0]), fatal[0]
  assert "Check failure stack trace" not in text and "Terminating process" not in text, text[-3000:]


PEER_LOST = (rf"FATAL: lost process 1 of 2 \(no heartbeat for more than {HEARTBEAT} s; "
             rf"heartbeat_timeout={HEARTBEAT}\); worker 0 finished \d+ steps")
CLOSED = (r"FATAL: lost process 0 of 2, the coordinator at 127\.0\.0\.1:\d+ \(its connection "
          r"closed\); worker 1 finished \d+ steps")
NO_REPLY = (r"FATAL: lost process 0 of 2, the coordinator \(no reply for \d+ s\); "
            r"worker 1 finished \d+ steps")
# A closed coordinator connection is reported at once (within the 5 s a shutdown gets to finish).
CLOSED_BOUND = 6.0


@pytest.mark.slow
@pytest.mark.parametrize("victim, sig, pattern, bound", [
    (1, signal.SIGKILL, PEER_LOST, watchdog.detection_bound(HEARTBEAT)),
    (0, signal.SIGKILL, CLOSED, CLOSED_BOUND),
    (1, signal.SIGSTOP, PEER_LOST, watchdog.detection_bound(HEARTBEAT)),
    (0, signal.SIGSTOP, NO_REPLY, watchdog.detection_bound(HEARTBEAT)),
], ids=["kill-worker", "kill-coordinator", "stop-worker", "stop-coordinator"])
def test_a_lost_peer_ends_the_survivor_in_bounded_time(tmp_path, victim, sig, pattern, bound):
  with Workers(tmp_path, [0, 1], ["--forever", f"--heartbeat_timeout={HEARTBEAT}"]) as w:
    w.wait_for_steps(3)
    w.fault(victim, sig)
    rc, elapsed = w.wait_exit(1 - victim, bound + SLACK)
    log = w.log(1 - victim)
  print(f"survivor exited {elapsed:.1f} s after the fault (bound {bound:.0f} s + {SLACK:.0f} s)")
  assert rc == watchdog.EXIT_CODE, log[-3000:]
  assert_one_fatal_line(log, pattern)


@pytest.mark.slow
@pytest.mark.parametrize("present, pattern", [
    (0, r"FATAL: initialize_distributed: process 1 of 2 did not join the coordinator at "
        r"127\.0\.0\.1:\d+ within initialization_timeout=5 s"),
    (1, r"FATAL: initialize_distributed: the coordinator \(process 0 of 2\) at 127\.0\.0\.1:\d+ "
        r"did not answer process 1 within initialization_timeout=5 s"),
], ids=["worker-never-starts", "coordinator-never-starts"])
def test_a_peer_that_never_starts_is_named_after_the_initialization_timeout(tmp_path, present,
                                                                             pattern):
  timeout = 5
  with Workers(tmp_path, [present], [f"--initialization_timeout={timeout}"]) as w:
    # Measured from the launch: the bound includes importing JAX (a few seconds here).
    rc, elapsed = w.wait_exit(present, timeout + 15 + SLACK)
    log = w.log(present)
  print(f"exited {elapsed:.1f} s after the launch (timeout {timeout} s)")
  assert rc == watchdog.EXIT_CODE and elapsed >= timeout, log[-3000:]
  assert_one_fatal_line(log, pattern)


@pytest.mark.slow
@pytest.mark.parametrize("slow", [0, 1])
def test_a_peer_busy_past_the_heartbeat_timeout_before_shutdown_is_not_lost(tmp_path, slow):
  # One worker lingers for 2.5 heartbeat timeouts after training while the other waits in JAX's
  # shutdown barrier: both keep beating, and both exit cleanly (no false alarm).
  hb = 4
  with Workers(tmp_path, [0, 1], [f"--heartbeat_timeout={hb}"],
               per={slow: [f"--linger={2.5 * hb}"]}) as w:
    for i in (0, 1):
      rc, _ = w.wait_exit(i, START_S)
      assert rc == 0 and "FATAL" not in w.log(i), w.log(i)[-3000:]


@pytest.mark.slow
def test_every_survivor_names_the_same_lost_process(tmp_path):
  # Three processes; process 2 is killed. Process 0 finds it stale and posts the verdict in
  # JAX's key-value store; process 1 reads it there and prints the same line.
  with Workers(tmp_path, [0, 1, 2], ["--forever", f"--heartbeat_timeout={HEARTBEAT}", "--batch=24"],
               num_processes=3) as w:
    w.wait_for_steps(3)
    w.fault(2, signal.SIGKILL)
    bound = watchdog.detection_bound(HEARTBEAT)
    results = {i: w.wait_exit(i, bound + SLACK) for i in (0, 1)}
    logs = {i: w.log(i) for i in (0, 1)}
  for i, (rc, elapsed) in results.items():
    print(f"process {i} exited {elapsed:.1f} s after the fault (bound {bound:.0f} + {SLACK:.0f} s)")
    if rc == -signal.SIGABRT and "gloo::EnforceNotMet" in logs[i]:
      # Known limit (README, "Multi-host faults"): a peer killed in the middle of a gloo transfer
      # can leave a partial message that gloo's C++ code aborts on, before any Python runs.
      pytest.xfail(f"process {i}: gloo aborted on a partial transfer from the killed peer")
    assert rc == watchdog.EXIT_CODE, logs[i][-3000:]
    assert_one_fatal_line(logs[i], rf"FATAL: lost process 2 of 3 \(no heartbeat for more than "
                          rf"{HEARTBEAT} s; heartbeat_timeout={HEARTBEAT}\); "
                          rf"worker {i} finished \d+ steps")


FAILED = r"FATAL: process {victim} of 2 failed \({why}\); worker {survivor} finished \d+ steps"


@pytest.mark.slow
@pytest.mark.parametrize("victim, how", [(1, "raise"), (0, "raise"), (1, "exit")])
def test_a_failure_in_one_process_ends_every_process_in_bounded_time(tmp_path, victim, how):
  # Without the watchdog the failed process waits in JAX's shutdown barrier for a peer that
  # waits for it in a collective: 300 s (JAX's shutdown timeout) before anything happens.
  # "raise": an uncaught exception; "exit": `report_failure(...)` then `sys.exit(2)`.
  with Workers(tmp_path, [0, 1], ["--forever", f"--heartbeat_timeout={HEARTBEAT}"],
               per={victim: [f"--{how}_at=3"]}) as w:
    w.wait_for_failure(victim)
    bound = watchdog.detection_bound(HEARTBEAT)
    rc, elapsed = w.wait_exit(1 - victim, bound + SLACK)
    rc_victim, _ = w.wait_exit(victim, bound + SLACK)
    survivor_log, victim_log = w.log(1 - victim), w.log(victim)
  print(f"survivor exited {elapsed:.1f} s after the failure (bound {bound:.0f} + {SLACK:.0f} s)")
  assert rc == watchdog.EXIT_CODE, survivor_log[-3000:]
  if how == "raise":
    why = f"RuntimeError: worker {victim} failed at step 3 on purpose"
    assert rc_victim == 1 and "FATAL" not in victim_log, victim_log[-3000:]
    assert victim_log.rstrip().endswith(why)
  else:
    why = f"worker {victim}: bad shard at step 3"
    assert rc_victim == 2, victim_log[-3000:]
    assert victim_log.rstrip().endswith(f"FATAL: worker {victim}: bad shard on purpose")
  assert_one_fatal_line(survivor_log, FAILED.format(victim=victim, survivor=1 - victim, why=why))


@pytest.mark.slow
def test_a_single_process_run_that_raises_exits_at_once(tmp_path):
  # No peer to tell: the exception ends the process as usual, without waiting for a verdict.
  with Workers(tmp_path, [0], ["--forever", "--heartbeat_timeout=60", "--raise_at=3"],
               num_processes=1) as w:
    w.wait_for_failure(0)
    rc, _ = w.wait_exit(0, 10 + SLACK)
  assert rc == 1, w.log(0)[-3000:]
