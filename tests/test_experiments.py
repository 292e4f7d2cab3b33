"""experiments/: registry vs optax, data (incl. a generated IDX fixture), pruning, the loop's outputs, every worked example (reduced), CLI errors, kill-and-resume."""

import gzip
import importlib
import json
import os
import re
import signal
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
from experiments import build as build_lib
from experiments import data as data_lib
from experiments import loop
from experiments import outputs
from experiments import pruning
from experiments import registry
from experiments.examples import common

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = ("gd_variants", "lr_schedules", "batch_scaling", "optimizer_comparison", "early_stopping",
            "distillation", "pruning_quantization")


def _small(**kw):
  """A tiny digits run: MLP 32, Adam 0.01, batch 64 (19 steps per epoch)."""
  base = dict(hidden="32", learning_rate=0.01, epochs=2, log_every=5)
  base.update(kw)
  return common.config(**base)


# ---------------------------------------------------------------------------- registry


def test_registry_finds_every_exported_optimizer_and_schedule():
  for name in ("sgd", "adam", "adamw", "adagrad", "rmsprop", "nadam", "radam", "yogi", "adadelta"):
    assert name in registry.OPTIMIZERS
  for name in ("cosine_decay_schedule", "step_decay", "exponential_decay", "inverse_time_decay",
               "warmup_cosine_decay_schedule", "constant_schedule", "multistep_decay"):
    assert name in registry.SCHEDULES
  assert all(getattr(jopt, n) is f for n, f in {**registry.OPTIMIZERS, **registry.SCHEDULES}.items())
  assert not any(n.startswith("scale_by") for n in registry.OPTIMIZERS)
  assert "join_schedules" not in registry.SCHEDULES  # takes schedules, not flag values


def test_registry_optimizer_matches_optax_and_validates_names():
  params = {"w": jnp.array([1.0, -2.0, 3.0])}
  grads = {"w": jnp.array([0.5, 0.1, -0.3])}
  for name, kw in (("adam", {"b1": 0.5}), ("sgd", {"momentum": 0.9, "nesterov": True}), ("rmsprop", {"decay": 0.8})):
    ours, ref = registry.build_optimizer(name, 0.1, kw), getattr(optax, name)(0.1, **kw)
    s1, s2, p1, p2 = ours.init(params), ref.init(params), params, params
    for _ in range(3):
      u1, s1 = ours.update(grads, s1, p1)
      u2, s2 = ref.update(grads, s2, p2)
      p1, p2 = optax.apply_updates(p1, u1), optax.apply_updates(p2, u2)
    np.testing.assert_allclose(p1["w"], p2["w"], rtol=1e-6)
  with pytest.raises(registry.ConfigError, match="valid choices: .*adam"):
    registry.build_optimizer("adamx", 0.1, {})
  with pytest.raises(registry.ConfigError, match="takes no argument.*momentum.*b1"):
    registry.build_optimizer("adam", 0.1, {"momentum": 0.9})
  with pytest.raises(registry.ConfigError, match="adam"):
    registry.build_optimizer("adam", 0.1, {"b1": 1.5})  # jopt's own range check, as a ConfigError


def test_registry_schedule_defaults_match_optax():
  s = registry.build_schedule("cosine_decay_schedule", {}, 0.1, 100)
  w = registry.build_schedule("warmup_cosine_decay_schedule", {"warmup_steps": 10}, 0.1, 100)
  ref_w = optax.warmup_cosine_decay_schedule(0.0, 0.1, 10, 100)
  for t in (0, 5, 10, 50, 99, 100):
    np.testing.assert_allclose(s(t), optax.cosine_decay_schedule(0.1, 100)(t), rtol=1e-6)
    np.testing.assert_allclose(w(t), ref_w(t), rtol=1e-6, atol=1e-9)
  with pytest.raises(registry.ConfigError, match="missing required.*end_value"):
    registry.build_schedule("linear_schedule", {}, 0.1, 100)


# ---------------------------------------------------------------------------- data


