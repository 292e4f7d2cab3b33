"""Times jopt (per-leaf and fused) against optax and a roofline kernel: `python -m benchmarks.run [--quick]`.

Then the flat-buffer section (`benchmarks/flat.py`: optimizer step on flat
buffers, whole training steps, compile time; `--flat` runs only it,
`--skip-flat` skips it).

Every measurement is in one process: for each tree, all variants (optax,
jopt, jopt fused, optax.flatten, the roofline kernel) are compiled first with
donated params and state, then timed interleaved round-robin (one step of each
in turn, `rounds` times), so machine load hits all of them alike. Reported:
median step time, IQR, ratio to optax, achieved GB/s (Adam's bytes: 4 arrays
read, 3 written), lower+compile times of a 6-transform chain, state bytes.
Results go to `benchmarks/results/results.json` and `results.md`.
"""

import argparse
import json
import os
import platform
import time
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jopt
from benchmarks import trees as trees_lib

OPTIMIZERS = ("sgd_momentum", "adam", "adamw", "clip_adamw", "lion", "adafactor", "rmsprop")


def make_optimizer(lib: Any, name: str) -> Any:
  """The optimizer `name` from `lib` (optax or jopt); raises AttributeError if `lib` lacks it."""
  if name == "sgd_momentum":
    return lib.sgd(1e-3, momentum=0.9)
  if name == "clip_adamw":
    return lib.chain(lib.clip_by_global_norm(1.0), lib.adamw(1e-3))
  lr = {"lion": 1e-4}.get(name, 1e-3)
  return getattr(lib, name)(lr)


def chain6(lib: Any) -> Any:
  """clip, adam, weight decay, masked decay, warmup-cosine schedule, scale (the compile-time case)."""
  sched = lib.warmup_cosine_decay_schedule(0.0, 1e-3, 100, 10_000)
  return lib.chain(
      lib.clip_by_global_norm(1.0), lib.scale_by_adam(), lib.add_decayed_weights(1e-4),
      lib.masked(lib.add_decayed_weights(1e-3), lambda p: jax.tree.map(lambda x: x.ndim > 1, p)),
      lib.scale_by_schedule(sched), lib.scale(-1.0),
  )


def _step_fn(tx: Any, apply: Callable[..., Any]) -> Callable[..., Any]:
  def step(params, state, grads):
    updates, state = tx.update(grads, state, params)
    return apply(params, updates), state
  return jax.jit(step, donate_argnums=(0, 1))


def roofline_kernel(params, grads, mu, nu):
  """4 arrays in, 3 out: the bytes an Adam step must move, with no per-leaf or optimizer overhead."""
  def leaf(p, g, m, v):
    m = 0.9 * m + 0.1 * g
    v = 0.999 * v + 0.001 * g * g
    return p - 1e-3 * m / (jnp.sqrt(v) + 1e-8), m, v
  out = jax.tree.map(leaf, params, grads, mu, nu)
  tdef = jax.tree.structure(params)
  return tuple(jax.tree.transpose(tdef, jax.tree.structure((0, 0, 0)), out))


class Variant:
  """One compiled step with its own donated params/state, timed one call at a time."""

  def __init__(self, name: str, params: Any, grads: Any, tx: Any = None, roofline: bool = False):
    self.name, self.times = name, []
    copy = lambda t: jax.tree.map(jnp.array, t)
    self.grads = grads
    t0 = time.perf_counter()
    if roofline:
      zeros = jax.tree.map(jnp.zeros_like, params)
      self.args = [copy(params), zeros, copy(zeros)]
      self.fn = jax.jit(lambda p, m, v, g: roofline_kernel(p, g, m, v), donate_argnums=(0, 1, 2))
      self.compiled = self.fn.lower(*self.args, grads).compile()
      self.state_bytes = None
    else:
      state = tx.init(params)
      self.state_bytes = int(sum(np.asarray(l).nbytes for l in jax.tree.leaves(state)))
      self.args = [copy(params), state]
      fn = _step_fn(tx, jopt.apply_updates)
      self.compiled = fn.lower(*self.args, grads).compile()
    self.compile_s = time.perf_counter() - t0
    self.call()  # warm-up

  def call(self) -> float:
    t0 = time.perf_counter()
    out = self.compiled(*self.args, self.grads)
    jax.block_until_ready(out)
    dt = time.perf_counter() - t0
    self.args = list(out)
    return dt


def _stats(times: list) -> dict:
  a = np.asarray(times) * 1e3
  q1, med, q3 = np.percentile(a, [25, 50, 75])
  return {"median_ms": float(med), "iqr_ms": float(q3 - q1), "n": int(a.size)}


