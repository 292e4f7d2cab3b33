"""Flat parameter storage against optax and `jopt.fused`: `python -m benchmarks.flat [--quick]` (also run by `benchmarks.run`).

Three sections, each in one process, every variant compiled first and then
timed interleaved round-robin, `rounds` turns each: in a turn, untimed steps
for 20 ms, then a timed burst of back-to-back steps (at least 30 ms, at least
one step; the sample is its time per step). Machine load hits all variants
alike; reported: the median and IQR of the samples in ms, and the ratio to
optax (and to the roofline) as the median and IQR of the per-round ratios
(each round's samples were taken within a few hundred ms of each other, so the
ratio cancels most of the load that a shared machine adds to both).

1. The optimizer step alone (Adam: update + apply, params and state donated) on
   the trees of `benchmarks.trees` (i) one 10M leaf, (ii) 100 leaves of
   (400, 250), (iii) 1000 leaves of 1000, (iv) 5000 leaves of 16: optax on the
   tree, `jopt.fused` on the tree, jopt on flat buffers (`FlatParams`, the
   storage of `make_train_step(..., flat=True)`), and the roofline kernel (Adam
   on one flat f32 buffer written by hand).
2. Whole training steps (forward, backward, Adam update) on a many-leaf MLP,
   the flax transformer of `benchmarks.trees` and a small flax CNN: optax's
   loop, the same loop with `jopt.fused`, the same loop on flat buffers, and
   `make_train_step` with ``flat=False`` / ``flat=True`` (which also compute
   the loss, gradient and update norms and the finiteness flag).
3. Lower + compile time of the 6-transform chain (`benchmarks.run.chain6`) on
   50 and 2000 leaves (`--flat-compile-leaves`; `--quick`: 50): optax,
   `jopt.fused`, flat.

Nothing here is CPU-specific: with `jax[cuda]` installed the same command
times the GPU (the header records the backend and device; add
``--out benchmarks/results/gpu`` to keep the CPU results). Results:
`benchmarks/results/flat.json` and `flat.md`.
"""

import argparse
import gc
import os
import time
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jopt
from benchmarks import run as run_lib
from benchmarks import trees as trees_lib
from jopt._src.train import flat as flat_lib
from jopt._src.train import trainer as trainer_lib

LR = 1e-3


def _stats(times: list) -> dict:
  a = np.asarray(times) * 1e3
  q1, med, q3 = np.percentile(a, [25, 50, 75])
  return {"median_ms": float(med), "iqr_ms": float(q3 - q1), "n": int(a.size)}


def _ratio(times: list, base: list) -> tuple:
  """Median and IQR of the per-round ratios `times[r] / base[r]`."""
  r = np.asarray(times) / np.asarray(base)
  q1, med, q3 = np.percentile(r, [25, 50, 75])
  return float(med), float(q3 - q1)


def _flat_trainer(tx: Any, loss: Callable[..., Any] = lambda p, b: 0.0) -> flat_lib.FlatTrainer:
  return trainer_lib.make_train_step(loss, tx, flat=True)


class Timed:
  """One compiled step `fn(carry, batch) -> out`; `next_carry(out)` is the next call's carry."""

  def __init__(self, name: str, fn: Callable[..., Any], carry: Any, batch: Any,
               next_carry: Callable[[Any], Any] = lambda out: out):
    self.name, self.fn, self.carry, self.batch, self.next_carry = name, fn, carry, batch, next_carry
    self.times: list = []
    t0 = time.perf_counter()
    self.call()  # compile + first step
    self.first_call_s = time.perf_counter() - t0

  def call(self) -> float:
    t0 = time.perf_counter()
    out = self.fn(self.carry, self.batch)
    jax.block_until_ready(out)
    dt = time.perf_counter() - t0
    self.carry = self.next_carry(out)
    return dt


WARM_S = 0.02
BURST_S = 0.03


def _interleave(variants: list, rounds: int) -> None:
  """Round-robin timing of steady back-to-back steps, as a training loop runs them.

  In each turn a variant runs untimed steps for `WARM_S` seconds (at least
  one), then a timed burst of steps for `BURST_S` seconds (at least one): the
  sample is the burst's time per step. Each round starts one variant later
  than the last, so no variant always follows the same one. The first steps after another variant's
  wait for the scheduler: on this loaded 2-core machine, a 0.2 ms step timed
  right after a 130 ms one takes 4-8 ms. Python's garbage collector runs
  between turns, never inside a timed burst (a tree step creates thousands of
  arrays).
  """
  enabled = gc.isenabled()
  gc.disable()
  try:
    for r in range(rounds):
      for v in variants[r % len(variants):] + variants[:r % len(variants)]:  # rotate the order
        gc.collect()
        t0 = time.perf_counter()
        v.call()
        while time.perf_counter() - t0 < WARM_S:
          v.call()
        total, steps = 0.0, 0
        while steps == 0 or total < BURST_S:
          total += v.call()
          steps += 1
        v.times.append(total / steps)
  finally:
    if enabled:
      gc.enable()


