"""One process of the multi-host tests: joins a loopback coordinator and trains with the mesh step.

Run by tests/train/test_multihost.py and test_multihost_faults.py as
`python multihost_worker.py PORT PROCESS_ID NUM_PROCESSES OUT.npz [OPTIONS]`, with
`XLA_FLAGS=--xla_force_host_platform_device_count=2` in its environment. Process 0
writes the final params to OUT.npz. Options:

  --crash                 raise before joining.
  --forever               train until killed, printing `step N` after each step (the fault tests).
  --linger=S              sleep S seconds after training, before `jax.distributed.shutdown`.
  --raise_at=N            raise an exception after step N (a crash with a Python traceback).
  --exit_at=N             after step N, `report_failure("bad shard", 2)` and `sys.exit(2)`.
  --batch=B               the global batch size (16; divisible by 2 * NUM_PROCESSES).
  --heartbeat_timeout=S, --initialization_timeout=S, --no_watchdog: passed to
                          `jopt.initialize_distributed`.
"""

import itertools
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: cases, parity


def main(argv):
  port, process_id, num_processes, out = argv[1], int(argv[2]), int(argv[3]), argv[4]
  opts = dict(a[2:].partition("=")[::2] for a in argv[5:])
  if "crash" in opts:
    raise RuntimeError(f"worker {process_id} crashed on purpose")
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  import jopt  # pylint: disable=g-import-not-at-top
  from jopt._src.train.distributed import report_failure  # pylint: disable=g-import-not-at-top

  done = [0]
  info = jopt.initialize_distributed(
      f"127.0.0.1:{port}", num_processes, process_id,
      initialization_timeout=int(opts.get("initialization_timeout", 60)),
      heartbeat_timeout=int(opts.get("heartbeat_timeout", 100)),
      watchdog="no_watchdog" not in opts,
      describe_progress=lambda: f"worker {process_id} finished {done[0]} steps",
  )
  # After `initialize_distributed`: importing the test tables builds arrays, which starts the backend.
  from cases import STEPS, make_batches, make_params, mlp_loss  # pylint: disable=g-import-not-at-top
  assert info.local_device_count == 2 and info.device_count == 2 * num_processes, info
  trainer = jopt.make_train_step(mlp_loss, jopt.adam(1e-2), parallel="mesh", shard_opt_state=True)
  state = trainer.init(make_params())
  batch_size = int(opts.get("batch", 16))
  rows = jopt.process_batch_slice(batch_size)
  batches = make_batches(STEPS, size=batch_size)
  for batch in itertools.cycle(batches) if "forever" in opts else batches:
    state, metrics = trainer.step(state, {k: v[rows] for k, v in batch.items()})
    if "forever" in opts:
      float(metrics["loss"].addressable_data(0))  # wait for the step (and its collectives)
      done[0] += 1
      print(f"step {done[0]}", flush=True)
      if done[0] == int(opts.get("raise_at", 0)):
        raise RuntimeError(f"worker {process_id} failed at step {done[0]} on purpose")
      if done[0] == int(opts.get("exit_at", 0)):
        print(f"FATAL: worker {process_id}: bad shard on purpose", file=sys.stderr, flush=True)
        report_failure(f"worker {process_id}: bad shard at step {done[0]}", 2)
        sys.exit(2)
      time.sleep(0.05)
  params = {k: np.asarray(v.addressable_data(0)) for k, v in state.params.items()}
  if process_id == 0:
    np.savez(out, loss=np.asarray(metrics["loss"].addressable_data(0)), **params)
  time.sleep(float(opts.get("linger", 0)))
  jax.distributed.shutdown()


if __name__ == "__main__":
  main(sys.argv)
