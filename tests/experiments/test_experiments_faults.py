"""The launcher under faults (slow): bad flags, data files and workdirs, SIGKILLs, corrupt checkpoints, two launches.

Every command line runs `experiments.main` exactly as the shell does (its flags parsed
from `sys.argv`, `main.run()`), each in a child forked from one driver process that
has imported jax, flax, orbax and jopt once (`_driver`), so the ~100 cases cost
seconds, not an interpreter start each.
"""

import gzip
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from experiments import checkpoints
from experiments import data as data_lib
from experiments import outputs
from experiments import train
from experiments.configs import default

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
pytestmark = pytest.mark.slow

# The run of the kill / corruption trials: 24 steps of 64, checkpoints every 4, records every 3 / 6.
RUN = {"hidden": "16", "learning_rate": 0.02, "steps": 24, "eval_every": 6, "checkpoint_every": 4,
       "log_every": 3, "progress": False}
# The CLI cases: a few steps, no output table.
QUICK = ["--config.hidden=16", "--config.steps=4", "--config.progress=false"]


# ---------------------------------------------------------------------------- the driver (runs in a subprocess)


def _kill_self() -> None:
  os.kill(os.getpid(), signal.SIGKILL)


def _arm(kill: dict) -> dict:
  """Patches the checkpoint code of this (forked) process to SIGKILL itself at `kill`'s point."""
  import threading  # pylint: disable=g-import-not-at-top
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  mode, at = kill["mode"], kill["at"]
  hooks: dict = {}
  if mode == "step":  # after the metrics record of step `at`, before its evaluation and checkpoint
    hooks["step_hook"] = lambda step: _kill_self() if step == at else None
  elif mode == "orbax_in_flight":  # orbax's save has returned, its files are being written
    save = ocp.CheckpointManager.save

    def killing_save(self, step, *args, **kwargs):
      out = save(self, step, *args, **kwargs)
      if step == at:
        _kill_self()
      return out

    ocp.CheckpointManager.save = killing_save
  elif mode == "orbax_timer":  # `delay` seconds after the save of step `at` starts: anywhere in it
    save = ocp.CheckpointManager.save

    def timed_save(self, step, *args, **kwargs):
      if step == at:
        threading.Timer(kill["delay"], _kill_self).start()
      return save(self, step, *args, **kwargs)

    ocp.CheckpointManager.save = timed_save
  elif mode == "before_checksum":  # orbax has finished, the checksum file is not written yet
    files = checkpoints._files  # pylint: disable=protected-access

    def killing_files(step_dir):
      if os.path.basename(step_dir) == str(at):
        _kill_self()
      return files(step_dir)

    checkpoints._files = killing_files  # pylint: disable=protected-access
  return hooks


def _child(job: dict) -> int:
  """Runs one job in this forked process; returns its exit code."""
  if job["kind"] == "cli":
    sys.argv = ["experiments.main", *job["argv"]]
    from experiments import main as main_lib  # pylint: disable=g-import-not-at-top  (after sys.argv: --config's overrides)
    try:
      main_lib.run()
    except SystemExit as e:
      return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0
  config = default.get_config()
  config.update(job["config"])
  train.train_and_evaluate(config, job["workdir"], **_arm(job["kill"]) if job.get("kill") else {})
  return 0


def _driver(jobs_path: str, results_path: str) -> None:
  """Runs each job of `jobs_path` (JSON) in a forked child; writes `[{rc, stderr}]` to `results_path`."""
  jax.config.update("jax_compilation_cache_dir", os.path.join(os.path.expanduser("~"), ".cache",
                                                              "jopt-tests-jax"))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
  with open(jobs_path) as f:
    jobs = json.load(f)
  results = []
  for i, job in enumerate(jobs):
    err = f"{results_path}.{i}.stderr"
    t0 = time.time()
    pid = os.fork()
    if pid == 0:  # the child: stderr to a file, stdout dropped
      fd = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
      os.dup2(fd, 2)
      os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
      code = 1
      try:
        code = _child(job)
      except BaseException:  # pylint: disable=broad-except  (an uncaught error: the traceback, exit 1)
        import traceback  # pylint: disable=g-import-not-at-top
        traceback.print_exc()
      sys.stderr.flush()
      os._exit(code)  # pylint: disable=protected-access
    deadline = time.time() + 240
    while True:
      done, status = os.waitpid(pid, os.WNOHANG)
      if done:
        rc = os.waitstatus_to_exitcode(status)
        break
      if time.time() > deadline:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        rc = "timeout"
        break
      time.sleep(0.02)
    with open(err, errors="replace") as f:
      results.append({"rc": rc, "stderr": f.read(), "seconds": round(time.time() - t0, 2)})
  with open(results_path, "w") as f:
    json.dump(results, f)


