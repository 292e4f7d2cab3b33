"""Compare finished runs: `python -m experiments.compare RUN_DIR... --out=compare.png`.

    python -m experiments.compare runs/default runs/sgd --out=/tmp/compare.png
    python -m experiments.compare runs/optimizer_comparison --metrics=train_loss,test_accuracy --x_axis=step

Overlays the runs' metrics.jsonl curves in one PNG (one panel per metric, one line
per run) and prints a Markdown table: the run, the config fields in which the runs
differ, and their summary.json. A directory without metrics.jsonl stands for the
runs in its subdirectories (a worked example's workdir). Columns can be chosen with
`--columns=SOURCE,...` (see `cell`).
"""

import json
import os
from typing import Any, Mapping, NamedTuple, Optional, Sequence

import numpy as np

from experiments import checkpoints
from experiments import errors
from experiments import outputs
from experiments.errors import ConfigError

DEFAULT_METRICS = ("loss", "train_loss", "val_loss", "val_accuracy")


class Run(NamedTuple):
  """A run directory's outputs."""

  path: str
  config: dict[str, Any]  # config.json ({} if absent)
  summary: dict[str, Any]  # summary.json ({} while unfinished)
  records: list[dict[str, Any]]  # metrics.jsonl


def _json(path: str) -> dict[str, Any]:
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)


def load_run(path: str) -> Run:
  """The outputs of the run in `path` (`~` expanded)."""
  path = os.path.expanduser(path)
  return Run(path, _json(os.path.join(path, outputs.CONFIG)), _json(os.path.join(path, outputs.SUMMARY)),
             outputs.read_metrics(path))


def find_runs(paths: Sequence[str]) -> list[str]:
  """Each path that holds metrics.jsonl, or else its subdirectories that do (sorted).

  Raises:
    ConfigError: a path with no run in it.
  """
  found = []
  for p in paths:
    p = os.path.expanduser(p)
    if os.path.exists(os.path.join(p, outputs.METRICS)):
      found.append(p)
      continue
    subs = sorted(os.path.join(p, d) for d in os.listdir(p)) if os.path.isdir(p) else []
    subs = [d for d in subs if os.path.exists(os.path.join(d, outputs.METRICS))]
    if not subs:
      raise ConfigError(f"{p!r} holds no run (no metrics.jsonl there or in its subdirectories).")
    found += subs
  return found


def _param(run: Run, path: str) -> Any:
  params = checkpoints.restore_params(run.path)
  for key in path.split("."):
    if not isinstance(params, Mapping) or key not in params:
      return None
    params = params[key]
  return float(np.asarray(params).reshape(-1)[0])


def cell(run: Run, source: str, label: str = "", fixed: Optional[Mapping[str, Any]] = None) -> Any:
  """One table cell of `run`; "-" when the run does not have it.

  Args:
    run: the run.
    source: "label"; "config.FIELD"; "summary.KEY"; "first.METRIC" / "last.METRIC" (the
      first / last value in metrics.jsonl); "param.MODULE.NAME" (first element of that
      leaf of the final params, e.g. "param.Dense_0.kernel"); "row.KEY" (`fixed[KEY]`).
    label: the run's label.
    fixed: fixed cells of this run.

  Returns:
    The value.
  """
  kind, _, key = source.partition(".")
  value = None
  if kind == "label":
    value = label or os.path.basename(os.path.normpath(run.path))
  elif kind == "config":
    value = run.config.get(key)
  elif kind == "summary":
    value = run.summary.get(key)
  elif kind in ("first", "last"):
    values = [r[key] for r in run.records if key in r]
    value = (values[0] if kind == "first" else values[-1]) if values else None
  elif kind == "param":
    value = _param(run, key)
  elif kind == "row":
    value = (fixed or {}).get(key)
  else:
    raise ConfigError(f"column source {source!r}: expected label, config.F, summary.K, first.M, last.M, "
                      "param.P or row.K.")
  return "-" if value is None else value


