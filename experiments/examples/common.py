"""What every worked example shares: configs from the default, runs through the one loop, tables, plots, main.

An example is a module with `run(workdir, quick=False) -> list[dict]` (the rows
of its table) and `if __name__ == "__main__": common.main(run)`. Its
command line is `python -m experiments.examples.<name> --workdir=DIR [--quick]
[--docs=docs]`: every variant trains in `DIR/<variant>` with the shared loop
(rerunning resumes), the comparison PNG and results.md go to DIR, and with
`--docs` the PNG is also copied there as `experiments_<name>.png`.
"""

import os
import re
import shutil
import sys
from typing import Any, Callable, Mapping, Optional, Sequence

from experiments import build as build_lib
from experiments import loop
from experiments import outputs
from experiments.configs import default


def config(**overrides: Any):
  """The default config with `overrides` (progress bar off: examples print their own table)."""
  c = default.get_config()
  c.progress = False
  for k, v in overrides.items():
    if k in ("optimizer_kwargs", "schedule_kwargs"):
      c[k].update(v)
    else:
      c[k] = v
  return c


def slug(label: str) -> str:
  """A directory name for a variant label."""
  return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def train(workdir: str, label: str, c) -> tuple[dict[str, Any], list[dict[str, Any]]]:
  """Trains variant `label` in `workdir/<slug>` with the shared loop; returns (summary, metrics records)."""
  run_dir = os.path.join(workdir, slug(label))
  print(f"[{label}] training in {run_dir}", file=sys.stderr)
  summary = loop.train_and_evaluate(c, run_dir)
  return summary, outputs.read_metrics(run_dir)


def final_params(workdir: str, label: str, c) -> Any:
  """The trained params of variant `label` (its latest checkpoint)."""
  return loop.final_params(os.path.join(workdir, slug(label)), build_lib.build(c).params)


def first_and_last(records: Sequence[Mapping[str, Any]], key: str = "train_loss") -> tuple[float, float]:
  """The first and last value of `key` over the evaluation records."""
  values = [r[key] for r in records if key in r]
  return values[0], values[-1]


def report(
    workdir: str,
    name: str,
    rows: Sequence[Mapping[str, Any]],
    png: Optional[str] = None,
    docs: str = "",
    columns: Optional[Sequence[str]] = None,
) -> str:
  """Prints the table, writes results.md, copies the PNG to `docs/experiments_<name>.png` if `docs`."""
  text = outputs.table(rows, columns)
  print(text)
  with open(os.path.join(workdir, "results.md"), "w") as f:
    f.write(text + "\n")
  if png and docs:
    os.makedirs(docs, exist_ok=True)
    shutil.copy(png, os.path.join(docs, f"experiments_{name}.png"))
  return text


def main(run: Callable[..., Any]) -> None:
  """The example's absl entry point: `--workdir` (required), `--quick`, `--docs`."""
  from absl import app  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top

  flags.DEFINE_string("workdir", None, "where the runs, the PNG and results.md go", required=True)
  flags.DEFINE_bool("quick", False, "a reduced size (few epochs), as the tests run it")
  flags.DEFINE_string("docs", "", "also copy the comparison PNG into this folder")

  def _main(argv):
    if len(argv) > 1:
      sys.stderr.write(f"FATAL: unexpected arguments {argv[1:]}\n")
      sys.exit(2)
    try:
      run(flags.FLAGS.workdir, quick=flags.FLAGS.quick, docs=flags.FLAGS.docs)
    except build_lib.ConfigError as e:
      sys.stderr.write(f"FATAL: {e}\n")
      sys.exit(2)

  from experiments import flags as flags_lib  # pylint: disable=g-import-not-at-top
  app.run(_main, flags_parser=flags_lib.parse_or_exit)
