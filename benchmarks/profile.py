"""Where a many-leaf step's time goes: `python -m benchmarks.profile [--tree iii]`.

Prints, for one tree of `benchmarks.trees` and in one process (interleaved, medians):
- the floor of any jitted tree-in/tree-out step: a per-leaf `p + g` with donated `p` (one kernel and one
  output buffer per leaf, no optimizer), and a bare concatenation of the gradient leaves;
- optax adam, jopt adam and `jopt.fused(adam)` on the same tree (`--jopt-first` swaps the first two in
  each round: the one timed second is the slower, though their HLO is the same), and jopt adam on the
  params kept flat (`make_train_step(..., flat=True)`'s storage: no tree in or out, below that floor);
- the optimized HLO of optax's and jopt's adam step on 50 leaves: number of fusions (kernels).
"""

import argparse
import collections
import re
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jopt
from benchmarks import trees as trees_lib
from benchmarks.run import _step_fn
from jopt._src.train import trainer as trainer_lib


def _step(tx):
  return _step_fn(tx, jopt.apply_updates)  # the suite's jitted update + apply step, donating params and state


def hlo_ops(lib, n_leaves: int = 50) -> collections.Counter:
  """Op counts in the entry computation of `lib.adam`'s optimized step on `n_leaves` leaves of 1000."""
  params = {f"p{i:03d}": jnp.ones((1000,)) for i in range(n_leaves)}
  tx = lib.adam(1e-3)
  text = _step(tx).lower(params, tx.init(params), params).compile().as_text()
  entry = text[text.index("ENTRY"):]
  return collections.Counter(re.findall(r"= \S+ (\w[\w-]*)\(", entry))


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--tree", default="iii")
  parser.add_argument("--rounds", type=int, default=40)
  parser.add_argument("--jopt-first", action="store_true", help="run jopt adam before optax adam in each round")
  args = parser.parse_args(argv)
  params = trees_lib.make_tree(args.tree)
  grads = jax.tree.map(lambda x: 0.01 * jnp.ones_like(x), params)
  copy = lambda t: jax.tree.map(jnp.array, t)
  variants = {
      "floor: per-leaf p + g": (jax.jit(lambda p, g: (jax.tree.map(jnp.add, p, g),), donate_argnums=0),
                                [copy(params)]),
      "floor: concat grads": (jax.jit(lambda g: jnp.concatenate([jnp.ravel(x) for x in jax.tree.leaves(g)])),
                              None),
  }
  adams = [("optax adam", optax.adam(1e-3)), ("jopt adam", jopt.adam(1e-3))]
  if args.jopt_first:
    adams.reverse()
  for name, tx in adams + [("jopt.fused adam", jopt.fused(jopt.adam(1e-3)))]:
    variants[name] = (_step(tx), [copy(params), tx.init(params)])
  flat = trainer_lib.make_train_step(lambda p, b: 0.0, jopt.adam(1e-3), flat=True)
  flat_params = flat.flat_params(params)
  variants["flat adam (FlatParams)"] = (
      lambda p, s, g, fn=_step(flat.flat_tx), fg=flat.flat_params(grads): fn(p, s, fg),
      [flat_params, flat.flat_tx.init(flat_params)])
  times = {k: [] for k in variants}
  for r in range(args.rounds + 1):
    for name, (fn, state) in variants.items():
      t0 = time.perf_counter()
      out = fn(grads) if state is None else fn(*state, grads)
      jax.block_until_ready(out)
      if r:
        times[name].append(time.perf_counter() - t0)
      if state is not None:
        variants[name] = (fn, list(out))
  print(f"tree {args.tree}: {len(jax.tree.leaves(params))} leaves; median ms over {args.rounds} rounds")
  for name, t in times.items():
    print(f"  {name:24s} {np.median(t) * 1e3:8.2f}")
  for lib in (optax, jopt):
    ops = hlo_ops(lib)
    print(f"{lib.__name__} adam on 50 leaves, optimized HLO entry: {ops['fusion']} fusions, "
          f"{ops['copy']} copies")


if __name__ == "__main__":
  main()
