"""What a run leaves in its workdir: metrics.jsonl, PNG plots and the summary table."""

import json
import os
from typing import Any, Iterable, Mapping, Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position

METRICS = "metrics.jsonl"
CONFIG = "config.json"
SUMMARY = "summary.json"


def read_metrics(workdir: str) -> list[dict[str, Any]]:
  """The records of `<workdir>/metrics.jsonl`, in order (empty if absent)."""
  path = os.path.join(workdir, METRICS)
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


class MetricsWriter:
  """Appends one JSON object per line to metrics.jsonl.

  On resume from the checkpoint at step `start_step`, records after that step
  (written by the run that was stopped) are dropped first, and at step 0 (no
  checkpoint yet) all of them, so a resumed run's file reads like an uninterrupted
  run's whatever the crash point: no record twice.
  """

  def __init__(self, workdir: str, start_step: int, records: Optional[Sequence[Mapping[str, Any]]] = None):
    self.path = os.path.join(workdir, METRICS)
    if records is None:
      records = read_metrics(workdir)
    kept = [r for r in records if r["step"] <= start_step] if start_step > 0 else []
    tmp = f"{self.path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:  # then renamed: a crash here leaves the old file whole
      for r in kept:
        f.write(json.dumps(r) + "\n")
    os.replace(tmp, self.path)
    self._file = open(self.path, "a")

  def write(self, record: Mapping[str, Any]) -> None:
    """Writes `record` (must hold `step`); numbers other than ints are written as Python floats."""
    record = {k: (v if isinstance(v, (int, str)) else float(v)) for k, v in record.items()}
    self._file.write(json.dumps(record) + "\n")
    self._file.flush()

  def close(self) -> None:
    self._file.close()


class NullWriter:
  """The metrics writer of a multi-host run's processes other than 0: they write nothing."""

  def write(self, record: Mapping[str, Any]) -> None:
    del record

  def close(self) -> None:
    pass


def series(records: Iterable[Mapping[str, Any]], key: str, x: str = "step") -> tuple[list, list]:
  """`(xs, ys)` of every record holding `key`."""
  pts = [(r[x], r[key]) for r in records if key in r and x in r]
  return [p[0] for p in pts], [p[1] for p in pts]


def plot_run(workdir: str, records: Sequence[Mapping[str, Any]]) -> list[str]:
  """loss.png (minibatch, train, validation), accuracy.png (classification), learning_rate.png."""
  written = []
  fig, ax = plt.subplots(figsize=(6, 4))
  for key, label, style in (("loss", "minibatch loss", "-"), ("train_loss", "train loss", "o-"),
                            ("val_loss", "validation loss", "s-")):
    xs, ys = series(records, key)
    if xs:
      ax.plot(xs, ys, style, label=label, alpha=0.5 if key == "loss" else 1.0, markersize=3)
  ax.set(xlabel="step", ylabel="loss", yscale="log", title=os.path.basename(os.path.abspath(workdir)))
  ax.legend()
  written.append(_save(fig, os.path.join(workdir, "loss.png")))
  xs, ys = series(records, "val_accuracy")
  if xs:
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, ys, "s-", label="validation", markersize=3)
    ax.plot(*series(records, "test_accuracy"), "o-", label="test", markersize=3)
    ax.set(xlabel="step", ylabel="accuracy", title=os.path.basename(os.path.abspath(workdir)))
    ax.legend()
    written.append(_save(fig, os.path.join(workdir, "accuracy.png")))
  xs, ys = series(records, "learning_rate")
  if xs:
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(xs, ys)
    ax.set(xlabel="step", ylabel="learning rate")
    written.append(_save(fig, os.path.join(workdir, "learning_rate.png")))
  return written


def plot_comparison(
    runs: Mapping[str, Sequence[Mapping[str, Any]]],
    panels: Sequence[tuple[str, str, bool]],
    path: str,
    x: str = "epoch",
    title: str = "",
) -> str:
  """One figure, one panel per `(metric, ylabel, log_scale)`, one line per run (label -> records)."""
  fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4), squeeze=False)
  for ax, (key, ylabel, log) in zip(axes[0], panels):
    for label, records in runs.items():
      xs, ys = series(records, key, x)
      if xs:
        ax.plot(xs, ys, label=label, marker="." if len(xs) < 40 else None)
    ax.set(xlabel=x, ylabel=ylabel, yscale="log" if log else "linear")
    ax.grid(alpha=0.3)
  axes[0][0].legend(fontsize=8)
  if title:
    fig.suptitle(title)
  return _save(fig, path)


def plot_rows(
    rows: Sequence[Mapping[str, Any]],
    x: str,
    panels: Sequence[tuple[str, bool, Sequence[tuple[str, str, str]]]],
    path: str,
    title: str = "",
) -> str:
  """One figure of table columns against column `x` across runs.

  Args:
    rows: the table rows (one per run).
    x: the column on the horizontal axis.
    panels: per panel `(ylabel, log_scale, lines)`, each line `(column, legend, matplotlib style)`.
    path: the PNG to write.
    title: the figure's title.

  Returns:
    `path`.
  """
  fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4), squeeze=False)
  xs = [r[x] for r in rows]
  for ax, (ylabel, log, lines) in zip(axes[0], panels):
    for column, legend, style in lines:
      ax.plot(xs, [r[column] for r in rows], style, label=legend)
    ax.set(xlabel=x, ylabel=ylabel, yscale="log" if log else "linear")
    ax.legend()
  if title:
    fig.suptitle(title)
  return _save(fig, path)


def _save(fig, path: str) -> str:
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def table(rows: Sequence[Mapping[str, Any]], columns: Optional[Sequence[str]] = None) -> str:
  """A Markdown table of `rows` (floats to 4 significant digits)."""
  columns = list(columns or rows[0].keys())
  fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)
  lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
  lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
  return "\n".join(lines)
