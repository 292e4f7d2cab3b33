"""The command lines (subprocesses, slow): kill -9 and resume, exit code 2, --help, train == main, compare."""

import json
import os
import re
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from experiments import outputs
from experiments import train
from experiments.configs import default

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.slow
# The run both sides use: the config fields and the same values as --config.FIELD flags.
RUN = {"hidden": "32", "learning_rate": 0.01, "epochs": 3, "checkpoint_every": 10, "progress": False}
FLAGS = [f"--config.{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in RUN.items()]


def _run(args, env=None, timeout=300):
  return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                        env={**os.environ, **(env or {})})


def _cli(module, workdir, *flags, env=None):
  return _run(["-m", module, f"--workdir={workdir}", *FLAGS, *flags], env=env)


def _config():
  c = default.get_config()
  c.update(RUN)
  return c


def test_sigkill_mid_run_then_the_cli_resumes_bitwise_and_bad_flags_exit_2(tmp_path):
  killed, whole = str(tmp_path / "killed"), str(tmp_path / "whole")
  script = (
      "import os, signal\n"
      "from experiments import train\nfrom experiments.configs import default\n"
      f"c = default.get_config(); c.update({RUN!r})\n"
      "def kill(step):\n  if step == 25:\n    os.kill(os.getpid(), signal.SIGKILL)\n"
      f"train.train_and_evaluate(c, {killed!r}, step_hook=kill)\n")
  r = _run(["-c", script])
  assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
  assert not os.path.exists(os.path.join(killed, "summary.json"))  # it died mid-training (57 steps)
  with open(os.path.join(killed, "metrics.jsonl")) as f:
    assert max(json.loads(line)["step"] for line in f) <= 25
  r = _cli("experiments.main", killed)
  assert r.returncode == 0, r.stderr[-2000:]
  assert "resumed" in r.stderr
  train.train_and_evaluate(_config(), whole)
  like = train.build(_config()).params
  for x, y in zip(jax.tree.leaves(train.final_params(killed, like)), jax.tree.leaves(train.final_params(whole, like))):
    np.testing.assert_array_equal(x, y)  # bitwise
  assert outputs.read_metrics(killed) == outputs.read_metrics(whole)

  ckpt = os.path.join(killed, "checkpoints")
  before = sorted((p, os.path.getmtime(os.path.join(ckpt, p))) for p in os.listdir(ckpt))
  for flags, message in ((["--config.optimizer=adamz"], "close matches: .*adamw"),
                         (["--config.optimizer_kwargs.momentum=0.9"], "unexpected keyword argument 'momentum'"),
                         (["--config.optimizer_kwargs.b1=1.5"], "b1"),
                         (["--config.epochs=4"], "different config"),
                         (["--config.epoch=4"], "unknown config field.*did you mean epochs"),
                         (["--no_such_flag=1"], "Unknown command line flag"),
                         (["--docs=/tmp/x"], "--docs: is for worked examples"),
                         (["extra_argument"], "unexpected arguments")):
    r = _cli("experiments.main", killed, *flags)
    assert r.returncode == 2, (flags, r.stderr[-2000:])
    assert re.search(message, r.stderr), (flags, r.stderr[-2000:])
    assert "Traceback" not in r.stderr, (flags, r.stderr[-2000:])
  r = _run(["-m", "experiments.main", f"--workdir={killed}", "--config=no/such/config.py"])
  assert r.returncode == 2 and "no/such/config.py" in r.stderr and "Traceback" not in r.stderr
  after = sorted((p, os.path.getmtime(os.path.join(ckpt, p))) for p in os.listdir(ckpt))
  assert before == after


def test_help_lists_the_flags():
  for module, names in (("experiments.main", ("--workdir", "--config", "--docs")),
                        ("experiments.train", ("--workdir", "--config")),
                        ("experiments.sweep", ("--workdir", "--config", "--search", "--grid", "--random", "--vmap")),
                        ("experiments.compare", ("--out", "--metrics", "--x_axis", "--columns")),
                        ("experiments.tuning.metagrad", ("--workdir", "--docs", "--quick"))):
    r = _run(["-m", module, "--help"])
    assert r.returncode in (0, 1), (module, r.stderr[-2000:])  # absl's --help exits with 1
    for name in names:
      assert re.search(rf"^\s+--(\[no\])?{name[2:]}:", r.stdout, re.M), (module, name, r.stdout[-3000:])


def test_train_module_is_main_and_compare_overlays_the_runs(tmp_path):
  a, b = str(tmp_path / "a"), str(tmp_path / "b")
  short = ["--config.steps=8", "--config.eval_every=4", "--config.log_every=2"]
  r1 = _cli("experiments.train", a, *short, "--config.optimizer=sgd", "--config.optimizer_kwargs.nesterov=true",
            "--config.optimizer_kwargs.momentum=0.9")
  r2 = _cli("experiments.main", b, *short, "--config.optimizer=sgd", "--config.optimizer_kwargs.nesterov=True",
            "--config.optimizer_kwargs.momentum=0.9")
  assert r1.returncode == 0 and r2.returncode == 0, (r1.stderr[-2000:], r2.stderr[-2000:])
  assert outputs.read_metrics(a) == outputs.read_metrics(b)
  with open(os.path.join(a, "config.json")) as f:
    cfg = json.load(f)
  assert cfg["optimizer_kwargs"] == {"momentum": 0.9, "nesterov": True} and cfg["steps"] == 8
  c = _config()
  c.update(dict(steps=8, eval_every=4, log_every=2, optimizer="adam"))
  adam = str(tmp_path / "adam")
  train.train_and_evaluate(c, adam)
  out = str(tmp_path / "cmp.png")
  r = _run(["-m", "experiments.compare", a, adam, f"--out={out}", "--metrics=train_loss,val_accuracy"])
  assert r.returncode == 0, r.stderr[-2000:]
  lines = r.stdout.splitlines()
  assert lines[0].startswith("| run | optimizer | optimizer_kwargs | step |")
  assert lines[2].startswith("| a | sgd |") and lines[3].startswith("| adam | adam |")
  assert os.path.getsize(out) > 0
  r = _run(["-m", "experiments.compare", str(tmp_path / "nothing"), f"--out={out}"])
  assert r.returncode == 2 and "holds no run" in r.stderr


def test_worked_example_cli_and_cpu_devices(tmp_path):
  r = _run(["-m", "experiments.main", f"--workdir={tmp_path / 'es'}", "--config=experiments/configs/early_stopping.py:quick",
            "--config.epochs=3", f"--docs={tmp_path / 'docs'}"])
  assert r.returncode == 0, r.stderr[-2000:]
  assert os.path.exists(tmp_path / "es" / "results.md") and os.path.exists(tmp_path / "docs" / "experiments_early_stopping.png")
  with open(tmp_path / "es" / "no_early_stopping" / "config.json") as f:
    assert json.load(f)["epochs"] == 3  # the override reached every variant
  # --config.devices=2 on a CPU host without XLA_FLAGS: the launcher asks jax for 2 host devices.
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  r = subprocess.run([sys.executable, "-m", "experiments.main", f"--workdir={tmp_path / 'dp'}", *FLAGS,
                      "--config.steps=4", "--config.devices=2"], cwd=REPO, capture_output=True, text=True,
                     timeout=300, env={**env, "JAX_PLATFORMS": "cpu"})
  assert r.returncode == 0, r.stderr[-2000:]
