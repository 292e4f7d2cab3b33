"""Worked examples: train each variant of an example config in `<workdir>/<variant>`, then compare them.

A worked example is a config (`experiments/configs/<example>.py`) with an `example` field:

    example.name      results.md, `<workdir>/<name>.png`; `--docs=DIR` copies the PNG to DIR/experiments_<name>.png
    example.variants  a tuple of `configs.default.variant(label, **overrides)` dicts; each variant is the
                      config without `example`, with its overrides, trained by `train.train_and_evaluate`
                      in `<workdir>/<dir>` (rerunning resumes, like any run)
    example.columns   the table: `(header, source)` pairs, sources as in `experiments.compare.cell`
    example.plot      kind="curves": metrics over `x` (step or epoch), one line per variant, one panel per
                      `(metric, ylabel, log_scale)`; kind="rows": table columns against column `x`, one
                      panel per `(ylabel, log_scale, ((column, legend, style), ...))`
"""

import copy
import os
import re
import shutil
import sys
from typing import Any

from experiments import compare
from experiments import outputs
from experiments import train
from experiments import workdir as workdir_lib
from experiments.errors import ConfigError


def slug(label: str) -> str:
  """A directory name for a variant label."""
  return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def _variant_config(config: Any, overrides: dict[str, Any], workdir: str, dirs: list[str]) -> Any:
  child = copy.deepcopy(config)
  with child.unlocked():
    del child["example"]
    for k, v in overrides.items():
      if k in ("optimizer_kwargs", "schedule_kwargs"):
        child[k].update(v)
      elif k not in child:
        raise ConfigError(f"--config: variant override {k!r} is not a config field (see "
                          "experiments/configs/default.py).")
      else:
        child[k] = v
    if child.distill_from in dirs:  # an earlier variant of this example: the teacher
      child.distill_from = os.path.join(workdir, child.distill_from)
  return child


def run(config: Any, workdir: str, docs: str = "") -> list[dict[str, Any]]:
  """Trains every variant of the worked example `config`, then writes its table and comparison PNG.

  Args:
    config: a config with an `example` field (see the module docstring).
    workdir: the example's workdir (`~` expanded): one run directory per variant,
      `<name>.png` and `results.md`.
    docs: if set, the PNG is also copied to `<docs>/experiments_<name>.png`.

  Returns:
    The table rows, one dict (header -> value) per variant.

  Raises:
    ConfigError: a bad setting in some variant, before that variant writes anything.
  """
  ex = config.example
  workdir = workdir_lib.check_path(workdir)
  children, dirs = [], []
  for v in ex.variants:  # every variant's fields checked before the first one trains
    children.append(_variant_config(config, v["config"], workdir, dirs))
    dirs.append(v["dir"] or slug(v["label"]))
    train.check_fields(children[-1])
    train.check_values(children[-1])
  rows, curves = [], {}
  for v, child, run_dir in zip(ex.variants, children, dirs):
    print(f"[{v['label']}] training in {os.path.join(workdir, run_dir)}", file=sys.stderr)
    train.train_and_evaluate(child, os.path.join(workdir, run_dir))
    r = compare.load_run(os.path.join(workdir, run_dir))
    rows.append(compare.row(r, ex.columns, label=v["label"], fixed=v["row"]))
    curves[v["legend"] or v["label"]] = r.records
  os.makedirs(workdir, exist_ok=True)
  png = os.path.join(workdir, f"{ex.name}.png")
  if ex.plot.kind == "curves":
    outputs.plot_comparison(curves, ex.plot.panels, png, x=ex.plot.x, title=ex.plot.title)
  elif ex.plot.kind == "rows":
    outputs.plot_rows(rows, ex.plot.x, ex.plot.panels, png, title=ex.plot.title)
  else:
    raise ConfigError(f"example.plot.kind must be 'curves' or 'rows', got {ex.plot.kind!r}.")
  text = outputs.table(rows, [header for header, _ in ex.columns])
  print(text)
  with open(os.path.join(workdir, "results.md"), "w") as f:
    f.write(text + "\n")
  if docs:
    docs = os.path.expanduser(docs)
    os.makedirs(docs, exist_ok=True)
    shutil.copy(png, os.path.join(docs, f"experiments_{ex.name}.png"))
  return rows
