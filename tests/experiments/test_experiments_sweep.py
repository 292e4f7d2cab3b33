"""`python -m experiments.sweep`: search-space parsing and validation (fast), the command line (slow)."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments import sweep
from experiments.configs import default
from experiments.errors import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_search_space_parsing():
  assert sweep.parse_grid(["learning_rate=1e-3, 1e-2", "b1=0.9"]) == {"learning_rate": [1e-3, 1e-2], "b1": [0.9]}
  assert sweep.parse_random(["lr=log:1e-5:1e-1", "b1=uniform:0.8:0.99"]) == {
      "lr": ("log", 1e-5, 1e-1), "b1": ("uniform", 0.8, 0.99)}
  space = sweep.search_space("grid", ["learning_rate=1,2,3", "weight_decay=0.1,0.2"], [], 16)
  assert list(zip(space["learning_rate"], space["weight_decay"])) == [
      (1, 0.1), (1, 0.2), (2, 0.1), (2, 0.2), (3, 0.1), (3, 0.2)]
  draws = sweep.search_space("random", [], ["learning_rate=log:1e-4:1e-1"], 200, seed=3)
  lr = np.asarray(draws["learning_rate"])
  assert lr.shape == (200,) and lr.min() >= 1e-4 and lr.max() <= 1e-1
  assert np.mean(lr < 1e-2) == pytest.approx(2 / 3, abs=0.1)  # log-uniform: 2 of the 3 decades
  np.testing.assert_array_equal(sweep.search_space("random", [], ["learning_rate=log:1e-4:1e-1"], 200, seed=3)
                                ["learning_rate"], lr)
  for args, message in ((("grid", ["lr"], [], 1), "expected NAME"), (("grid", ["lr=1,x"], [], 1), "'x'"),
                        (("grid", ["lr=1", "lr=2"], [], 1), "twice"), (("grid", [], [], 1), "needs at least"),
                        (("random", [], ["lr=log:0:1"], 4), "LOW > 0"), (("random", [], ["lr=cube:1:2"], 4), "cube"),
                        (("random", [], ["lr=uniform:2:1"], 4), "LOW must be < HIGH"),
                        (("random", ["lr=1"], [], 4), "not --grid"), (("grid", ["lr=1"], [], 0), "trials")):
    with pytest.raises(ConfigError, match=message):
      sweep.search_space(*args)


def test_build_sweep_refuses_what_a_sweep_cannot_do():
  space = {"learning_rate": np.array([1e-3, 1e-2])}
  for field, value, message in (("schedule", "cosine_decay_schedule", "schedule"), ("l2", 0.1, "l2"),
                                ("devices", 2, "devices"), ("optimizer", "adamz", "close matches")):
    c = default.get_config()
    c[field] = value
    with pytest.raises(ConfigError, match=message):
      sweep.build_sweep(c, space)
  with pytest.raises(ConfigError, match="unexpected keyword argument 'b3'"):
    sweep.build_sweep(default.get_config(), {"b3": np.array([0.1])})
  with pytest.raises(ConfigError, match="learning_rate"):
    sweep.build_sweep(default.get_config(), {"learning_rate": np.array([-1.0, 0.1])})
  c = default.get_config()
  c.optimizer_kwargs.b1 = 0.8
  with pytest.raises(ConfigError, match="both swept and set"):
    sweep.build_sweep(c, {"b1": np.array([0.9])})


def _sweep_cli(tmp_path, *args):
  return subprocess.run([sys.executable, "-m", "experiments.sweep", f"--workdir={tmp_path}", *args], cwd=REPO,
                        capture_output=True, text=True, timeout=300, env={**os.environ, "JAX_PLATFORMS": "cpu"})


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["--grid=learning_rate"], "--grid"),
    (["--grid=learning_rate=1e-3,abc"], "abc"),
    (["--random=learning_rate=log:0:1e-1", "--search=random"], "log"),
    (["--random=learning_rate=cube:1:2", "--search=random"], "cube"),
    (["--search=random"], "--random"),
    (["--search=grid", "--random=learning_rate=log:1e-5:1e-1"], "--grid"),
    (["--grid=learning_rate=1e-3", "--trials=0"], "trials"),
    (["--grid=learning_rate=1e-3", "--config.l2=0.1"], "config.l2 is not supported"),
    (["--grid=b3=0.1"], "b3"),
    (["--grid=learning_rate=1e-3", "--docs=docs"], "--docs"),
])
def test_sweep_cli_flag_errors_are_clear_with_exit_code_2(args, message, tmp_path):
  proc = _sweep_cli(tmp_path, *args)
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert message in proc.stderr, proc.stderr[-2000:]
  assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_sweep_cli_writes_csv_best_config_and_plot(tmp_path):
  proc = _sweep_cli(tmp_path, "--config.epochs=1", "--config.hidden=8", "--config.optimizer=adamw",
                    "--config.optimizer_kwargs.b1=0.85", "--grid=learning_rate=1e-3,1e-1",
                    "--grid=weight_decay=1e-4,1e-2")
  assert proc.returncode == 0, proc.stderr[-2000:]
  with open(tmp_path / "results.csv") as f:
    rows = list(csv.DictReader(f))
  assert [(float(r["learning_rate"]), float(r["weight_decay"])) for r in rows] == [
      (1e-3, 1e-4), (1e-3, 1e-2), (1e-1, 1e-4), (1e-1, 1e-2)]
  with open(tmp_path / "best.json") as f:
    best = json.load(f)
  assert best["final_val_loss"] == pytest.approx(min(float(r["final_val_loss"]) for r in rows), rel=1e-5)
  assert best["fixed"] == {"b1": 0.85} and best["optimizer"] == "adamw" and best["trials"] == 4
  assert (tmp_path / "sweep.png").stat().st_size > 0