def _write_idx(path, array):
  codes = {np.uint8: 0x08}
  header = bytes([0, 0, codes[array.dtype.type], array.ndim])
  header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
  with gzip.open(path, "wb") as f:
    f.write(header + array.tobytes())


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
  """A tiny MNIST in IDX .gz format: 48 training and 16 test images of 28x28, labels 0-9."""
  d = tmp_path_factory.mktemp("mnist")
  rng = np.random.default_rng(0)
  arrays = {"train_x": rng.integers(0, 256, (48, 28, 28), dtype=np.uint8),
            "train_y": rng.integers(0, 10, 48).astype(np.uint8),
            "test_x": rng.integers(0, 256, (16, 28, 28), dtype=np.uint8),
            "test_y": rng.integers(0, 10, 16).astype(np.uint8)}
  for key, stem in data_lib.MNIST_FILES.items():
    _write_idx(os.path.join(d, stem + ".gz"), arrays[key])
  return str(d), arrays


def test_idx_fixture_reads_back_and_splits(mnist_dir):
  d, arrays = mnist_dir
  ds = data_lib.load("mnist", d)
  assert (len(ds.train), len(ds.val), len(ds.test)) == (44, 4, 16)
  np.testing.assert_array_equal(ds.train.x[..., 0], arrays["train_x"][:44] / np.float32(255))
  np.testing.assert_array_equal(ds.val.y, arrays["train_y"][44:])
  np.testing.assert_array_equal(ds.test.y, arrays["test_y"])
  with pytest.raises(registry.ConfigError, match="--data_dir"):
    data_lib.load("fashion_mnist", "")
  with pytest.raises(registry.ConfigError, match="t10k-images-idx3-ubyte"):
    data_lib.load("fashion_mnist", os.path.join(d, "nowhere"))


def test_fixed_splits_and_per_epoch_shuffling():
  ds = data_lib.load("digits")
  assert (len(ds.train), len(ds.val), len(ds.test)) == (1257, 180, 360)
  b = data_lib.Batches(100, 10, seed=3)
  epoch0 = np.concatenate([b.indices(i) for i in range(10)])
  epoch1 = np.concatenate([b.indices(i) for i in range(10, 20)])
  assert sorted(epoch0) == list(range(100)) and sorted(epoch1) == list(range(100))
  assert not np.array_equal(epoch0, epoch1)
  np.testing.assert_array_equal(data_lib.Batches(100, 10, seed=3).indices(13), b.indices(13))
  assert not np.array_equal(data_lib.Batches(100, 10, seed=4).indices(0), b.indices(0))
  with pytest.raises(registry.ConfigError, match="batch_size"):
    data_lib.Batches(100, 101, 0)


# ---------------------------------------------------------------------------- pruning, quantization, distillation


def test_magnitude_pruning_keeps_the_largest_weights_on_schedule():
  w = jnp.asarray(np.random.default_rng(0).normal(size=(10, 20)), jnp.float32)
  params = {"kernel": w, "bias": jnp.ones(20)}
  sched = pruning.polynomial_sparsity(0.9, 0, 20)
  ref = optax.polynomial_schedule(0.0, 0.9, 3.0, 20)
  for t in (0, 7, 20, 30):
    np.testing.assert_allclose(sched(t), ref(t), atol=1e-7)
  tx = pruning.magnitude_pruning(0.75, update_every=5)
  zeros = jax.tree.map(jnp.zeros_like, params)
  updates, state = tx.update(zeros, tx.init(params), params)
  new = optax.apply_updates(params, updates)
  kept = np.abs(np.asarray(w)).reshape(-1) > np.sort(np.abs(np.asarray(w)).reshape(-1))[149]
  np.testing.assert_array_equal(np.asarray(new["kernel"]).reshape(-1) != 0, kept)
  np.testing.assert_array_equal(new["bias"], params["bias"])  # 1-D leaves are not pruned
  assert pruning.sparsity_of(new) == 0.75
  with pytest.raises(ValueError, match="magnitude_pruning.*params"):
    tx.update(zeros, state)
  with pytest.raises(ValueError, match="sparsity"):
    pruning.magnitude_pruning(1.0)


