"""`train.train_and_evaluate` in-process on tiny runs (a few steps, tmp dirs): outputs, determinism, resume, refusals."""

import json
import os

import jax
import numpy as np
import pytest

from experiments import outputs
from experiments import pruning
from experiments import train
from experiments.configs import default
from experiments.errors import ConfigError
from experiments.errors import RunError


def tiny(**kw):
  """Digits, MLP 16, Adam 0.02, 12 steps of 64: evaluated and checkpointed every 6 steps, logged every 3."""
  c = default.get_config()
  c.update(dict(hidden="16", learning_rate=0.02, steps=12, eval_every=6, checkpoint_every=6, log_every=3,
                progress=False))
  c.update(kw)
  return c


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
  """One finished tiny run: (workdir, summary)."""
  workdir = str(tmp_path_factory.mktemp("runs") / "a")
  return workdir, train.train_and_evaluate(tiny(), workdir)


def _params(workdir):
  return train.final_params(workdir, train.build(tiny()).params)


def test_outputs_metrics_and_test_accuracy(finished):
  workdir, summary = finished
  for name in ("config.json", "metrics.jsonl", "summary.json", "loss.png", "accuracy.png", "learning_rate.png"):
    assert os.path.getsize(os.path.join(workdir, name)) > 0, name
  assert os.listdir(os.path.join(workdir, "checkpoints")) and not os.path.exists(os.path.join(workdir, "tensorboard"))
  records = outputs.read_metrics(workdir)
  assert [r["step"] for r in records if "loss" in r] == [3, 6, 9, 12]
  assert [r["step"] for r in records if "val_loss" in r] == [0, 6, 12]
  assert all(r["learning_rate"] == pytest.approx(0.02) and r["grad_norm"] > 0 for r in records if "loss" in r)
  evals = [r for r in records if "train_loss" in r]
  assert evals[-1]["train_loss"] < 0.8 * evals[0]["train_loss"]
  with open(os.path.join(workdir, "summary.json")) as f:
    assert json.load(f) == summary
  assert summary["step"] == 12 and summary["params"] == 64 * 16 + 16 + 16 * 10 + 10
  assert summary["test_loss"] == evals[-1]["test_loss"]
  # The reported test accuracy is scikit-learn's on the checkpointed params' predictions.
  from sklearn.metrics import accuracy_score  # pylint: disable=g-import-not-at-top
  setup = train.build(tiny())
  pred = np.argmax(setup.model.apply({"params": _params(workdir)}, setup.data.test.x), 1)
  assert summary["test_accuracy"] == pytest.approx(accuracy_score(setup.data.test.y, pred), abs=1e-12)


def test_rerun_of_a_finished_run_changes_nothing(finished):
  workdir, summary = finished
  records = outputs.read_metrics(workdir)
  again = train.train_and_evaluate(tiny(progress=True), workdir)  # progress does not change the numbers
  assert again == summary  # wall_s included: the original run's
  assert outputs.read_metrics(workdir) == records


def test_interrupted_run_resumes_bitwise(finished, tmp_path):
  workdir, summary = finished

  class Crash(Exception):
    pass

  def crash_at_8(step):
    if step == 8:
      raise Crash()

  killed = str(tmp_path / "killed")
  with pytest.raises(Crash):
    train.train_and_evaluate(tiny(), killed, step_hook=crash_at_8)
  assert not os.path.exists(os.path.join(killed, "summary.json"))
  assert max(r["step"] for r in outputs.read_metrics(killed)) == 6  # step 9's record was never reached
  resumed = train.train_and_evaluate(tiny(), killed)
  for x, y in zip(jax.tree.leaves(_params(killed)), jax.tree.leaves(_params(workdir))):
    np.testing.assert_array_equal(x, y)  # bitwise
  assert outputs.read_metrics(killed) == outputs.read_metrics(workdir)
  assert {k: v for k, v in resumed.items() if k != "wall_s"} == {k: v for k, v in summary.items() if k != "wall_s"}


def test_bad_configs_write_nothing(finished, tmp_path):
  workdir, _ = finished
  before = sorted((p, os.path.getmtime(os.path.join(workdir, p))) for p in os.listdir(workdir))
  fresh = str(tmp_path / "fresh")
  for bad, message in ((dict(optimizer="adamz"), "close matches"), (dict(batch_size=5000), "batch_size"),
                       (dict(model="cnn", dataset="diabetes"), "image"), (dict(devices=3), "divisible|device"),
                       (dict(schedule="cosine_decay_schedule"), "missing")):
    with pytest.raises(ConfigError, match=message):
      train.train_and_evaluate(tiny(**bad), fresh)
    assert not os.path.exists(fresh)
  with pytest.raises(ConfigError, match="different config .*steps: 12 -> 13"):
    train.train_and_evaluate(tiny(steps=13), workdir)
  assert sorted((p, os.path.getmtime(os.path.join(workdir, p))) for p in os.listdir(workdir)) == before


def test_devices_uses_the_data_parallel_step(tmp_path):
  one = train.train_and_evaluate(tiny(steps=4), str(tmp_path / "one"))
  four = train.train_and_evaluate(tiny(steps=4, devices=4), str(tmp_path / "four"))
  assert four["train_loss"] == pytest.approx(one["train_loss"], rel=1e-4)
  with pytest.raises(ConfigError, match="divisible"):
    train.build(tiny(batch_size=66, devices=4))