# --- 1. the optimizer step alone ---


def optimizer_step(tree_name: str, rounds: int, quick: bool, log) -> list:
  """Adam update + apply on one tree: optax, jopt.fused, flat buffers, roofline."""
  params = trees_lib.make_tree(tree_name, quick)
  leaves = jax.tree.leaves(params)
  n = sum(l.size for l in leaves)
  grads = jax.tree.map(lambda x: 0.01 * jnp.ones_like(x), params)
  log(f"optimizer step, tree {tree_name}: {len(leaves)} leaves, {n:,} params")
  flat = jnp.full((n,), 0.1, jnp.float32)
  variants = [run_lib.Variant("roofline", flat, 0.01 * jnp.ones_like(flat), roofline=True),
              run_lib.Variant("optax", params, grads, optax.adam(LR)),
              run_lib.Variant("jopt.fused", params, grads, jopt.fused(jopt.adam(LR)))]
  trainer = _flat_trainer(jopt.adam(LR))
  variants.append(run_lib.Variant("flat", trainer.flat_params(params), trainer.flat_params(grads),
                                  trainer.flat_tx))
  for v in variants:
    log(f"  {v.name:11s} compiled in {v.compile_s:6.2f} s")
  _interleave(variants, rounds)
  by_name = {v.name: v.times for v in variants}
  rows = []
  for v in variants:
    row = {"tree": tree_name, "leaves": len(leaves), "params": int(n), "variant": v.name,
           "compile_s": round(v.compile_s, 3), **_stats(v.times)}
    row["vs_optax"], row["vs_optax_iqr"] = _ratio(v.times, by_name["optax"])
    row["vs_roofline"], row["vs_roofline_iqr"] = _ratio(v.times, by_name["roofline"])
    rows.append(row)
  return rows


# --- 2. whole training steps ---


def mlp_model(layers: int, width: int):
  """A residual tanh MLP of `layers` (width x width) layers: 2 * layers + 2 leaves."""
  k = jax.random.split(jax.random.PRNGKey(0), layers + 1)
  params = {f"layer{i:03d}": {"w": jax.random.normal(k[i], (width, width)) / np.sqrt(width) / 4,
                              "b": jnp.zeros(width)} for i in range(layers)}
  params["head"] = {"w": jax.random.normal(k[-1], (width, 1)) / np.sqrt(width), "b": jnp.zeros(1)}

  def loss(p, batch):
    h = batch["x"]
    for i in range(layers):
      h = h + jnp.tanh(h @ p[f"layer{i:03d}"]["w"] + p[f"layer{i:03d}"]["b"])
    out = (h @ p["head"]["w"] + p["head"]["b"])[:, 0]
    return jnp.mean((out - batch["y"]) ** 2)

  r = np.random.default_rng(0)
  batch = {"x": jnp.asarray(r.normal(size=(64, width)), jnp.float32),
           "y": jnp.asarray(r.normal(size=(64,)), jnp.float32)}
  return params, loss, batch


def transformer(quick: bool):
  layers = 2 if quick else 4
  model = trees_lib.transformer_model(layers=layers)
  params = trees_lib.transformer_params(layers=layers)
  tokens = jax.random.randint(jax.random.PRNGKey(1), (8, 33), 0, 1000)

  def loss(p, batch):
    logits = model.apply({"params": p}, batch["tokens"][:, :-1])
    logp = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(logp, batch["tokens"][:, 1:, None], axis=-1))

  return params, loss, {"tokens": tokens}


def cnn():
  """A small flax.linen CNN on 16x16x3 images, 10 classes."""
  import flax.linen as nn  # pylint: disable=import-outside-toplevel

  class CNN(nn.Module):
    @nn.compact
    def __call__(self, x):
      x = nn.relu(nn.Conv(16, (3, 3))(x))
      x = nn.relu(nn.Conv(32, (3, 3), strides=2)(x))
      x = nn.relu(nn.Conv(32, (3, 3), strides=2)(x))
      x = nn.relu(nn.Dense(64)(x.reshape(x.shape[0], -1)))
      return nn.Dense(10)(x)

  model = CNN()
  r = np.random.default_rng(0)
  batch = {"x": jnp.asarray(r.normal(size=(32, 16, 16, 3)), jnp.float32),
           "y": jnp.asarray(r.integers(0, 10, size=(32,)), jnp.int32)}
  params = model.init(jax.random.PRNGKey(0), batch["x"][:1])["params"]

  def loss(p, b):
    logp = jax.nn.log_softmax(model.apply({"params": p}, b["x"]))
    return -jnp.mean(jnp.take_along_axis(logp, b["y"][:, None], axis=-1))

  return params, loss, batch