def test_int8_quantization_error_and_sizes():
  w = np.random.default_rng(1).normal(size=(16, 8)).astype(np.float32)
  w[:, :4] = 0.0
  q, sizes = pruning.quantize_int8({"kernel": w, "bias": np.ones(8, np.float32)})
  scale = np.abs(w).max() / 127
  assert np.abs(q["kernel"] - w).max() <= scale / 2 + 1e-7
  assert np.all(q["kernel"][:, :4] == 0)
  nnz = np.count_nonzero(np.round(w / scale))  # weights under scale/2 round to 0 as well
  assert 0 < nnz <= 64
  assert sizes == {"float32": 4 * (128 + 8), "int8": 128 + 4 + 32, "int8_sparse": nnz + 16 + 4 + 32}


def test_distillation_loss_closed_forms():
  rng = np.random.default_rng(2)
  s, t = jnp.asarray(rng.normal(size=(5, 10))), jnp.asarray(rng.normal(size=(5, 10)))
  y = jnp.asarray(rng.integers(0, 10, 5))
  np.testing.assert_allclose(build_lib.distillation_loss(s, t, y, 4.0, 0.0), build_lib.cross_entropy(s, y), rtol=1e-6)
  assert abs(float(build_lib.distillation_loss(s, s, y, 4.0, 1.0))) < 1e-6
  pt, ls = jax.nn.softmax(np.asarray(t) / 2), jax.nn.log_softmax(np.asarray(s) / 2)
  kl = np.mean(np.sum(pt * (np.log(pt) - ls), 1))
  np.testing.assert_allclose(build_lib.distillation_loss(s, t, y, 2.0, 1.0), 4 * kl, rtol=1e-5)


# ---------------------------------------------------------------------------- the loop


def test_run_outputs_accuracy_and_determinism(tmp_path):
  a, b = str(tmp_path / "a"), str(tmp_path / "b")
  sa = loop.train_and_evaluate(_small(), a)
  sb = loop.train_and_evaluate(_small(), b)
  for name in ("config.json", "metrics.jsonl", "summary.json", "loss.png", "accuracy.png", "learning_rate.png"):
    assert os.path.exists(os.path.join(a, name)), name
  assert any(f.startswith("events.out.tfevents") for f in os.listdir(os.path.join(a, "tensorboard")))
  assert os.listdir(os.path.join(a, "checkpoints"))
  ra, rb = outputs.read_metrics(a), outputs.read_metrics(b)
  assert ra == rb and {k: v for k, v in sa.items() if k != "wall_s"} == {k: v for k, v in sb.items() if k != "wall_s"}
  first, last = common.first_and_last(ra)
  assert last < 0.7 * first
  assert any("learning_rate" in r and "grad_norm" in r for r in ra)
  assert any("val_accuracy" in r and "test_accuracy" in r for r in ra)
  # The reported test accuracy equals scikit-learn's on the checkpointed params' predictions.
  from sklearn.metrics import accuracy_score  # pylint: disable=g-import-not-at-top
  c = _small()
  setup = build_lib.build(c)
  params = loop.final_params(a, setup.params)
  pred = np.argmax(setup.model.apply({"params": params}, setup.data.test.x), 1)
  assert sa["test_accuracy"] == pytest.approx(accuracy_score(setup.data.test.y, pred), abs=1e-12)
  # A rerun resumes the finished run: no step is repeated, the records are unchanged.
  loop.train_and_evaluate(_small(), a)
  assert outputs.read_metrics(a) == ra


def test_devices_uses_the_data_parallel_step(tmp_path):
  one = loop.train_and_evaluate(_small(epochs=1, batch_size=64), str(tmp_path / "one"))
  four = loop.train_and_evaluate(_small(epochs=1, batch_size=64, devices=4), str(tmp_path / "four"))
  assert four["train_loss"] == pytest.approx(one["train_loss"], rel=1e-4)
  with pytest.raises(registry.ConfigError, match="divisible"):
    build_lib.build(_small(batch_size=66, devices=4))


