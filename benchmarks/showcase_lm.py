"""A byte-level transformer LM on Python's stdlib sources, 8 optimizers each at a swept lr: `python -m benchmarks.showcase_lm [--quick]`.

The corpus needs no download: every ``*.py`` file under
``sysconfig.get_paths()["stdlib"]`` (tests, ``site-packages`` and the
machine-specific ``_sysconfigdata*`` left out), sorted by path; a file goes to
validation when ``crc32(path) % 10 == 0``, else to training. The model is a
pre-LayerNorm decoder-only transformer (flax linen; learned positions, causal
multi-head attention, 4x GELU MLP, untied byte head).

Protocol, the same for every optimizer: one init (seed 0), one stream of
training windows (seed 1), one validation set. Each optimizer except Prodigy
(lr 1, as its paper prescribes) gets a learning-rate sweep: 3 values on a log
grid (x1/3, x1, x3 around its usual default; extended by up to 2 more points
when the best sits at an end), short runs of ``--sweep_steps``
trained by `jopt.sweep` (as ONE vmapped program, except for the optimizers with
LAPACK calls: see `UNBATCHED_SWEEP`), picked by validation loss. Then
the full ``--steps`` runs of the 8 optimizers advance round-robin, one step
each in turn (so machine load hits them alike), each step timed with
``block_until_ready``; the validation loss is measured every ``--eval_every``
steps. Schedule: linear warmup over 5% of the steps then cosine decay to 0 (the
learning rate is a scalar times that shape); schedule-free AdamW gets the same
warmup and no decay, and is evaluated at `schedule_free_eval_params`. Every
other hyperparameter is the jopt default (the paper's), except Muon: the
hidden-layer matrices use Muon, embeddings/positions/head/norms/biases its
AdamW fallback at AdamW's tuned lr (Jordan, 2024). Prodigy gets the schedule
as its learning rate (1 x the shape).

Outputs: ``<out>/showcase_lm[_quick].json`` (every curve and timing),
``<out>/showcase_lm[_quick].md`` (the tables) and a two-panel PNG (validation
loss vs step and vs training seconds; default ``docs/showcase_lm.png``).
``--from_json PATH`` re-renders the tables and the PNG from a saved JSON.
"""

import argparse
import dataclasses
import hashlib
import json
import math
import os
import platform
import sys
import sysconfig
import time
import zlib
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

import jopt
from jopt import contrib

OPTIMIZERS = ("adamw", "muon", "soap", "shampoo", "kron", "schedule_free_adamw", "adopt", "prodigy")
# The usual default learning rate of each optimizer: the centre of its 3-point sweep.
DEFAULT_LR = {
    "adamw": 1e-3, "muon": 0.02, "soap": 3e-3, "shampoo": 1e-3, "kron": 1e-3,
    "schedule_free_adamw": 2.5e-3, "adopt": 1e-3, "prodigy": 1.0,
}
NOT_SWEPT = ("prodigy",)
# Swept one trial at a time (`jopt.sweep(vmap=False)`, one compiled program called 3 times): their
# batched LAPACK calls (eigh, triangular solves) deadlock jaxlib 0.10's CPU runtime on a 2-core host
# (each concurrent batched call waits for batch tasks queued on the intra-op pool it occupies).
UNBATCHED_SWEEP = ("soap", "shampoo", "kron")
ADAM_PARAMS = ("embed", "pos", "head")  # Muon trains these (and every non-2-D leaf) with AdamW.


@dataclasses.dataclass(frozen=True)
class Config:
  """Everything a run depends on; `--quick` and the tests override some fields."""

  steps: int = 2000
  sweep_steps: int = 300
  batch_size: int = 16
  context: int = 64
  d_model: int = 64
  num_layers: int = 2
  num_heads: int = 4
  eval_every: int = 50
  val_windows: int = 512
  warmup_frac: float = 0.05
  lr_factor: float = 3.0
  max_extend: int = 2  # extra sweep points past the grid's edge when the best lr sits there.
  optimizers: tuple[str, ...] = OPTIMIZERS
  seed: int = 0


