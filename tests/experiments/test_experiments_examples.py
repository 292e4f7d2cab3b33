"""The worked examples (reduced, `get_config("quick")`) and the tuning experiments (`quick=True`), all slow."""

import importlib
import os

import numpy as np
import pytest

from experiments import variants
from test_experiments_units import EXAMPLES, check_example_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.slow


def _docs_snapshot():
  docs = os.path.join(REPO, "docs")
  return sorted((p, os.path.getmtime(os.path.join(docs, p))) for p in os.listdir(docs)) if os.path.isdir(docs) else []


@pytest.mark.parametrize("name", EXAMPLES)
def test_full_example_configs_are_valid_runs(name):
  check_example_config(name, [""])


@pytest.mark.parametrize("name", EXAMPLES)
def test_worked_example_reduced(tmp_path, name):
  before = _docs_snapshot()
  config = importlib.import_module(f"experiments.configs.{name}").get_config("quick")
  rows = variants.run(config, str(tmp_path), docs=str(tmp_path / "docs"))
  assert _docs_snapshot() == before  # the repository's docs/ is written only when asked
  assert os.path.getsize(tmp_path / f"{name}.png") > 0 and os.path.exists(tmp_path / "results.md")
  assert os.path.getsize(tmp_path / "docs" / f"experiments_{name}.png") > 0
  with open(tmp_path / "results.md") as f:
    assert f.read().splitlines()[0] == "| " + " | ".join(h for h, _ in config.example.columns) + " |"
  assert len(rows) == len(config.example.variants) >= 2
  for row, v in zip(rows, config.example.variants):
    assert os.path.exists(tmp_path / (v["dir"] or variants.slug(v["label"])) / "summary.json")
    start = row.get("train loss start", row.get("train MSE start"))
    end = row.get("train loss end", row.get("train MSE end"))
    if start is not None:
      assert end < start, row
    for k, value in row.items():
      assert value != "-" or k == "best epoch", (k, row)
      if isinstance(value, float):
        assert np.isfinite(value), (k, row)
  if name == "gd_variants":
    assert all(abs(r["w"]) < 5 and r["steps"] == 100 // r["batch"] * 3 for r in rows)
  if name == "batch_scaling":
    for r in rows:
      assert r["lr"] == pytest.approx(0.02 * (r["batch"] / 64 if r["rule"] == "linear" else 1.0))
  if name == "lr_schedules":
    assert rows[0]["lr at end"] == pytest.approx(0.1) and rows[1]["lr at end"] < 0.1
  if name == "pruning_quantization":
    for r in rows:
      assert r["kernel sparsity"] >= r["target sparsity"] - 1e-3
      assert r["int8 sparse KiB"] < r["int8 KiB"] < r["float32 KiB"] or r["target sparsity"] == 0
    assert rows[0]["test acc int8"] > 0.5
  if name == "distillation":
    assert rows[0]["params"] > 10 * rows[1]["params"] and rows[1]["params"] == rows[2]["params"]
    assert os.path.isdir(tmp_path / "teacher")
  if name == "early_stopping":
    assert rows[1]["epochs trained"] <= rows[0]["epochs trained"] and rows[0]["best epoch"] == "-"
  # A rerun resumes every variant: same table.
  assert variants.run(config, str(tmp_path)) == rows


@pytest.mark.parametrize("name", ["grid_vs_random", "hypergradient", "metagrad"])
def test_tuning_experiment_reduced_writes_into_its_workdir(tmp_path, name):
  before = _docs_snapshot()
  result = importlib.import_module(f"experiments.tuning.{name}").run(str(tmp_path), quick=True)
  assert _docs_snapshot() == before
  assert os.path.getsize(tmp_path / f"{name}.png") > 0
  with open(tmp_path / "results.txt") as f:
    text = f.read()
  assert text.startswith("digits MLP 64-64-10")
  if name == "grid_vs_random":
    assert all(np.isfinite(result["grid"])) and len(result["random_mean"]) == len(result["budgets"])
  if name == "hypergradient":
    assert set(result) == {"SGD", "SGD-HD b=1e-3", "Adam", "Adam-HD b=1e-4"} and "max/min" in text
  if name == "metagrad":
    assert all(np.isfinite(result["meta_best"])) and "meta run  2" in text