def test_mnist_fixture_with_the_cnn(tmp_path, mnist_dir):
  s = loop.train_and_evaluate(
      _small(dataset="mnist", data_dir=mnist_dir[0], model="cnn", batch_size=8, steps=4), str(tmp_path / "m"))
  assert s["step"] == 4 and np.isfinite(s["test_loss"])
  with pytest.raises(registry.ConfigError, match="image"):
    build_lib.build(_small(dataset="diabetes", model="cnn"))


@pytest.mark.parametrize("name", EXAMPLES)
def test_worked_example_reduced(tmp_path, name):
  rows = importlib.import_module(f"experiments.examples.{name}").run(str(tmp_path), quick=True)
  assert os.path.exists(tmp_path / f"{name}.png") and os.path.exists(tmp_path / "results.md")
  assert len(rows) >= 2
  for row in rows:
    start = row.get("train loss start", row.get("train MSE start"))
    end = row.get("train loss end", row.get("train MSE end"))
    if start is not None:
      assert end < start, row
    for k, v in row.items():
      if isinstance(v, float):
        assert np.isfinite(v), (k, row)
  if name == "pruning_quantization":
    for row in rows:
      assert row["kernel sparsity"] >= row["target sparsity"] - 1e-3
      assert row["test acc int8"] > 0.5
  if name == "distillation":
    assert rows[0]["params"] > 10 * rows[1]["params"]
  if name == "early_stopping":
    assert rows[1]["epochs trained"] <= rows[0]["epochs trained"]


# ---------------------------------------------------------------------------- the CLI (subprocesses)


def _cli(workdir, *flags, env=None):
  cmd = [sys.executable, "-m", "experiments.train", f"--workdir={workdir}", "--hidden=32", "--learning_rate=0.01", "--epochs=3",
         "--checkpoint_every=10", "--progress=false", *flags]
  return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env={**os.environ, **(env or {})},
                        timeout=300)


def test_cli_sigkill_resume_is_bitwise_and_bad_flags_exit_2(tmp_path):
  killed, whole = str(tmp_path / "killed"), str(tmp_path / "whole")
  r = _cli(killed, env={loop.KILL_ENV: "25"})
  assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
  assert not os.path.exists(os.path.join(killed, "summary.json"))  # it died mid-training (57 steps)
  with open(os.path.join(killed, "metrics.jsonl")) as f:
    assert max(json.loads(line)["step"] for line in f) <= 25
  r = _cli(killed)
  assert r.returncode == 0, r.stderr[-2000:]
  assert "resumed" in r.stderr
  loop.train_and_evaluate(_small(epochs=3, checkpoint_every=10, log_every=10), whole)
  c = _small()
  like = build_lib.build(c).params
  pa, pb = loop.final_params(killed, like), loop.final_params(whole, like)
  for x, y in zip(jax.tree.leaves(pa), jax.tree.leaves(pb)):
    np.testing.assert_array_equal(x, y)  # bitwise
  assert outputs.read_metrics(killed) == outputs.read_metrics(whole)

  ckpt = os.path.join(killed, "checkpoints")
  before = sorted((p, os.path.getmtime(os.path.join(ckpt, p))) for p in os.listdir(ckpt))
  for flags, message in ((["--optimizer=adamz"], "valid choices: .*adamw"),
                         (["--momentum=0.9"], "momentum.*not an argument of optimizer 'adam'"),
                         (["--epochs=4"], "different config"),
                         (["--no_such_flag=1"], "Unknown command line flag")):
    r = _cli(killed, *flags)
    assert r.returncode == 2, (flags, r.stderr[-2000:])
    assert re.search(message, r.stderr), (flags, r.stderr[-2000:])
  after = sorted((p, os.path.getmtime(os.path.join(ckpt, p))) for p in os.listdir(ckpt))
  assert before == after