QUICK = dict(steps=60, sweep_steps=20, batch_size=16, d_model=32, num_layers=1, eval_every=20,
             val_windows=64, max_extend=1)


# ------------------------------------------------------------------------------------ data


def corpus_files(root: Optional[str] = None) -> list[str]:
  """The stdlib's ``*.py`` files (relative paths, sorted), without tests, site-packages, sysconfigdata."""
  root = root or sysconfig.get_paths()["stdlib"]
  skip_dirs = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"}
  out = []
  for dirpath, dirnames, filenames in os.walk(root):
    dirnames[:] = [d for d in dirnames if d not in skip_dirs]
    for f in filenames:
      if f.endswith(".py") and not f.startswith("_sysconfigdata"):
        out.append(os.path.relpath(os.path.join(dirpath, f), root))
  return sorted(out)


def load_corpus(root: Optional[str] = None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
  """(train bytes, validation bytes, description); a file is validation iff crc32(path) % 10 == 0."""
  root = root or sysconfig.get_paths()["stdlib"]
  files = corpus_files(root)
  train, val, digest = [], [], hashlib.sha256()
  for rel in files:
    with open(os.path.join(root, rel), "rb") as f:
      data = f.read()
    digest.update(rel.encode() + b"\0" + data)
    (val if zlib.crc32(rel.encode()) % 10 == 0 else train).append(data)
  as_array = lambda parts: np.frombuffer(b"\n".join(parts), dtype=np.uint8)
  train_a, val_a = as_array(train), as_array(val)
  info = {"root": root, "files": len(files), "train_files": len(train), "val_files": len(val),
          "train_bytes": int(train_a.size), "val_bytes": int(val_a.size),
          "sha256": digest.hexdigest()}
  return train_a, val_a, info


def windows(data: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
  """int32 windows ``data[s : s + length]`` for every start in `starts` (any shape)."""
  return data[starts[..., None] + np.arange(length)].astype(np.int32)


# ------------------------------------------------------------------------------------ model


class Block(nn.Module):
  """Pre-LN block: causal multi-head self-attention, then a 4x GELU MLP; 2-D kernels only."""

  d_model: int
  num_heads: int

  @nn.compact
  def __call__(self, x):
    b, t, d = x.shape
    hd = d // self.num_heads
    h = nn.LayerNorm()(x)
    q, k, v = jnp.split(nn.Dense(3 * d, use_bias=False, name="qkv")(h), 3, axis=-1)
    q, k, v = (a.reshape(b, t, self.num_heads, hd) for a in (q, k, v))
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(hd)
    logits = jnp.where(jnp.tril(jnp.ones((t, t), bool)), logits, -1e30)
    att = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(logits, axis=-1), v).reshape(b, t, d)
    x = x + nn.Dense(d, use_bias=False, name="proj")(att)
    h = nn.LayerNorm()(x)
    return x + nn.Dense(d, name="fc2")(nn.gelu(nn.Dense(4 * d, name="fc1")(h)))


class ByteLM(nn.Module):
  """Decoder-only byte-level language model: embed + learned positions, blocks, LN, byte head."""

  d_model: int
  num_layers: int
  num_heads: int
  context: int

  @nn.compact
  def __call__(self, tokens):
    x = nn.Embed(256, self.d_model, name="embed")(tokens)
    pos = self.param("pos", nn.initializers.normal(0.02), (self.context, self.d_model))
    x = x + pos[: tokens.shape[-1]]
    for i in range(self.num_layers):
      x = Block(self.d_model, self.num_heads, name=f"block{i}")(x)
    return nn.Dense(256, use_bias=False, name="head")(nn.LayerNorm()(x))


def make_loss(model: ByteLM) -> Callable[[Any, Any], jax.Array]:
  """``loss(params, batch)``: mean next-byte cross-entropy (nats) of ``batch["tokens"]`` [B, T+1]."""

  def loss(params, batch):
    tokens = batch["tokens"]
    logp = jax.nn.log_softmax(model.apply({"params": params}, tokens[:, :-1]))
    return -jnp.mean(jnp.take_along_axis(logp, tokens[:, 1:, None], axis=-1))

  return loss


# ------------------------------------------------------------------------------ optimizers


def lr_shape(total: int, warmup_frac: float, decay: bool = True) -> Callable[[Any], jax.Array]:
  """Multiplier of the peak lr at a step: linear warmup, then cosine to 0 (or flat if not `decay`)."""
  warm = max(1, int(round(warmup_frac * total)))

  def shape(count):
    t = jnp.asarray(count, jnp.float32)
    up = jnp.minimum(1.0, (t + 1.0) / warm)
    frac = jnp.clip((t - warm) / max(1, total - warm), 0.0, 1.0)
    return up * (0.5 * (1.0 + jnp.cos(jnp.pi * frac)) if decay else 1.0)

  return shape


def muon_dims(params: Any) -> Any:
  """Muon for the blocks' 2-D kernels; None (its AdamW fallback) for embeddings, head, norms, biases."""

  def dims(path, x):
    names = {getattr(k, "key", None) for k in path}
    return contrib.MuonDimensionNumbers() if x.ndim == 2 and not names & set(ADAM_PARAMS) else None

  return jax.tree_util.tree_map_with_path(dims, params)


def optimizer_factory(name: str, total: int, cfg: Config, adam_lr: float) -> Callable[..., Any]:
  """``factory(learning_rate) -> tx`` for `name`, with `total` steps of schedule baked in."""
  warm = max(1, int(round(cfg.warmup_frac * total)))
  shape = lr_shape(total, cfg.warmup_frac)
  scheduled = lambda tx: jopt.chain(tx, jopt.scale_by_schedule(shape))
  if name == "schedule_free_adamw":
    return lambda learning_rate: contrib.schedule_free_adamw(learning_rate, warmup_steps=warm)
  if name == "prodigy":
    return lambda learning_rate: contrib.prodigy(lambda c: learning_rate * shape(c))
  if name == "muon":
    return lambda learning_rate: scheduled(contrib.muon(
        learning_rate, adam_learning_rate=adam_lr, muon_weight_dimension_numbers=muon_dims))
  base = {"adamw": jopt.adamw, "soap": jopt.soap, "shampoo": jopt.shampoo, "kron": jopt.kron,
          "adopt": contrib.adopt}[name]
  return lambda learning_rate: scheduled(base(learning_rate))


def tree_bytes(tree: Any) -> int:
  """Bytes held by the array leaves of `tree`."""
  return int(sum(np.asarray(x).nbytes for x in jax.tree.leaves(tree)))


# ----------------------------------------------------------------------------- the benchmark


def eval_params(name: str, params: Any, opt_state: Any) -> Any:
  """The params to evaluate: schedule-free's averaged iterate, else the params themselves."""
  return contrib.schedule_free_eval_params(opt_state, params) if name == "schedule_free_adamw" else params


def sweep_lr(name: str, cfg: Config, loss_fn: Callable[..., Any], val_loss: Callable[[Any], Any],
             params0: Any, batches: Any, adam_lr: float) -> dict[str, Any]:
  """Short runs at lr x 1/f, 1, f around the default (f = `lr_factor`), extended past an edge winner.

  The 3 grid points train as one `jopt.sweep`; while the best validation loss sits at an end of the
  grid (at most `max_extend` times), one more point a factor `lr_factor` beyond it is run.
  """
  t0 = time.perf_counter()
  factory = optimizer_factory(name, cfg.sweep_steps, cfg, adam_lr)

  def trials(lrs, vmap):
    res = jopt.sweep(loss_fn, factory, {"learning_rate": lrs}, params0, batches, vmap=vmap)
    out = []
    for k in range(len(lrs)):
      trial = jax.tree.map(lambda x: x[k], res.state)
      v = float(val_loss(eval_params(name, trial.params, trial.opt_state)))
      out.append(v if math.isfinite(v) else float("inf"))
    return out

  grid = [DEFAULT_LR[name] * cfg.lr_factor ** k for k in (-1, 0, 1)]
  losses = trials(grid, vmap=name not in UNBATCHED_SWEEP)
  for _ in range(cfg.max_extend):
    best = int(np.argmin(losses))
    if 0 < best < len(grid) - 1:
      break
    lr = grid[0] / cfg.lr_factor if best == 0 else grid[-1] * cfg.lr_factor
    loss = trials([lr], vmap=False)[0]
    grid, losses = ([lr] + grid, [loss] + losses) if best == 0 else (grid + [lr], losses + [loss])
  best = int(np.argmin(losses))
  return {"grid": grid, "val_loss": losses, "chosen": grid[best],
          "at_edge": best in (0, len(grid) - 1), "seconds": time.perf_counter() - t0}


def run(cfg: Config, log: Callable[[str], None] = print) -> dict[str, Any]:
  """Sweeps, then the full round-robin runs; returns everything `write_outputs` reports."""
  t_start, load_start = time.time(), os.getloadavg()
  train, val, corpus = load_corpus()
  length = cfg.context + 1
  rng = np.random.default_rng(cfg.seed + 1)
  starts = rng.integers(0, train.size - length, size=(max(cfg.steps, cfg.sweep_steps), cfg.batch_size))
  val_starts = np.random.default_rng(cfg.seed + 2).integers(0, val.size - length, cfg.val_windows)
  val_tokens = jnp.asarray(windows(val, val_starts, length))

  model = ByteLM(cfg.d_model, cfg.num_layers, cfg.num_heads, cfg.context)
  params0 = model.init(jax.random.PRNGKey(cfg.seed), jnp.zeros((1, cfg.context), jnp.int32))["params"]
  loss_fn = make_loss(model)
  val_loss = jax.jit(lambda p: loss_fn(p, {"tokens": val_tokens}))
  n_params = int(sum(x.size for x in jax.tree.leaves(params0)))
  log(f"corpus: {corpus['files']} files, {corpus['train_bytes']} train / {corpus['val_bytes']} val "
      f"bytes; model: {n_params} params")

  # 1. Learning-rate sweeps on the first `sweep_steps` training batches.
  sweep_batches = {"tokens": jnp.asarray(windows(train, starts[: cfg.sweep_steps], length))}
  sweeps, chosen = {}, {}
  for name in cfg.optimizers:
    if name in NOT_SWEPT:
      chosen[name] = DEFAULT_LR[name]
      continue
    sweeps[name] = sweep_lr(name, cfg, loss_fn, val_loss, params0, sweep_batches,
                            chosen.get("adamw", DEFAULT_LR["adamw"]))
    chosen[name] = sweeps[name]["chosen"]
    log(f"sweep {name}: " + ", ".join(f"lr {g:.3g} -> {l:.4f}" for g, l in
                                      zip(sweeps[name]["grid"], sweeps[name]["val_loss"]))
        + f"  ({sweeps[name]['seconds']:.0f} s)")

  # 2. Full runs, round-robin: every optimizer takes step t before any takes step t + 1.
  runs = {}
  for name in cfg.optimizers:
    tx = optimizer_factory(name, cfg.steps, cfg, chosen.get("adamw", DEFAULT_LR["adamw"]))(chosen[name])
    trainer = jopt.make_train_step(loss_fn, tx)
    first = {"tokens": jnp.asarray(windows(train, starts[0], length))}
    jax.block_until_ready(trainer.step(trainer.init(params0), first))  # compile outside the timing
    state = trainer.init(params0)
    runs[name] = {"trainer": trainer, "state": state, "times": [], "train_loss": [],
                  "eval_steps": [], "val_loss": [], "state_bytes": tree_bytes(state.opt_state)}

  def evaluate(step):
    for name, r in runs.items():
      v = float(val_loss(eval_params(name, r["state"].params, r["state"].opt_state)))
      r["eval_steps"].append(step)
      r["val_loss"].append(v if math.isfinite(v) else None)

  evaluate(0)
  t_loop = time.perf_counter()
  for t in range(cfg.steps):
    batch = {"tokens": jnp.asarray(windows(train, starts[t], length))}
    for r in runs.values():
      t0 = time.perf_counter()
      r["state"], metrics = r["trainer"].step(r["state"], batch)
      loss = float(jax.block_until_ready(metrics["loss"]))
      r["times"].append(time.perf_counter() - t0)
      r["train_loss"].append(loss)
    if (t + 1) % cfg.eval_every == 0 or t + 1 == cfg.steps:
      evaluate(t + 1)
      log(f"step {t + 1}/{cfg.steps} ({time.perf_counter() - t_loop:.0f} s): "
          + " ".join(f"{n}={r['val_loss'][-1]:.3f}" if r["val_loss"][-1] is not None else f"{n}=nan"
                     for n, r in runs.items()))

  results = {}
  for name, r in runs.items():
    times = np.asarray(r["times"])
    cum = np.concatenate([[0.0], np.cumsum(times)])
    bounds = list(zip([0] + r["eval_steps"][1:-1], r["eval_steps"][1:]))
    results[name] = {
        "lr": chosen[name], "eval_steps": r["eval_steps"], "val_loss": r["val_loss"],
        "eval_seconds": [float(cum[s]) for s in r["eval_steps"]],
        "train_loss_mean": [float(np.mean(r["train_loss"][a:b])) for a, b in bounds],
        "step_time_median_s": float(np.median(times)),
        "step_time_q25_s": float(np.percentile(times, 25)),
        "step_time_q75_s": float(np.percentile(times, 75)),
        "step_time_mean_s": float(np.mean(times)),
        "train_seconds": float(cum[-1]), "state_bytes": r["state_bytes"],
    }
  return {
      "config": dataclasses.asdict(cfg), "corpus": corpus, "params": n_params,
      "params_bytes": tree_bytes(params0), "sweeps": sweeps, "results": results,
      "machine": {"python": sys.version.split()[0], "jax": jax.__version__,
                  "platform": platform.platform(), "cpus": os.cpu_count(),
                  "device": str(jax.devices()[0]), "load_avg_start": load_start,
                  "load_avg_end": os.getloadavg()},
      "total_seconds": time.time() - t_start,
  }


# --------------------------------------------------------------------------------- reporting


def reach(res: dict[str, Any], target: float) -> tuple[Optional[int], Optional[float]]:
  """(step, seconds) of the first evaluation with validation loss <= `target`, or (None, None)."""
  for s, sec, v in zip(res["eval_steps"], res["eval_seconds"], res["val_loss"]):
    if v is not None and v <= target:
      return s, sec
  return None, None


def markdown(out: dict[str, Any]) -> str:
  """The two tables (results, sweeps) and the protocol line."""
  cfg, res = out["config"], out["results"]
  ref = "adamw" if "adamw" in res else next(iter(res))
  target = res[ref]["val_loss"][-1]
  fmt = lambda v: "nan" if v is None else f"{v:.4f}"
  lines = [
      f"Byte-level LM on {out['corpus']['files']} stdlib files (Python {out['machine']['python']}, "
      f"{out['corpus']['train_bytes']:,} train / {out['corpus']['val_bytes']:,} val bytes); "
      f"{out['params']:,} params ({cfg['num_layers']} layers, d_model {cfg['d_model']}, "
      f"{cfg['num_heads']} heads, context {cfg['context']}), batch {cfg['batch_size']}, "
      f"{cfg['steps']} steps, validation on {cfg['val_windows']} windows every {cfg['eval_every']} "
      f"steps; total {out['total_seconds'] / 60:.1f} min on {out['machine']['cpus']} CPUs "
      f"(load average {out['machine']['load_avg_start'][0]:.1f} at the start, "
      f"{out['machine']['load_avg_end'][0]:.1f} at the end). Seconds are the sum of an "
      "optimizer's timed steps (evaluation and compilation excluded); the 8 runs advance "
      "round-robin, one step each in turn, so machine load hits them alike.",
      "",
      f"| optimizer | lr | final val loss | best val loss | steps to {ref}'s final ({fmt(target)}) "
      f"| seconds to it | time/step ms, median (IQR) | mean | state bytes | state / params |",
      "|---|---|---|---|---|---|---|---|---|---|",
  ]
  notes = []
  for name, r in res.items():
    step, sec = reach(r, target)
    finite = [v for v in r["val_loss"] if v is not None]
    lines.append(
        f"| {name} | {r['lr']:.3g} | {fmt(r['val_loss'][-1])} | "
        f"{fmt(min(finite) if finite else None)} | {'—' if step is None else step} | "
        f"{'—' if sec is None else f'{sec:.1f}'} | {1e3 * r['step_time_median_s']:.2f} "
        f"({1e3 * r['step_time_q25_s']:.2f}–{1e3 * r['step_time_q75_s']:.2f}) | "
        f"{1e3 * r.get('step_time_mean_s', r['train_seconds'] / cfg['steps']):.2f} | "
        f"{r['state_bytes']:,} | {r['state_bytes'] / out['params_bytes']:.2f} |"
    )
    bad = [s for s, v in zip(r["eval_steps"], r["val_loss"]) if v is None]
    if bad:
      notes.append(f"{name}: validation loss not finite from step {bad[0]} on (diverged).")
    elif finite and r["val_loss"][-1] > min(finite) + 0.05:
      notes.append(f"{name}: final validation loss {r['val_loss'][-1]:.4f} is above its best "
                   f"{min(finite):.4f} (unstable late in the run).")
  lines += ["", "Time/step: median (25th–75th percentile) and mean over all timed steps; the mean "
            "includes the periodic preconditioner refreshes (SOAP, Shampoo) and PSGD Kron's "
            "preconditioner updates (every step for its first 500 steps, then annealed). "
            "State bytes: the optimizer state (`opt_state`) in float32; params "
            f"{out['params_bytes']:,} bytes."]
  if notes:
    lines += [""] + notes
  if out["sweeps"]:
    lines += ["", f"Learning-rate sweeps ({cfg['sweep_steps']} steps each; validation loss, "
              "* = chosen; 'edge' = still at an end of the grid after the extensions):", "",
              "| optimizer | lr: validation loss | chosen |", "|---|---|---|"]
    for name, s in out["sweeps"].items():
      cells = [f"{g:.3g}: {v:.4f}" + (" *" if g == s["chosen"] else "") for g, v in
               zip(s["grid"], s["val_loss"])]
      lines.append(f"| {name} | " + ", ".join(cells) + f" | {s['chosen']:.3g}"
                   + (" (edge)" if s["at_edge"] else "") + " |")
  return "\n".join(lines) + "\n"


def plot(out: dict[str, Any], path: str) -> None:
  """Two panels: validation loss vs step and vs training seconds, AdamW's final loss dashed."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  res = out["results"]
  fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
  finals = [r["val_loss"][-1] for r in res.values() if r["val_loss"][-1] is not None]
  # Show the informative range: from the best final loss up to the worst loss at 20% of the run.
  at20 = [v for r in res.values() for s, v in zip(r["eval_steps"], r["val_loss"])
          if v is not None and s >= 0.2 * out["config"]["steps"]]
  lo, hi = (min(finals), max(at20)) if finals and at20 else (None, None)
  for name, r in res.items():
    steps, secs = r["eval_steps"], r["eval_seconds"]
    vals = [np.nan if v is None else v for v in r["val_loss"]]
    label = f"{name} (lr {r['lr']:.3g})"
    axes[0].plot(steps, vals, label=label)
    axes[1].plot(secs, vals, label=label)
  if "adamw" in res and res["adamw"]["val_loss"][-1] is not None:
    for ax in axes:
      ax.axhline(res["adamw"]["val_loss"][-1], color="gray", ls="--", lw=0.8)
  if lo is not None:
    axes[0].set_ylim(lo - 0.05 * (hi - lo) - 0.01, hi + 0.05 * (hi - lo) + 0.01)
  axes[0].set_xlabel("step")
  axes[1].set_xlabel("training seconds (sum of timed steps, round-robin)")
  axes[0].set_ylabel("validation loss (nats / byte)")
  axes[0].set_title("validation loss vs step")
  axes[1].set_title("validation loss vs wall-clock")
  for ax in axes:
    ax.grid(alpha=0.3)
  axes[1].legend(fontsize=8)
  cfg = out["config"]
  fig.suptitle(f"byte-level LM on Python's stdlib: {out['params']:,} params, "
               f"{cfg['steps']} steps, batch {cfg['batch_size']}x{cfg['context']}")
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=110)
  plt.close(fig)


def write_outputs(out: dict[str, Any], out_dir: str, png: str, suffix: str = "") -> dict[str, str]:
  """Writes ``showcase_lm{suffix}.json`` / ``.md`` under `out_dir` and the PNG; returns the paths."""
  os.makedirs(out_dir, exist_ok=True)
  paths = {"json": os.path.join(out_dir, f"showcase_lm{suffix}.json"),
           "md": os.path.join(out_dir, f"showcase_lm{suffix}.md"), "png": png}
  with open(paths["json"], "w") as f:
    json.dump(out, f, indent=1)
  with open(paths["md"], "w") as f:
    f.write(markdown(out))
  plot(out, png)
  return paths


def main(argv: Optional[list[str]] = None) -> dict[str, Any]:
  """Parses the flags, runs the benchmark, writes the outputs, prints the table."""
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--quick", action="store_true", help="a ~1-2 min smoke test (tiny model, 60 steps)")
  p.add_argument("--steps", type=int, default=None, help="full-run steps (default 2000)")
  p.add_argument("--sweep_steps", type=int, default=None, help="steps of each sweep run (default 300)")
  p.add_argument("--optimizers", default=",".join(OPTIMIZERS), help="comma-separated subset")
  p.add_argument("--out", default=os.path.join("benchmarks", "results"), help="output folder")
  p.add_argument("--png", default=None,
                 help="figure path (default docs/showcase_lm.png; <out>/showcase_lm_quick.png with --quick)")
  p.add_argument("--from_json", default=None,
                 help="re-render the .md and the PNG from this saved JSON instead of training")
  args = p.parse_args(argv)
  if args.from_json:
    with open(args.from_json) as f:
      out = json.load(f)
    quick = os.path.basename(args.from_json).endswith("_quick.json")
    png = args.png or (os.path.join(args.out, "showcase_lm_quick.png") if quick
                       else os.path.join("docs", "showcase_lm.png"))
    md = os.path.join(args.out, os.path.basename(args.from_json)[: -len(".json")] + ".md")
    os.makedirs(args.out, exist_ok=True)
    with open(md, "w") as f:
      f.write(markdown(out))
    plot(out, png)
    print(markdown(out))
    print(f"wrote {md}, {png}")
    return out
  names = tuple(n for n in args.optimizers.split(",") if n)
  unknown = sorted(set(names) - set(OPTIMIZERS))
  if unknown:
    p.error(f"--optimizers: unknown {unknown}; choose from {list(OPTIMIZERS)}")
  overrides = dict(QUICK) if args.quick else {}
  overrides["optimizers"] = names
  if args.steps is not None:
    overrides["steps"] = args.steps
  if args.sweep_steps is not None:
    overrides["sweep_steps"] = args.sweep_steps
  cfg = Config(**overrides)
  if cfg.steps < 1 or cfg.sweep_steps < 1:
    p.error(f"--steps and --sweep_steps must be >= 1, got {cfg.steps} and {cfg.sweep_steps}")
  out = run(cfg)
  suffix = "_quick" if args.quick else ""
  png = args.png or (os.path.join(args.out, "showcase_lm_quick.png") if args.quick
                     else os.path.join("docs", "showcase_lm.png"))
  paths = write_outputs(out, args.out, png, suffix)
  print(markdown(out))
  print("wrote " + ", ".join(paths.values()))
  return out


if __name__ == "__main__":
  main()