def run_jobs(tmp_path, jobs: list[dict]) -> list[dict]:
  """Runs `jobs` through `_driver` in one subprocess; returns one `{rc, stderr, seconds}` per job."""
  jobs_path, results_path = str(tmp_path / "jobs.json"), str(tmp_path / "results.json")
  with open(jobs_path, "w") as f:
    json.dump(jobs, f)
  script = (f"import sys; sys.path.insert(0, {HERE!r}); import test_experiments_faults as t; "
            f"t._driver({jobs_path!r}, {results_path!r})")
  r = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=1500)
  assert r.returncode == 0, r.stderr[-3000:]
  with open(results_path) as f:
    return json.load(f)


# ---------------------------------------------------------------------------- fixtures and helpers


def snapshot(path: str):
  """What a workdir holds: None if absent, else {relative path: (size, bytes' hash)} of every file."""
  if not os.path.lexists(path):
    return None
  if not os.path.isdir(path):
    return ("file", os.path.getsize(path))
  out = {}
  for folder, dirs, files in os.walk(path):
    for name in dirs + files:
      p = os.path.join(folder, name)
      with_bytes = os.path.isfile(p)
      out[os.path.relpath(p, path)] = (os.path.getsize(p), hash(open(p, "rb").read())) if with_bytes else "dir"
  return out


