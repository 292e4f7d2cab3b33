"""One process of the multi-host test: joins a loopback coordinator and trains with the mesh step.

Run by tests/train/test_multihost.py as
`python multihost_worker.py PORT PROCESS_ID NUM_PROCESSES OUT.npz [--crash]`, with
`XLA_FLAGS=--xla_force_host_platform_device_count=2` in its environment. Process 0
writes the final params to OUT.npz.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: cases, parity


def main(argv):
  port, process_id, num_processes, out = argv[1], int(argv[2]), int(argv[3]), argv[4]
  if "--crash" in argv:
    raise RuntimeError(f"worker {process_id} crashed on purpose")
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  import jopt  # pylint: disable=g-import-not-at-top

  info = jopt.initialize_distributed(
      f"127.0.0.1:{port}", num_processes, process_id, initialization_timeout=60
  )
  # After `initialize_distributed`: importing the test tables builds arrays, which starts the backend.
  from cases import STEPS, make_batches, make_params, mlp_loss  # pylint: disable=g-import-not-at-top
  assert info.local_device_count == 2 and info.device_count == 2 * num_processes, info
  trainer = jopt.make_train_step(mlp_loss, jopt.adam(1e-2), parallel="mesh", shard_opt_state=True)
  state = trainer.init(make_params())
  rows = jopt.process_batch_slice(16)
  for batch in make_batches(STEPS, size=16):
    state, metrics = trainer.step(state, {k: v[rows] for k, v in batch.items()})
  params = {k: np.asarray(v.addressable_data(0)) for k, v in state.params.items()}
  if process_id == 0:
    np.savez(out, loss=np.asarray(metrics["loss"].addressable_data(0)), **params)
  jax.distributed.shutdown()


if __name__ == "__main__":
  main(sys.argv)