def test_pruning_and_int8_summary_match_the_checkpoint(tmp_path):
  workdir = str(tmp_path / "p")
  s = train.train_and_evaluate(tiny(prune_sparsity=0.75, prune_every=1, quantize_int8=True), workdir)
  params = train.final_params(workdir, train.build(tiny()).params)
  assert s["sparsity"] == pytest.approx(pruning.sparsity_of(params)) and s["sparsity"] >= 0.75 - 1e-3
  _, sizes = pruning.quantize_int8(params)
  assert s["int8_sparse_kib"] == sizes["int8_sparse"] / 1024 < s["int8_kib"] < s["float32_kib"]
  assert abs(s["int8_test_accuracy"] - s["test_accuracy"]) < 0.05


@pytest.mark.slow
def test_mnist_idx_files_with_the_cnn(tmp_path):
  import gzip  # pylint: disable=g-import-not-at-top
  from experiments import data as data_lib  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  shapes = {"train_x": (48, 28, 28), "train_y": (48,), "test_x": (16, 28, 28), "test_y": (16,)}
  for key, stem in data_lib.MNIST_FILES.items():
    a = rng.integers(0, 10 if key.endswith("y") else 256, shapes[key], dtype=np.uint8)
    with gzip.open(tmp_path / (stem + ".gz"), "wb") as f:
      f.write(bytes([0, 0, 8, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape) + a.tobytes())
  s = train.train_and_evaluate(tiny(dataset="mnist", data_dir=str(tmp_path), model="cnn", batch_size=8, steps=4,
                                    eval_every=0, checkpoint_every=0), str(tmp_path / "run"))
  assert s["step"] == 4 and np.isfinite(s["test_loss"]) and s["params"] > 10_000


def test_a_kill_before_the_first_checkpoint_leaves_no_duplicate_records(finished, tmp_path):
  workdir, _ = finished

  class Crash(Exception):
    pass

  def crash_at_4(step):
    if step == 4:
      raise Crash()

  killed = str(tmp_path / "killed")
  with pytest.raises(Crash):  # checkpoints once per epoch (19 steps): none before the crash
    train.train_and_evaluate(tiny(checkpoint_every=0), killed, step_hook=crash_at_4)
  assert not os.path.exists(os.path.join(killed, "checkpoints")) or not os.listdir(os.path.join(killed, "checkpoints"))
  assert [r["step"] for r in outputs.read_metrics(killed)] == [0, 3]
  train.train_and_evaluate(tiny(checkpoint_every=0), killed)
  assert outputs.read_metrics(killed) == outputs.read_metrics(workdir)  # step 0 and step 3 once each
  for x, y in zip(jax.tree.leaves(_params(killed)), jax.tree.leaves(_params(workdir))):
    np.testing.assert_array_equal(x, y)


def _diverging(**kw):
  """SGD at lr 5 on y = 2x: the error grows ~x10 per step, overflowing float32 after ~20 steps."""
  c = default.get_config()
  c.update(dict(dataset="linear_2x", model="linear", optimizer="sgd", learning_rate=5.0, batch_size=50, steps=30,
                eval_every=5, checkpoint_every=5, log_every=1, progress=False))
  c.update(kw)
  return c


def test_nan_policy_raise_stops_at_the_first_nonfinite_step_and_keeps_the_last_good_checkpoint(tmp_path):
  # The reference: under "ignore" the run goes on; its first non-finite training loss is the step to name.
  ignored = train.train_and_evaluate(_diverging(nan_policy="ignore"), str(tmp_path / "ignore"))
  first_bad = min(r["step"] for r in outputs.read_metrics(str(tmp_path / "ignore"))
                  if "loss" in r and not np.isfinite(r["loss"]))
  assert not np.isfinite(ignored["train_loss"]) and 5 < first_bad < 30
  good = (first_bad - 1) // 5 * 5  # the last checkpoint before it
  workdir = str(tmp_path / "raise")
  for _ in range(2):  # a rerun resumes from the kept checkpoint and stops at the same step
    with pytest.raises(RunError, match=rf"non-finite (loss|grad_norm) \(\S+\) at step {first_bad} .*last good "
                                       rf"checkpoint, step {good} in .*checkpoints, is kept"):
      train.train_and_evaluate(_diverging(), workdir)
    assert sorted(int(s) for s in os.listdir(os.path.join(workdir, "checkpoints")) if s.isdigit())[-1] == good
    assert not os.path.exists(os.path.join(workdir, "summary.json"))
    assert max(r["step"] for r in outputs.read_metrics(workdir)) == first_bad - 1
  # "skip" (nan_policy may change on resume: the same numbers until a non-finite step) skips the rest.
  skipped = train.train_and_evaluate(_diverging(nan_policy="skip"), workdir)
  assert skipped["nonfinite_steps"] == 30 - first_bad + 1
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(train.final_params(workdir, train.build(
      _diverging()).params)))


def test_flat_training_step_matches_the_tree_step_and_resumes_from_its_checkpoints(finished, tmp_path):
  workdir, summary = finished

  class Crash(Exception):
    pass

  def crash_at_8(step):
    if step == 8:
      raise Crash()

  flat = str(tmp_path / "flat")
  with pytest.raises(Crash):
    train.train_and_evaluate(tiny(flat=True), flat, step_hook=crash_at_8)
  resumed = train.train_and_evaluate(tiny(flat=True), flat)  # from the checkpoint at step 6 (the tree layout)
  ours, ref = outputs.read_metrics(flat), outputs.read_metrics(workdir)
  assert [r.keys() for r in ours] == [r.keys() for r in ref]
  for a, b in zip(ours, ref):
    for k in a:
      np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-7, err_msg=k)
  assert resumed["test_accuracy"] == pytest.approx(summary["test_accuracy"], abs=1e-9)
  for x, y in zip(jax.tree.leaves(_params(flat)), jax.tree.leaves(_params(workdir))):
    np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