def _idx(array: np.ndarray, type_code: int = 0x08, ndim: int | None = None) -> bytes:
  ndim = array.ndim if ndim is None else ndim
  return bytes([0, 0, type_code, ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape) + array.tobytes()


def _mnist_arrays(rng):
  return {"train_x": rng.integers(0, 256, (48, 28, 28), dtype=np.uint8),
          "train_y": rng.integers(0, 10, 48).astype(np.uint8),
          "test_x": rng.integers(0, 256, (16, 28, 28), dtype=np.uint8),
          "test_y": rng.integers(0, 10, 16).astype(np.uint8)}


def _write_idx_dir(folder, arrays, raw: dict | None = None):
  """The four IDX .gz files of `arrays`; `raw` replaces some files' bytes (before gzip unless key ends .raw)."""
  os.makedirs(folder, exist_ok=True)
  for key, stem in data_lib.MNIST_FILES.items():
    body = (raw or {}).get(key, _idx(arrays[key]) if key in arrays else None)
    if (raw or {}).get(key + ".raw") is not None:
      with open(os.path.join(folder, stem + ".gz"), "wb") as f:
        f.write(raw[key + ".raw"])
      continue
    with gzip.open(os.path.join(folder, stem + ".gz"), "wb") as f:
      f.write(body)
  return str(folder)


def bad_data_dirs(root) -> dict[str, str]:
  """One folder per malformed MNIST: the case name -> its data_dir."""
  rng = np.random.default_rng(0)
  a = _mnist_arrays(rng)
  good = _idx(a["train_x"])
  dirs = {}
  dirs["corrupt gzip"] = _write_idx_dir(root / "gz", a, {"train_x.raw": b"\x1f\x8b\x08\x00garbage" * 50})
  dirs["gzip cut short"] = _write_idx_dir(root / "gzcut", a, {"train_x.raw": gzip.compress(good)[:500]})
  dirs["not gzip at all"] = _write_idx_dir(root / "notgz", a, {"train_x.raw": b"plain text, not gzip"})
  dirs["2-D IDX images"] = _write_idx_dir(root / "flat", a, {"train_x": _idx(a["train_x"].reshape(48, 784))})
  dirs["IDX header of 255 dims"] = _write_idx_dir(root / "dims", a, {"train_x": bytes([0, 0, 8, 255]) + b"\0" * 64})
  dirs["IDX bad magic"] = _write_idx_dir(root / "magic", a, {"train_x": b"\x12\x34\x08\x03" + good[4:]})
  dirs["IDX body cut short"] = _write_idx_dir(root / "short", a, {"train_x": good[:-100]})
  dirs["IDX header cut short"] = _write_idx_dir(root / "hdr", a, {"train_x": good[:9]})
  dirs["labels out of range"] = _write_idx_dir(root / "range", {**a, "train_y": a["train_y"] + 3})
  dirs["negative labels"] = _write_idx_dir(root / "neg", a, {"test_y": _idx(-np.ones(16, np.int8), 0x09)})
  dirs["2-D labels"] = _write_idx_dir(root / "y2d", a, {"train_y": _idx(a["train_y"].reshape(48, 1))})
  dirs["count mismatch"] = _write_idx_dir(root / "count", {**a, "train_y": a["train_y"][:40]})
  dirs["train/test image sizes differ"] = _write_idx_dir(
      root / "sizes", {**a, "test_x": rng.integers(0, 256, (16, 32, 32), dtype=np.uint8)})
  dirs["missing IDX files"] = str(root / "empty")
  os.makedirs(root / "empty")
  dirs["data_dir is a file"] = str(root / "gz" / "train-labels-idx1-ubyte.gz")
  dirs["data_dir absent"] = str(root / "nowhere")

  def npz(name, **arrays):
    folder = root / name
    os.makedirs(folder)
    np.savez(folder / "mnist.npz", **arrays)
    return str(folder)

  x, y = a["train_x"], a["train_y"]
  vx, vy = a["test_x"], a["test_y"]
  dirs["npz object array"] = npz("obj", x_train=np.array([x, "oops"], dtype=object), y_train=y, x_test=vx,
                                 y_test=vy)
  dirs["npz missing key"] = npz("key", x_train=x, y_train=y, x_test=vx)
  nan_x = x.astype(np.float32)
  nan_x[3, 4, 5] = np.nan
  dirs["NaN pixels"] = npz("nan", x_train=nan_x, y_train=y, x_test=vx, y_test=vy)
  inf_x = vx.astype(np.float32)
  inf_x[0, 0, 0] = np.inf
  dirs["inf pixels"] = npz("inf", x_train=x, y_train=y, x_test=inf_x, y_test=vy)
  dirs["fractional labels"] = npz("frac", x_train=x, y_train=y + 0.5, x_test=vx, y_test=vy)
  dirs["string images"] = npz("str", x_train=np.array(["a"] * 48), y_train=y, x_test=vx, y_test=vy)
  os.makedirs(root / "zip")
  with open(root / "zip" / "mnist.npz", "wb") as f:
    f.write(b"PK\x03\x04 not really a zip")
  dirs["npz not a zip"] = str(root / "zip")
  return dirs


def bad_flags(folder) -> dict[str, list[str]]:
  """Bad flag values, config overrides and config files (written in `folder`): case name -> flags."""
  os.makedirs(folder, exist_ok=True)
  files = {"raises.py": "raise ValueError('boom')\n", "no_get_config.py": "x = 1\n",
           "wrong_type.py": ("import ml_collections\nfrom experiments.configs import default\n"
                             "def get_config():\n  d = default.get_config().to_dict()\n  d['epochs'] = '3'\n"
                             "  return ml_collections.ConfigDict(d)\n")}
  for name, text in files.items():
    with open(os.path.join(folder, name), "w") as f:
      f.write(text)
  sgd = ["--config.optimizer=sgd"]
  sched = ["--config.schedule_kwargs.init_value=learning_rate"]
  return {
      "lr not a number": ["--config.learning_rate=abc"],
      "lr inf": ["--config.learning_rate=inf"],
      "lr -inf": ["--config.learning_rate=-inf"],
      "lr nan": ["--config.learning_rate=nan"],
      "lr 1e300 (inf in float32)": ["--config.learning_rate=1e300"],
      "lr 0": ["--config.learning_rate=0"],
      "lr negative": ["--config.learning_rate=-0.1"],
      "lr a bool": ["--config.learning_rate=True"],
      "b1 a word": ["--config.optimizer_kwargs.b1=abc"],
      "b1 a list": ["--config.optimizer_kwargs.b1=[0.9]"],
      "b1 out of range": ["--config.optimizer_kwargs.b1=1.5"],
      "b1 None": ["--config.optimizer_kwargs.b1=None"],
      "b1 a bool": ["--config.optimizer_kwargs.b1=True"],
      "eps inf": ["--config.optimizer_kwargs.eps=inf"],
      "nesterov misspelt": sgd + ["--config.optimizer_kwargs.nesterov=ture"],
      "nesterov a string": sgd + ["--config.optimizer_kwargs.nesterov='false'"],
      "momentum a word": sgd + ["--config.optimizer_kwargs.momentum=abc"],
      "momentum > 1": sgd + ["--config.optimizer_kwargs.momentum=1.5"],
      "an optimizer without learning_rate": ["--config.optimizer=torch.sgd"],
      "an argument adam lacks": ["--config.optimizer_kwargs.momentum=0.9"],
      "unknown optimizer": ["--config.optimizer=adamz"],
      "milestones a word": ["--config.schedule=piecewise_constant_schedule", *sched,
                            "--config.schedule_kwargs.boundaries_and_scales=abc"],
      "schedule argument missing": ["--config.schedule=cosine_decay_schedule"],
      "fractional decay_steps": ["--config.schedule=cosine_decay_schedule", *sched,
                                 "--config.schedule_kwargs.decay_steps=2.5"],
      "unknown schedule": ["--config.schedule=cosine_decay"],
      "schedule_kwargs without schedule": ["--config.schedule_kwargs.decay_steps=10"],
      "optimizer_kwargs not a dict": ["--config.optimizer_kwargs=abc"],
      "seed -1": ["--config.seed=-1"],
      "epochs fractional": ["--config.epochs=1.5"],
      "no epochs nor steps": ["--config.epochs=0", "--config.steps=0"],
      "steps negative": ["--config.steps=-3"],
      "batch_size 0": ["--config.batch_size=0"],
      "batch_size over the data": ["--config.batch_size=100000"],
      "progress maybe": ["--config.progress=maybe"],
      "flat yes": ["--config.flat=yes"],
      "nan_policy unknown": ["--config.nan_policy=explode"],
      "lr_scaling unknown": ["--config.lr_scaling=cubic"],
      "l2 negative": ["--config.l2=-1"],
      "l1 nan": ["--config.l1=nan"],
      "clip_norm negative": ["--config.clip_norm=-1"],
      "weight_decay inf": ["--config.weight_decay=inf"],
      "prune_sparsity 1": ["--config.prune_sparsity=1.0"],
      "hidden a word": ["--config.hidden=abc"],
      "hidden 0": ["--config.hidden=0"],
      "unknown model": ["--config.model=transformer"],
      "cnn on a table": ["--config.model=cnn", "--config.dataset=diabetes"],
      "unknown dataset": ["--config.dataset=imagenet"],
      "mnist without data_dir": ["--config.dataset=mnist"],
      "devices 0": ["--config.devices=0"],
      "devices over the host's": ["--config.devices=64"],
      "log_every 0": ["--config.log_every=0"],
      "early_stopping_patience negative": ["--config.early_stopping_patience=-1"],
      "distill_alpha 2": ["--config.distill_alpha=2"],
      "distill_from absent": ["--config.distill_from=/nonexistent/run"],
      "unknown field": ["--config.epoch=3"],
      "unknown flag": ["--no_such_flag=1"],
      "config file absent": ["--config=no/such/config.py"],
      "config file that raises": [f"--config={folder}/raises.py"],
      "config file without get_config": [f"--config={folder}/no_get_config.py"],
      "config file mode unknown": ["--config=experiments/configs/default.py:bogus"],
      "config file field of the wrong type": [f"--config={folder}/wrong_type.py"],
      "docs without an example": ["--docs=/tmp/jopt-docs-never-written"],
      "initialization_timeout 0": ["--initialization_timeout=0"],
      "heartbeat_timeout without multi-host": ["--heartbeat_timeout=5"],
      "num_processes a word": ["--num_processes=abc"],
      "coordinator without port": ["--coordinator_address=localhost", "--num_processes=2", "--process_id=0"],
      "process_id out of range": ["--coordinator_address=localhost:1", "--num_processes=2", "--process_id=5"],
      "a positional argument": ["extra"],
  }


def _fatal_line(result) -> str:
  """The one line a refused launch prints: asserts exit 2, one line, FATAL, no traceback."""
  lines = [l for l in result["stderr"].splitlines() if l.strip()]
  assert result["rc"] == 2, result
  assert "Traceback" not in result["stderr"], result["stderr"][-3000:]
  assert len(lines) == 1 and lines[0].startswith("FATAL: "), result["stderr"][-3000:]
  return lines[0]


# ---------------------------------------------------------------------------- the bad-input table


def test_every_bad_flag_file_and_workdir_is_one_fatal_line_exit_2_and_writes_nothing(tmp_path):
  # A finished run (resumable) that some workdir cases start from.
  run_dir = str(tmp_path / "run")
  c = default.get_config()
  c.update(dict(hidden="16", steps=4, progress=False))
  train.train_and_evaluate(c, run_dir)
  with open(os.path.join(run_dir, "config.json")) as f:
    config_text = f.read()

  def workdir_with(name, files):
    d = tmp_path / "wd" / name
    os.makedirs(d)
    for rel, content in files.items():
      os.makedirs(os.path.dirname(d / rel), exist_ok=True)
      with open(d / rel, "w") as f:
        f.write(content)
    return str(d)

  def copy_run(name, edit):
    import shutil  # pylint: disable=g-import-not-at-top
    d = str(tmp_path / "wd" / name)
    shutil.copytree(run_dir, d)
    edit(d)
    return d

  def cut_metrics(d):
    with open(os.path.join(d, "metrics.jsonl")) as f:
      lines = f.readlines()
    with open(os.path.join(d, "metrics.jsonl"), "w") as f:
      f.writelines(lines[:1])  # the step-0 record only: the checkpoint's records are gone

  def garble_metrics(d):
    with open(os.path.join(d, "metrics.jsonl"), "a") as f:
      f.write("this is not json\n{\"step\": 9}\n")

  a_file = tmp_path / "a_file"
  a_file.write_text("not a directory")
  locked = tmp_path / "ro"
  locked.mkdir()
  if os.getuid() == 0:  # root writes anywhere chmod allows: /proc/1 it cannot
    unwritable = "/proc/1/jopt-run"
  else:
    os.chmod(locked, 0o500)
    unwritable = str(locked / "run")
  workdirs = {
      "empty path": "",
      "a file": str(a_file),
      "under a file": str(a_file / "run"),
      "not writable": unwritable,
      "foreign metrics.jsonl": workdir_with("foreign_metrics", {"metrics.jsonl": "{\"epoch\": 1}\n"}),
      "checkpoints/ without config.json": workdir_with("ckpt_only", {"checkpoints/3/x": "x"}),
      "foreign config.json (not JSON)": workdir_with("foreign_config", {"config.json": "[section]\nkey=1\n"}),
      "config.json not of this launcher": workdir_with("other_config", {"config.json": "{\"a\": 1}"}),
      "truncated config.json": workdir_with("cut_config", {"config.json": config_text[:len(config_text) // 2]}),
      "metrics.jsonl with a foreign line": copy_run("garbled_metrics", garble_metrics),
      "metrics.jsonl truncated": copy_run("cut_metrics", cut_metrics),
      "a run of another config": copy_run("other_run", lambda d: None),
  }
  data_dirs = bad_data_dirs(tmp_path / "data")
  cases = []  # (category, name, argv, workdir)
  flag_cases = bad_flags(tmp_path / "config_files")
  for name, flags in flag_cases.items():
    wd = str(tmp_path / "fresh" / name.replace(" ", "_").replace("/", "_"))
    files = [f for f in flags if f.startswith("--config=")]  # before its overrides, as ml_collections wants
    cases.append(("flag", name, [f"--workdir={wd}", *files, *QUICK, *[f for f in flags if f not in files]], wd))
  for name, d in data_dirs.items():
    wd = str(tmp_path / "fresh_data" / name.replace(" ", "_").replace("/", "_"))
    cases.append(("data file", name, [f"--workdir={wd}", *QUICK, "--config.dataset=mnist", f"--config.data_dir={d}",
                                      "--config.batch_size=8"], wd))
  for name, wd in workdirs.items():
    extra = ["--config.steps=5"] if name == "a run of another config" else ["--config.steps=4"]
    cases.append(("workdir", name, [f"--workdir={wd}", "--config.hidden=16", "--config.progress=false", *extra], wd))
  before = [snapshot(wd) if wd else None for _, _, _, wd in cases]
  data_before = {d: snapshot(d) for d in data_dirs.values()}
  results = run_jobs(tmp_path, [{"kind": "cli", "argv": argv} for _, _, argv, _ in cases])

  counts: dict[str, int] = {}
  problems = []
  for (category, name, argv, wd), result, snap in zip(cases, results, before):
    try:
      line = _fatal_line(result)
      if category != "flag" or name != "a positional argument":
        assert line.startswith("FATAL: --"), line  # names the flag to fix
      if wd:
        assert snapshot(wd) == snap, (line, snapshot(wd))  # nothing written, nothing changed
    except AssertionError as e:
      problems.append(f"{category} / {name}: {e}")
      continue
    counts[category] = counts.get(category, 0) + 1
  assert not problems, "\n".join(problems)
  assert all(snapshot(d) == s for d, s in data_before.items())
  assert not os.path.exists("/tmp/jopt-docs-never-written")
  by_name = {name: _fatal_line(r) for (_, name, _, _), r in zip(cases, results)}
  # The lines name the flag and say what is expected (a sample of the ~100).
  expected = {
      "lr inf": "--config.learning_rate: must be finite",
      "lr 1e300 (inf in float32)": "--config.learning_rate: adam's `learning_rate` must be finite",
      "b1 a word": "--config.optimizer_kwargs.b1: adam's `b1` must be a real number",
      "b1 a list": "--config.optimizer_kwargs.b1: adam's `b1` must be a scalar",
      "nesterov misspelt": "--config.optimizer_kwargs.nesterov: sgd's `nesterov` must be True or False",
      "nesterov a string": "--config.optimizer_kwargs.nesterov: sgd's `nesterov` must be True or False",
      "momentum a word": "--config.optimizer_kwargs.momentum: sgd's `momentum` must be a real number",
      "milestones a word": "--config.schedule_kwargs.boundaries_and_scales: ",
      "seed -1": "--config.seed: must be in [0,",
      "config file that raises": "ValueError: boom",
      "config file field of the wrong type": "--config.epochs: must be an integer, got '3' (str)",
      "epochs fractional": "--config.epochs: '1.5' is not an integer",
      "progress maybe": "--config.progress: 'maybe' is not true or false",
      "unknown flag": "--no_such_flag: Unknown command line flag",
      "corrupt gzip": "--config.data_dir: ",
      "2-D IDX images": "images of shape (48, 784); expected [N, height, width]",
      "IDX header of 255 dims": "IDX header gives 255 dimensions",
      "npz object array": "cannot be read as a NumPy .npz",
      "npz missing key": "has no y_test",
      "labels out of range": "label(s) outside [0, 10)",
      "NaN pixels": "NaN or infinite pixels",
      "empty path": "--workdir: is empty",
      "a file": "is a file, not a directory",
      "under a file": "which is a file, not a directory",
      "not writable": "not writable",
      "foreign metrics.jsonl": "holds metrics.jsonl but no config.json",
      "truncated config.json": "cannot be read as JSON",
      "metrics.jsonl with a foreign line": "is not a metrics record of this launcher",
      "metrics.jsonl truncated": "truncated or edited",
      "a run of another config": "different config (differs in: steps: 4 -> 5)",
  }
  for name, text in expected.items():
    assert text in by_name[name], (name, by_name[name])
  assert counts == {"flag": len(flag_cases), "data file": len(data_dirs), "workdir": len(workdirs)}
  print("bad-input cases, all one FATAL line and exit 2, nothing written:", counts,
        f"{sum(r['seconds'] for r in results):.0f} s")


# ---------------------------------------------------------------------------- kills, corruption, concurrency


def _params(workdir):
  like = train.build(_config()).params
  return jax.tree.leaves(train.final_params(workdir, like))


def _config(**kw):
  c = default.get_config()
  c.update(RUN)
  c.update(kw)
  return c


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
  """The uninterrupted run of `RUN` (in this process) that every faulted run must equal."""
  workdir = str(tmp_path_factory.mktemp("whole") / "run")
  train.train_and_evaluate(_config(), workdir)
  return workdir


def _assert_same_run(workdir, whole):
  for x, y in zip(_params(workdir), _params(whole)):
    np.testing.assert_array_equal(x, y)  # bitwise
  assert outputs.read_metrics(workdir) == outputs.read_metrics(whole)  # no record missing or twice


def _cli_flags():
  return [f"--config.{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in RUN.items()]


def test_random_sigkills_incl_mid_save_resume_bitwise(tmp_path, whole):
  rng = np.random.default_rng(16)
  ckpt_steps = list(range(RUN["checkpoint_every"], RUN["steps"], RUN["checkpoint_every"]))
  trials = [{"mode": "step", "at": 2},  # before the first checkpoint
            {"mode": "step", "at": int(rng.integers(5, RUN["steps"]))},
            {"mode": "orbax_in_flight", "at": int(rng.choice(ckpt_steps))},
            {"mode": "orbax_timer", "at": int(rng.choice(ckpt_steps)), "delay": float(rng.uniform(0, 0.05))},
            {"mode": "orbax_timer", "at": int(rng.choice(ckpt_steps)), "delay": float(rng.uniform(0, 0.05))},
            {"mode": "before_checksum", "at": int(rng.choice(ckpt_steps))}]
  jobs = []
  for i, kill in enumerate(trials):
    wd = str(tmp_path / f"trial{i}")
    jobs.append({"kind": "train", "config": RUN, "workdir": wd, "kill": kill})
    jobs.append({"kind": "cli", "argv": [f"--workdir={wd}", *_cli_flags()]})
  results = run_jobs(tmp_path, jobs)
  for i, kill in enumerate(trials):
    killed, resumed = results[2 * i], results[2 * i + 1]
    assert killed["rc"] == -signal.SIGKILL, (kill, killed["stderr"][-2000:])
    assert resumed["rc"] == 0, (kill, resumed["stderr"][-2000:])
    assert "Traceback" not in resumed["stderr"], (kill, resumed["stderr"][-2000:])
    _assert_same_run(str(tmp_path / f"trial{i}"), whole)
  print("SIGKILL trials, all resumed bitwise:", trials)


def _data_file(step_dir: str) -> str:
  files = [os.path.join(dp, f) for dp, _, fs in os.walk(step_dir) for f in fs if "/d/" in os.path.join(dp, f)]
  return max(files, key=os.path.getsize)  # the largest array data file


def _flip_bit(step_dir):
  path = _data_file(step_dir)
  with open(path, "r+b") as f:
    f.seek(os.path.getsize(path) // 2)
    b = f.read(1)
    f.seek(-1, 1)
    f.write(bytes([b[0] ^ 0x04]))


def _truncate(step_dir):
  path = _data_file(step_dir)
  os.truncate(path, os.path.getsize(path) // 2)


def _garble_metadata(step_dir):
  with open(os.path.join(step_dir, "default", "_METADATA"), "w") as f:
    f.write("{garbled")


def _empty(step_dir):
  import shutil  # pylint: disable=g-import-not-at-top
  shutil.rmtree(step_dir)
  os.makedirs(step_dir)


def test_corrupt_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, whole):
  class Stop(Exception):
    pass

  def stop_at_18(step):
    if step == 18:
      raise Stop()

  damages = {"bit flip": _flip_bit, "truncated data file": _truncate, "garbled _METADATA": _garble_metadata,
             "empty step directory": _empty,
             "no checksum (save cut short)": lambda d: os.remove(os.path.join(d, checkpoints.CHECKSUM))}
  jobs = []
  for i, (name, damage) in enumerate(damages.items()):
    wd = str(tmp_path / f"d{i}")
    with pytest.raises(Stop):
      train.train_and_evaluate(_config(), wd, step_hook=stop_at_18)
    ckpt = os.path.join(wd, "checkpoints")
    assert sorted(int(s) for s in os.listdir(ckpt) if s.isdigit()) == [12, 16]
    damage(os.path.join(ckpt, "16"))
    jobs.append({"kind": "cli", "argv": [f"--workdir={wd}", *_cli_flags()]})
  results = run_jobs(tmp_path, jobs)
  for i, (name, result) in enumerate(zip(damages, results)):
    wd = str(tmp_path / f"d{i}")
    assert result["rc"] == 0, (name, result["stderr"][-2000:])
    warnings = [l for l in result["stderr"].splitlines() if l.startswith("WARNING: checkpoint step 16")]
    assert len(warnings) == 1 and "falling back to step 12" in warnings[0], (name, result["stderr"][-2000:])
    assert "Traceback" not in result["stderr"], (name, result["stderr"][-2000:])
    assert os.listdir(os.path.join(wd, "checkpoints.corrupt"))  # moved aside, not deleted
    _assert_same_run(wd, whole)  # never garbage: the final numbers of an uninterrupted run
  # Every checkpoint corrupt: the run starts over from step 0 (and says so), same numbers.
  wd = str(tmp_path / "all")
  with pytest.raises(Stop):
    train.train_and_evaluate(_config(), wd, step_hook=stop_at_18)
  for s in ("12", "16"):
    _flip_bit(os.path.join(wd, "checkpoints", s))
  train.train_and_evaluate(_config(), wd)
  _assert_same_run(wd, whole)


def test_second_launch_on_a_busy_workdir_refuses_and_a_stale_lock_is_taken_over(tmp_path, whole):
  wd = str(tmp_path / "busy")
  gate = tmp_path / "gate"
  script = (
      "import os, time\n"
      "from experiments import train\nfrom experiments.configs import default\n"
      f"c = default.get_config(); c.update({RUN!r})\n"
      "def hold(step):\n"
      f"  if step == 5:\n    open({str(tmp_path / 'holding')!r}, 'w').close()\n"
      f"    while not os.path.exists({str(gate)!r}):\n      time.sleep(0.05)\n"
      f"train.train_and_evaluate(c, {wd!r}, step_hook=hold)\n")
  first = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
  try:
    deadline = time.time() + 300
    while not (tmp_path / "holding").exists():
      assert first.poll() is None and time.time() < deadline, first.communicate()[1][-2000:]
      time.sleep(0.1)
    before = snapshot(wd)
    with open(os.path.join(wd, ".lock")) as f:
      assert f.read().startswith(f"pid {first.pid} ")
    second = subprocess.run([sys.executable, "-m", "experiments.main", f"--workdir={wd}", *_cli_flags()], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    line = _fatal_line({"rc": second.returncode, "stderr": second.stderr})
    assert "is in use by another launch" in line and f"pid {first.pid}" in line, line
    assert snapshot(wd) == before  # the second launch wrote nothing
  finally:
    gate.touch()
    _, err = first.communicate(timeout=300)
  assert first.returncode == 0, err[-2000:]
  assert not os.path.exists(os.path.join(wd, ".lock"))
  _assert_same_run(wd, whole)  # one writer: every record once
  # A lock file left by a killed launch (a dead pid, no flock held) is taken over.
  stale = str(tmp_path / "stale")
  os.makedirs(stale)
  with open(os.path.join(stale, ".lock"), "w") as f:
    f.write("pid 999999 on nowhere since 2000-01-01T00:00:00\n")
  train.train_and_evaluate(_config(), stale)
  _assert_same_run(stale, whole)
  assert not os.path.exists(os.path.join(stale, ".lock"))


# ---------------------------------------------------------------------------- multi-host (2 CPU processes, gloo)


def _free_port() -> int:
  import socket  # pylint: disable=g-import-not-at-top
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _launch_two(workdir, steps, heartbeat=5):
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_CPU_COLLECTIVES_IMPLEMENTATION": "gloo",
         "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
  port = _free_port()
  return [subprocess.Popen(
      [sys.executable, "-m", "experiments.main", f"--workdir={workdir}", "--config.hidden=16", f"--config.steps={steps}",
       "--config.progress=false", "--config.devices=2", "--config.checkpoint_every=5", "--config.eval_every=5",
       f"--coordinator_address=localhost:{port}", "--num_processes=2", f"--process_id={i}",
       f"--heartbeat_timeout={heartbeat}", "--initialization_timeout=120"],
      cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for i in range(2)]


def test_multi_host_run_writes_once_and_a_lost_peer_ends_the_survivor_in_one_line(tmp_path):
  # A 2-process run (one CPU device each, the mesh over both): process 0 alone writes the records.
  wd = str(tmp_path / "two")
  procs = _launch_two(wd, steps=10)
  errs = [p.communicate(timeout=600)[1] for p in procs]
  assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for e in errs]
  one = str(tmp_path / "one")
  train.train_and_evaluate(_config(steps=10, checkpoint_every=5, eval_every=5, devices=2, hidden="16",
                                   learning_rate=0.002, log_every=10), one)
  ours, ref = outputs.read_metrics(wd), outputs.read_metrics(one)
  assert [r["step"] for r in ours] == [r["step"] for r in ref] == [0, 5, 10, 10]  # each record once
  for a, b in zip(ours, ref):
    for k in b:
      np.testing.assert_allclose(a[k], b[k], rtol=1e-5, err_msg=k)
  # Process 1 killed after the checkpoint at step 10: process 0 ends non-zero within the stated bound
  # (heartbeat_timeout + 8 heartbeat intervals + 1 s = 10 s at heartbeat_timeout=5; 60 s allowed on a
  # loaded test machine), its last line naming the lost process and the last checkpoint.
  wd = str(tmp_path / "lost")
  procs = _launch_two(wd, steps=100000)
  try:
    deadline = time.time() + 600
    while not os.path.exists(os.path.join(wd, "checkpoints", "10", checkpoints.CHECKSUM)):
      assert all(p.poll() is None for p in procs) and time.time() < deadline, [p.stderr.read()[-2000:] for p in procs]
      time.sleep(0.1)
    procs[1].kill()
    t0 = time.time()
    _, err = procs[0].communicate(timeout=120)
    waited = time.time() - t0
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.communicate()
  last = err.strip().splitlines()[-1]
  assert procs[0].returncode not in (0, None) and waited < 60, (procs[0].returncode, waited, err[-2000:])
  assert last.startswith("FATAL: lost process 1 of 2"), err[-2000:]
  assert "last checkpoint: step " in last and os.path.join(wd, "checkpoints") in last, last
  print(f"survivor ended {waited:.1f} s after its peer's SIGKILL (exit {procs[0].returncode}): {last}")


def test_a_diverging_run_exits_3_in_one_line_and_keeps_its_last_good_checkpoint(tmp_path):
  wd = str(tmp_path / "diverging")
  argv = [f"--workdir={wd}", "--config.dataset=linear_2x", "--config.model=linear", "--config.optimizer=sgd",
          "--config.learning_rate=5", "--config.batch_size=50", "--config.steps=30", "--config.eval_every=5",
          "--config.checkpoint_every=5", "--config.log_every=1", "--config.progress=false"]
  results = run_jobs(tmp_path, [{"kind": "cli", "argv": argv}, {"kind": "cli", "argv": argv}])
  lines = []
  for r in results:  # the rerun resumes from the kept checkpoint and stops at the same step
    assert r["rc"] == 3 and "Traceback" not in r["stderr"], r
    fatal = [l for l in r["stderr"].splitlines() if l.startswith("FATAL")]
    assert len(fatal) == 1 and r["stderr"].strip().splitlines()[-1] == fatal[0], r["stderr"][-2000:]
    lines.append(fatal[0])
  assert lines[0] == lines[1]
  step = int(lines[0].split(" at step ")[1].split()[0])
  good = (step - 1) // 5 * 5
  assert lines[0].startswith("FATAL: experiments.main: training diverged: non-finite ") and (
      f"the last good checkpoint, step {good} in {wd}/checkpoints, is kept") in lines[0], lines[0]
  assert os.path.exists(os.path.join(wd, "checkpoints", str(good), checkpoints.CHECKSUM))
  assert not os.path.exists(os.path.join(wd, "summary.json"))