def bench_tree(tree_name: str, optimizers: tuple, rounds: int, quick: bool, log) -> list:
  """Times every optimizer x variant on one tree, round-robin; returns result rows."""
  params = trees_lib.make_tree(tree_name, quick)
  leaves = jax.tree.leaves(params)
  n_elems = sum(l.size for l in leaves)
  grads = jax.tree.map(lambda x: 0.01 * jnp.ones_like(x), params)
  variants, rows, missing = [], [], []
  log(f"tree {tree_name}: {len(leaves)} leaves, {n_elems:,} params")
  # The roofline moves the same bytes as one flat f32 buffer: the best a step can do.
  flat = jnp.full((n_elems,), 0.1, jnp.float32)
  variants.append(("roofline", "-", Variant("roofline", flat, 0.01 * jnp.ones_like(flat), roofline=True)))
  for opt in optimizers:
    for lib_name, build in (
        ("optax", lambda: make_optimizer(optax, opt)),
        ("jopt", lambda: make_optimizer(jopt, opt)),
        ("jopt.fused", lambda: jopt.fused(make_optimizer(jopt, opt))),
        ("optax.flatten", (lambda: optax.flatten(optax.adam(1e-3))) if opt == "adam" else None),
    ):
      if build is None:
        continue
      try:
        tx = build()
      except (AttributeError, ValueError) as e:  # not in jopt yet / not fusable
        missing.append({"tree": tree_name, "optimizer": opt, "variant": lib_name,
                        "why": f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"})
        log(f"  {opt:13s} {lib_name:13s} n/a ({missing[-1]['why'][:90]})")
        continue
      v = Variant(lib_name, params, grads, tx)
      log(f"  {opt:13s} {lib_name:13s} compiled in {v.compile_s:6.2f} s")
      variants.append((lib_name, opt, v))
  for _ in range(rounds):
    for _, _, v in variants:
      v.times.append(v.call())
  base = {opt: v for lib, opt, v in variants if lib == "optax"}
  roof = variants[0][2]
  adam_bytes = 7 * sum(l.nbytes for l in leaves)
  for lib_name, opt, v in variants:
    row = {"tree": tree_name, "leaves": len(leaves), "params": int(n_elems), "optimizer": opt,
           "variant": lib_name, "compile_s": round(v.compile_s, 3), "state_bytes": v.state_bytes,
           **_stats(v.times)}
    if opt in base:
      row["vs_optax"] = row["median_ms"] / _stats(base[opt].times)["median_ms"]
    row["vs_roofline"] = row["median_ms"] / _stats(roof.times)["median_ms"]
    if opt in ("adam", "-"):
      row["adam_bytes_GBps"] = adam_bytes / (row["median_ms"] * 1e-3) / 1e9
    rows.append(row)
  del variants
  return rows, missing


def compile_chain(n_leaves: int, log) -> list:
  """Lower + compile time of the 6-transform chain on `n_leaves` leaves of 1000 (optax, jopt, fused)."""
  params = {f"p{i:05d}": jnp.zeros((1000,) if i % 2 else (10, 100)) for i in range(n_leaves)}
  rows = []
  for lib_name, build in (("optax", lambda: chain6(optax)), ("jopt", lambda: chain6(jopt)),
                          ("jopt.fused", lambda: jopt.fused(chain6(jopt)))):
    try:
      tx = build()
    except (AttributeError, ValueError) as e:
      rows.append({"leaves": n_leaves, "variant": lib_name, "missing": str(e).splitlines()[0]})
      log(f"  chain6 {n_leaves} {lib_name}: n/a ({e})")
      continue
    state = jax.eval_shape(tx.init, params)
    t0 = time.perf_counter()
    lowered = _step_fn(tx, jopt.apply_updates).lower(params, state, params)
    t1 = time.perf_counter()
    lowered.compile()
    t2 = time.perf_counter()
    rows.append({"leaves": n_leaves, "variant": lib_name, "lower_s": t1 - t0, "compile_s": t2 - t1,
                 "total_s": t2 - t0})
    log(f"  chain6 {n_leaves} leaves {lib_name:10s} lower {t1 - t0:6.2f} s compile {t2 - t1:6.2f} s")
  return rows


def state_bytes() -> list:
  """Adam's state bytes on 10M f32 params: f32 moments vs bf16 moments (mu_dtype and nu_dtype)."""
  params = {"w": jax.ShapeDtypeStruct((10_000_000,), jnp.float32)}
  size = lambda tx: int(sum(l.size * l.dtype.itemsize for l in jax.tree.leaves(jax.eval_shape(tx.init, params))))
  f32 = size(jopt.adam(1e-3))
  bf16 = size(jopt.adam(1e-3, mu_dtype=jnp.bfloat16, nu_dtype=jnp.bfloat16))
  return [{"optimizer": "adam", "optax_f32": size(optax.adam(1e-3)), "jopt_f32": f32,
           "jopt_bf16_moments": bf16, "ratio": bf16 / f32}]


def write_results(out: str, stem: str, results: dict, to_markdown: Callable[[dict], str]) -> str:
  """Writes `<out>/<stem>.json` and `.md` (the load average at the end recorded first); returns the markdown."""
  results["machine"]["loadavg_end"] = os.getloadavg()
  with open(os.path.join(out, f"{stem}.json"), "w") as f:
    json.dump(results, f, indent=1)
  md = to_markdown(results)
  with open(os.path.join(out, f"{stem}.md"), "w") as f:
    f.write(md)
  return md


def machine() -> dict:
  return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
          "cpu_count": os.cpu_count(), "jax": jax.__version__, "optax": optax.__version__,
          "backend": jax.default_backend(), "devices": str(jax.devices()[0]),
          "loadavg_start": os.getloadavg()}


def markdown(results: dict) -> str:
  """The results as markdown tables."""
  m = results["machine"]
  out = [f"Measured on {m['processor']}, {m['cpu_count']} cores ({m['backend']}), jax {m['jax']}, "
         f"optax {m['optax']}; load average {m['loadavg_start'][0]:.1f} at start, "
         f"{m['loadavg_end'][0]:.1f} at end; {results['args']['rounds']} interleaved rounds, "
         "median (IQR) ms per jitted step with donation.", ""]
  out += ["| tree | optimizer | variant | median ms | IQR ms | vs optax | vs roofline | GB/s |",
          "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
  for r in results["steps"]:
    f = lambda k, fmt: (fmt % r[k]) if r.get(k) is not None else ""
    out.append(f"| {r['tree']} | {r['optimizer']} | {r['variant']} | {r['median_ms']:.2f} | "
               f"{r['iqr_ms']:.2f} | {f('vs_optax', '%.2fx')} | {f('vs_roofline', '%.2fx')} | "
               f"{f('adam_bytes_GBps', '%.1f')} |")
  med = {(r["tree"], r["optimizer"], r["variant"]): r["median_ms"] for r in results["steps"]}
  clip = [f"{t} {lib} {med[(t, 'clip_adamw', lib)] / med[(t, 'adamw', lib)]:.2f}x"
          for (t, o, lib) in med if o == "clip_adamw" and (t, "adamw", lib) in med]
  if clip:
    out += ["", "clip_by_global_norm + adamw vs adamw alone (same variant): " + ", ".join(clip) + "."]
  if results["compile"]:
    out += ["", "| chain6 leaves | variant | lower s | compile s |", "| ---: | --- | ---: | ---: |"]
    for r in results["compile"]:
      if "missing" in r:
        out.append(f"| {r['leaves']} | {r['variant']} | n/a | {r['missing'][:60]} |")
      else:
        out.append(f"| {r['leaves']} | {r['variant']} | {r['lower_s']:.2f} | {r['compile_s']:.2f} |")
  for r in results["state"]:
    out += ["", f"Adam state on 10M f32 params: optax {r['optax_f32'] / 1e6:.1f} MB, jopt "
            f"{r['jopt_f32'] / 1e6:.1f} MB, jopt with bf16 moments {r['jopt_bf16_moments'] / 1e6:.1f} MB "
            f"({r['ratio']:.2f}x)."]
  if results["missing"]:
    out += ["", "Not measured: " + "; ".join(
        f"{r['optimizer']}/{r['variant']} on {r['tree']} ({r['why'][:80]})" for r in results["missing"])]
  return "\n".join(out) + "\n"


def main(argv: Optional[list] = None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--quick", action="store_true", help="small trees, adam and adamw only (< 1 min)")
  parser.add_argument("--trees", default=None, help="comma list of i,ii,iii,iv,flax (default i,ii,iii,flax)")
  parser.add_argument("--optimizers", default=None, help=f"comma list of {','.join(OPTIMIZERS)}")
  parser.add_argument("--rounds", type=int, default=None, help="interleaved timing rounds")
  parser.add_argument("--compile-2000", action="store_true", help="also time the chain's compile on 2000 leaves (slow)")
  parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
  parser.add_argument("--flat", action="store_true",
                      help="run only the flat-buffer section (benchmarks/flat.py)")
  parser.add_argument("--skip-flat", action="store_true", help="skip the flat-buffer section")
  from benchmarks import flat as flat_bench  # pylint: disable=import-outside-toplevel
  flat_bench.add_arguments(parser)
  args = parser.parse_args(argv)
  if args.flat:
    return flat_bench.main(args=args)
  trees = (args.trees or ("i,iii" if args.quick else "i,ii,iii,flax")).split(",")
  optimizers = tuple((args.optimizers or ("adam,clip_adamw" if args.quick else ",".join(OPTIMIZERS))).split(","))
  rounds = args.rounds or (7 if args.quick else 15)
  log = lambda s: print(s, flush=True)
  results = {"machine": machine(), "args": {"trees": trees, "optimizers": optimizers, "rounds": rounds,
                                            "quick": args.quick}, "steps": [], "missing": [], "compile": []}
  results["state"] = state_bytes()
  os.makedirs(args.out, exist_ok=True)
  stem = "quick" if args.quick else "results"

  def write() -> str:  # after every tree, so an interrupted run keeps what it measured
    return write_results(args.out, stem, results, markdown)

  for t in trees:
    rows, missing = bench_tree(t, optimizers, rounds, args.quick, log)
    results["steps"] += rows
    results["missing"] += missing
    write()
  for n in ((50,) if args.quick else (200,)) + ((2000,) if args.compile_2000 else ()):
    results["compile"] += compile_chain(n, log)
  print(write())
  if not args.skip_flat:
    results["flat"] = flat_bench.main(args=args)
  return results


if __name__ == "__main__":
  main()