def _loop(loss: Callable[..., Any], tx: Any, apply: Callable[..., Any],
          to_tree: Callable[[Any], Any] = lambda p: p):
  """optax's training loop body: grads of the loss, update, apply; params and state donated."""
  def step(carry, batch):
    params, state = carry
    value, grads = jax.value_and_grad(lambda p: loss(to_tree(p), batch))(params)
    updates, state = tx.update(grads, state, params)
    return apply(params, updates), state
  return jax.jit(step, donate_argnums=(0,))


def train_step(model_name: str, params: Any, loss: Callable[..., Any], batch: Any, rounds: int,
               log) -> list:
  """One model's training step: optax loop, fused loop, flat loop, make_train_step tree / flat."""
  leaves = jax.tree.leaves(params)
  log(f"training step, {model_name}: {len(leaves)} leaves, {sum(l.size for l in leaves):,} params")
  copy = lambda t: jax.tree.map(lambda x: jnp.array(x, copy=True), t)
  variants = []
  tx = optax.adam(LR)
  variants.append(Timed("optax", _loop(loss, tx, optax.apply_updates),
                        (copy(params), tx.init(params)), batch))
  tx = jopt.fused(jopt.adam(LR))
  variants.append(Timed("jopt.fused", _loop(loss, tx, jopt.apply_updates),
                        (copy(params), tx.init(params)), batch))
  flat_t = _flat_trainer(jopt.adam(LR), loss)
  fp = flat_t.flat_params(params)
  variants.append(Timed("flat", _loop(loss, flat_t.flat_tx, jopt.apply_updates, lambda p: p.views()),
                        (fp, flat_t.flat_tx.init(fp)), batch))
  for name, flat in (("Trainer", False), ("Trainer flat", True)):
    trainer = trainer_lib.make_train_step(loss, jopt.adam(LR), flat=flat)
    variants.append(Timed(name, trainer.step, trainer.init(params), batch, lambda out: out[0]))
  for v in variants:
    log(f"  {v.name:13s} compile + first step {v.first_call_s:6.2f} s")
  _interleave(variants, rounds)
  base = variants[0].times
  rows = []
  for v in variants:
    ratio, ratio_iqr = _ratio(v.times, base)
    rows.append({"model": model_name, "leaves": len(leaves), "variant": v.name,
                 "first_call_s": round(v.first_call_s, 3), **_stats(v.times),
                 "vs_optax": ratio, "vs_optax_iqr": ratio_iqr})
  return rows


# --- 3. compile time of the 6-transform chain ---


def compile_chain(n_leaves: int, log) -> list:
  """Lower + compile of the chain's update + apply on `n_leaves` leaves of 1000: optax, fused, flat.

  (jopt per leaf is in `benchmarks.run`'s table.)
  """
  params = {f"p{i:05d}": jnp.zeros((1000,) if i % 2 else (10, 100)) for i in range(n_leaves)}
  trainer = _flat_trainer(run_lib.chain6(jopt))
  fp = trainer.flat_params(params)
  rows = []
  for name, tx, p in (("optax", run_lib.chain6(optax), params),
                      ("jopt.fused", jopt.fused(run_lib.chain6(jopt)), params),
                      ("flat", trainer.flat_tx, fp)):
    state = jax.eval_shape(tx.init, p)
    t0 = time.perf_counter()
    lowered = run_lib._step_fn(tx, jopt.apply_updates).lower(p, state, p)  # pylint: disable=protected-access
    t1 = time.perf_counter()
    lowered.compile()
    t2 = time.perf_counter()
    rows.append({"leaves": n_leaves, "variant": name, "lower_s": t1 - t0, "compile_s": t2 - t1,
                 "total_s": t2 - t0})
    log(f"  chain6 {n_leaves} leaves {name:10s} lower {t1 - t0:6.2f} s compile {t2 - t1:6.2f} s")
  base = next(r["total_s"] for r in rows if r["variant"] == "optax")
  for r in rows:
    r["vs_optax"] = r["total_s"] / base
  return rows