def row(run: Run, columns: Sequence[tuple[str, str]], label: str = "",
        fixed: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
  """The table row of `run`: header -> `cell(run, source, label, fixed)` for each `(header, source)`."""
  return {header: cell(run, source, label, fixed) for header, source in columns}


def default_columns(runs: Sequence[Run]) -> list[tuple[str, str]]:
  """The run, the config fields whose values differ between the runs, then every summary key.

  A config field named like a summary key (`epochs`) is headed `config.<field>`.
  """
  keys: list[str] = []
  for r in runs:
    keys += [k for k in r.summary if k not in keys]
  fields = sorted({k for r in runs for k in r.config} - {"progress"})
  differ = [k for k in fields if len({json.dumps(r.config.get(k), sort_keys=True) for r in runs}) > 1]
  return ([("run", "label")] + [(f"config.{k}" if k in keys else k, f"config.{k}") for k in differ]
          + [(k, f"summary.{k}") for k in keys])


def labels(runs: Sequence[Run]) -> list[str]:
  """Short unique names: the directory names, or the paths when those collide."""
  names = [os.path.basename(os.path.normpath(r.path)) for r in runs]
  return names if len(set(names)) == len(names) else [os.path.normpath(r.path) for r in runs]


def compare(paths: Sequence[str], out: str, metrics: Sequence[str] = (), x: str = "epoch",
            sources: Sequence[str] = ()) -> str:
  """Writes the overlay PNG to `out` and returns the table (Markdown).

  Args:
    paths: run directories (or directories of runs).
    out: the PNG to write (`~` expanded).
    metrics: the metrics to plot, one panel each (default: those of `DEFAULT_METRICS` some run has).
    x: "epoch" or "step".
    sources: the table columns as `cell` sources (default: `default_columns`).

  Raises:
    ConfigError: a path without runs, an unknown metric or column source.
  """
  runs = [load_run(p) for p in find_runs(paths)]
  names = labels(runs)
  has = lambda m: any(m in rec for r in runs for rec in r.records)
  metrics = list(metrics) or [m for m in DEFAULT_METRICS if has(m)]
  missing = [m for m in metrics if not has(m)]
  if missing:
    raise ConfigError(f"no run has metric(s) {missing} in its metrics.jsonl.")
  if x not in ("epoch", "step"):
    raise ConfigError(f"--x_axis must be epoch or step, got {x!r}.")
  panels = [(m, "minibatch loss" if m == "loss" else m, "loss" in m) for m in metrics]
  out = os.path.expanduser(out)
  if os.path.dirname(out):
    os.makedirs(os.path.dirname(out), exist_ok=True)
  outputs.plot_comparison(dict(zip(names, (r.records for r in runs))), panels, out, x=x,
                          title=f"{len(runs)} runs")
  columns = [(s, s) for s in sources] if sources else default_columns(runs)
  return outputs.table([row(r, columns, label=n) for r, n in zip(runs, names)], [h for h, _ in columns])


def _main(argv: list[str]) -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  f = flags.FLAGS
  if len(argv) < 2:
    errors.fail("experiments.compare", "give one or more run directories.")
  split = lambda s: [p for p in s.split(",") if p]
  try:
    text = compare(argv[1:], f.out, split(f.metrics), f.x_axis, split(f.columns))
  except ConfigError as e:
    errors.fail("experiments.compare", str(e))
  print(text)
  print(f"wrote {f.out}")


if __name__ == "__main__":
  from absl import app  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("out", "compare.png", "the PNG to write (one panel per metric, one line per run)")
  flags.DEFINE_string("metrics", "", "comma-separated metrics to plot (default: "
                      + ",".join(DEFAULT_METRICS) + ", those present)")
  flags.DEFINE_enum("x_axis", "epoch", ["epoch", "step"], "the horizontal axis")
  flags.DEFINE_string("columns", "", "comma-separated table columns: label, config.F, summary.K, first.M, "
                      "last.M, param.P, row.K (default: the differing config fields and the summary)")
  app.run(_main, flags_parser=errors.parse_flags_or_exit)
