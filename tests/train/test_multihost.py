"""Two processes x two CPU devices on a loopback coordinator train like one process with four devices."""

import os
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import jopt
from cases import STEPS, make_batches, make_params, mlp_loss

pytestmark = pytest.mark.slow  # subprocesses joining a coordinator: the slow lane

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "multihost_worker.py")
TIMEOUT_S = 240


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def run_workers(tmp_path, num_processes=2, extra=None, procs=None):
  """Starts the workers and waits for all; kills every one and fails clearly if any dies or hangs.

  Args:
    tmp_path: where the output and each worker's log go.
    num_processes: how many workers.
    extra: {process_id: [extra args]}.
    procs: a list that receives the `Popen` objects (to inspect them afterwards).

  Returns:
    The path of the npz process 0 wrote.
  """
  port, out = free_port(), str(tmp_path / "params.npz")
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
  procs = [] if procs is None else procs
  logs = []
  for i in range(num_processes):
    log = open(tmp_path / f"worker{i}.log", "w+")
    args = [sys.executable, WORKER, str(port), str(i), str(num_processes), out]
    args += (extra or {}).get(i, [])
    procs.append(subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT))
    logs.append(log)

  def tail(i):
    logs[i].flush()
    logs[i].seek(0)
    return logs[i].read()[-3000:]

  try:
    deadline = time.monotonic() + TIMEOUT_S
    while any(p.poll() is None for p in procs):
      for i, p in enumerate(procs):
        if p.poll() not in (None, 0):
          raise AssertionError(
              f"multi-host worker {i} of {num_processes} died with exit code {p.returncode}; "
              f"its output:\n{tail(i)}"
          )
      if time.monotonic() > deadline:
        raise AssertionError(
            f"multi-host workers still running after {TIMEOUT_S} s; output of worker 0:\n{tail(0)}"
        )
      time.sleep(0.2)
    for i, p in enumerate(procs):
      if p.returncode != 0:
        raise AssertionError(f"multi-host worker {i} exited with {p.returncode}:\n{tail(i)}")
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.wait()
    for log in logs:
      log.close()
  return out


def test_two_processes_equal_one_process_with_four_devices(tmp_path):
  out = np.load(run_workers(tmp_path))
  assert jax.device_count() == 4
  trainer = jopt.make_train_step(mlp_loss, jopt.adam(1e-2), parallel="mesh")
  state = trainer.init(make_params())
  for batch in make_batches(STEPS, size=16):
    state, metrics = trainer.step(state, batch)
  for k, v in state.params.items():
    np.testing.assert_allclose(out[k], v, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(out["loss"], metrics["loss"], rtol=1e-5)


def test_a_dead_worker_fails_fast_with_its_output(tmp_path):
  procs = []
  with pytest.raises(AssertionError, match=r"(?s)worker 1 of 2 died.*crashed on purpose"):
    run_workers(tmp_path, extra={1: ["--crash"]}, procs=procs)
  # Worker 0 would wait for its peer in `initialize` for a minute: it was killed instead.
  assert procs[0].returncode == -9