# --- output ---


def _x(row: dict, key: str) -> str:
  iqr = row.get(key + "_iqr")
  return f"{row[key]:.2f}x" + ("" if iqr is None else f" ({iqr:.2f})")


def markdown(results: dict) -> str:
  """The results as markdown tables."""
  m = results["machine"]
  out = [f"Flat buffers: {m['processor']}, {m['cpu_count']} cores ({m['backend']}, {m['devices']}), jax {m['jax']}, "
         f"optax {m['optax']}; load average {m['loadavg_start'][0]:.1f} at start, "
         f"{m['loadavg_end'][0]:.1f} at end; {results['args']['rounds']} interleaved rounds; "
         "median and IQR of ms per step, ratios as the median (IQR) of the per-round ratios.", ""]
  if results["optimizer"]:
    out += ["Optimizer step alone (Adam, update + apply, donated):", "",
            "| tree | variant | median ms | IQR ms | vs optax (IQR) | vs roofline (IQR) |",
            "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in results["optimizer"]:
      out.append(f"| {r['tree']} ({r['leaves']} leaves) | {r['variant']} | {r['median_ms']:.2f} | "
                 f"{r['iqr_ms']:.2f} | {_x(r, 'vs_optax')} | {_x(r, 'vs_roofline')} |")
  if results["train"]:
    out += ["", "Whole training step (forward, backward, Adam), batch as in `benchmarks/flat.py`:", "",
            "| model | variant | median ms | IQR ms | vs optax (IQR) | compile + 1st step s |",
            "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in results["train"]:
      out.append(f"| {r['model']} ({r['leaves']} leaves) | {r['variant']} | {r['median_ms']:.2f} | "
                 f"{r['iqr_ms']:.2f} | {_x(r, 'vs_optax')} | {r['first_call_s']:.1f} |")
  if results["compile"]:
    out += ["", "6-transform chain, lower + compile of update + apply:", "",
            "| leaves | variant | lower s | compile s | total vs optax |",
            "| ---: | --- | ---: | ---: | ---: |"]
    for r in results["compile"]:
      out.append(f"| {r['leaves']} | {r['variant']} | {r['lower_s']:.2f} | {r['compile_s']:.2f} | "
                 f"{r['vs_optax']:.2f}x |")
  return "\n".join(out) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--flat-trees", default="i,ii,iii,iv", help="optimizer-step trees (of i,ii,iii,iv)")
  parser.add_argument("--flat-models", default="mlp,transformer,cnn",
                      help="training-step models (of mlp,transformer,cnn)")
  parser.add_argument("--mlp-layers", type=int, default=200, help="layers of the many-leaf MLP")
  parser.add_argument("--flat-compile-leaves", default=None,
                      help="leaf counts of the chain's compile timing (default 50,2000; --quick: 50)")


def main(argv: Optional[list] = None, args: Optional[argparse.Namespace] = None) -> dict:
  if args is None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small trees and models (< 2 min)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved timing rounds")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    add_arguments(parser)
    args = parser.parse_args(argv)
  rounds = args.rounds or (7 if args.quick else 15)
  log = lambda s: print(s, flush=True)
  results = {"machine": run_lib.machine(), "args": {"rounds": rounds, "quick": args.quick,
                                                    "mlp_layers": args.mlp_layers},
             "optimizer": [], "train": [], "compile": []}
  os.makedirs(args.out, exist_ok=True)
  stem = "flat_quick" if args.quick else "flat"

  def write() -> str:  # after every section, so an interrupted run keeps what it measured
    return run_lib.write_results(args.out, stem, results, markdown)

  for t in filter(None, args.flat_trees.split(",")):
    results["optimizer"] += optimizer_step(t, rounds, args.quick, log)
    write()
  models = {"mlp": lambda: mlp_model(args.mlp_layers // (4 if args.quick else 1), 32),
            "transformer": lambda: transformer(args.quick), "cnn": cnn}
  for name in filter(None, args.flat_models.split(",")):
    params, loss, batch = models[name]()
    label = f"mlp x{args.mlp_layers // (4 if args.quick else 1)}" if name == "mlp" else name
    results["train"] += train_step(label, params, loss, batch, rounds, log)
    write()
  leaves = args.flat_compile_leaves
  if leaves is None:
    leaves = "50" if args.quick else "50,2000"
  for n in filter(None, leaves.split(",")):
    results["compile"] += compile_chain(int(n), log)
    write()
  md = write()
  print(md)
  return results


if __name__ == "__main__":
  main()
