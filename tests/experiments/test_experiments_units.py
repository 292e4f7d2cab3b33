"""experiments/ building blocks without training: name lookup vs optax, configs, data, pruning, losses, compare."""

import gzip
import json
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
from experiments import compare
from experiments import data as data_lib
from experiments import models
from experiments import optimizers
from experiments import pruning
from experiments import train
from experiments import variants
from experiments.configs import default
from experiments.errors import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = ("gd_variants", "lr_schedules", "batch_scaling", "optimizer_comparison", "early_stopping",
            "distillation", "pruning_quantization")


# ---------------------------------------------------------------------------- name lookup


def test_lookup_is_jopt_public_namespace():
  for name in ("sgd", "adam", "adamw", "adagrad", "rmsprop", "nadam", "radam", "yogi", "adadelta", "lion",
               "hd_adam", "cosine_decay_schedule", "step_decay", "warmup_cosine_decay_schedule",
               "join_schedules"):
    assert optimizers.lookup("optimizer", name) is getattr(jopt, name)
  assert optimizers.lookup("optimizer", "torch.adamw") is jopt.torch.adamw
  modules = {"": jopt, **{s: getattr(jopt, s) for s in optimizers.SUBMODULES if hasattr(jopt, s)}}
  for prefix, module in modules.items():  # every public callable, submodules included, resolves
    for leaf in module.__all__:
      fn = getattr(module, leaf, None)
      if callable(fn) and not leaf.startswith("_"):
        assert optimizers.lookup("optimizer", f"{prefix}.{leaf}" if prefix else leaf) is fn
  with pytest.raises(ConfigError, match="close matches: .*adamw"):
    optimizers.lookup("optimizer", "adamz")
  for bad in ("_src.base", "numerics.tree_map", "torch._conventions", "jax.numpy.sin", "", "torch"):
    with pytest.raises(ConfigError, match="not a public name of jopt"):
      optimizers.lookup("optimizer", bad)


def test_experiments_do_not_introspect_signatures_or_import_private_jopt():
  pattern = re.compile(r"jopt\._src|import inspect|get_type_hints|__signature__|\.__code__")
  for folder, _, files in os.walk(os.path.join(REPO, "experiments")):
    for f in files:
      if f.endswith(".py"):
        with open(os.path.join(folder, f)) as fh:
          assert not pattern.search(fh.read()), os.path.join(folder, f)


@pytest.mark.parametrize("name, kw", [("adam", {"b1": 0.5}), ("sgd", {"momentum": 0.9, "nesterov": True}),
                                      ("sgd", {"momentum": 0.9, "nesterov": False}), ("rmsprop", {"decay": 0.8})])
def test_build_optimizer_passes_kwargs_like_optax(name, kw):
  params = {"w": jnp.array([1.0, -2.0, 3.0])}
  grads = {"w": jnp.array([0.5, 0.1, -0.3])}
  ours, ref = optimizers.build_optimizer(name, 0.1, kw), getattr(optax, name)(0.1, **kw)
  s1, s2, p1, p2 = ours.init(params), ref.init(params), params, params
  for _ in range(3):
    u1, s1 = ours.update(grads, s1, p1)
    u2, s2 = ref.update(grads, s2, p2)
    p1, p2 = optax.apply_updates(p1, u1), optax.apply_updates(p2, u2)
  np.testing.assert_allclose(p1["w"], p2["w"], rtol=1e-5)
  assert float(jopt.hyperparams(s1)["learning_rate"]) == pytest.approx(0.1)


def test_build_optimizer_reports_what_jopt_rejects(monkeypatch):
  with pytest.raises(ConfigError, match="unexpected keyword argument 'momentum'"):
    optimizers.build_optimizer("adam", 0.1, {"momentum": 0.9})
  with pytest.raises(ConfigError, match="b1"):
    optimizers.build_optimizer("adam", 0.1, {"b1": 1.5})  # jopt's own range check
  with pytest.raises(ConfigError, match="config.l2 is coupled"):
    optimizers.build_optimizer("adam", 0.1, {"weight_decay": 1e-4})
  with pytest.raises(ConfigError, match="has no `learning_rate` argument"):
    optimizers.build_optimizer("cosine_decay_schedule", 0.1, {"decay_steps": 10})
  monkeypatch.setattr(jopt, "not_an_optimizer", lambda learning_rate: learning_rate, raising=False)
  monkeypatch.setattr(jopt, "__all__", [*jopt.__all__, "not_an_optimizer"])
  with pytest.raises(ConfigError, match="returned float, not a GradientTransformation"):
    optimizers.build_optimizer("not_an_optimizer", 0.1, {})


def test_schedule_placeholders_match_optax():
  run = {"learning_rate": 0.1, "total_steps": 100, "steps_per_epoch": 7}
  cases = [
      (("cosine_decay_schedule", {"init_value": "learning_rate", "decay_steps": "total_steps"}),
       optax.cosine_decay_schedule(0.1, 100)),
      (("warmup_cosine_decay_schedule", {"init_value": 0.0, "peak_value": "learning_rate", "warmup_steps": 10,
                                         "decay_steps": "total_steps"}),
       optax.warmup_cosine_decay_schedule(0.0, 0.1, 10, 100)),
      (("exponential_decay", {"init_value": "learning_rate", "transition_steps": "steps_per_epoch",
                              "decay_rate": 0.85}),
       optax.exponential_decay(0.1, 7, 0.85)),
  ]
  for (name, kwargs), ref in cases:
    ours = optimizers.build_schedule(name, kwargs, run)
    for t in (0, 5, 10, 50, 99, 100):
      np.testing.assert_allclose(ours(t), ref(t), rtol=1e-6, atol=1e-9)
  with pytest.raises(ConfigError, match="missing .*decay_steps"):
    optimizers.build_schedule("cosine_decay_schedule", {"init_value": 0.1}, run)


def _config(**kw):
  c = default.get_config()
  c.update(kw)
  return c


def test_transform_chain_is_clip_l1_l2_optimizer_with_scaled_lr():
  params = {"w": jnp.array([1.0, -2.0, 3.0])}
  grads = [{"w": jnp.array([3.0, 0.4, -2.0])}, {"w": jnp.array([-0.2, 0.1, 0.5])}]
  c = _config(optimizer="sgd", learning_rate=0.05, optimizer_kwargs={"momentum": 0.9}, clip_norm=1.0, l2=0.1,
              batch_size=64, base_batch_size=16, lr_scaling="sqrt")
  ours = optimizers.build(c, total_steps=10, steps_per_epoch=5)
  ref = optax.chain(optax.clip_by_global_norm(1.0), optax.add_decayed_weights(0.1),
                    optax.sgd(0.05 * 2.0, momentum=0.9))
  s1, s2, p1, p2 = ours.init(params), ref.init(params), params, params
  for g in grads:
    u1, s1 = ours.update(g, s1, p1)
    u2, s2 = ref.update(g, s2, p2)
    p1, p2 = optax.apply_updates(p1, u1), optax.apply_updates(p2, u2)
  np.testing.assert_allclose(p1["w"], p2["w"], rtol=1e-6)
  with pytest.raises(ConfigError, match="schedule_kwargs: .* without config.schedule"):
    optimizers.build(_config(schedule_kwargs={"decay_steps": 3}), 10, 5)
  with pytest.raises(ConfigError, match="learning_rate: must be a finite number > 0"):
    optimizers.build(_config(learning_rate=0.0), 10, 5)


# ---------------------------------------------------------------------------- configs


def test_default_config_documents_every_field():
  with open(os.path.join(REPO, "experiments", "configs", "default.py")) as f:
    text = f.read()
  for field in default.get_config():
    assert re.search(rf"^\| {field} \| [^|]+ \| \S", text, re.M), field  # a row: field | default | meaning


def test_unknown_config_fields_are_refused_with_a_hint():
  c = default.get_config()
  c.epoch = 5
  with pytest.raises(ConfigError, match="epoch .did you mean epochs"):
    train.check_fields(c)


def check_example_config(name, modes):
  """Every variant of example `name` is a valid run: known fields, an optimizer and schedule jopt accepts."""
  import importlib  # pylint: disable=g-import-not-at-top
  module = importlib.import_module(f"experiments.configs.{name}")
  assert "python -m experiments.main" in module.__doc__ and f"configs/{name}.py" in module.__doc__
  for mode in modes:
    c = module.get_config(mode)
    assert c.example.name == name
    dirs = []
    for v in c.example.variants:
      child = variants._variant_config(c, v["config"], "/tmp/w", dirs)  # pylint: disable=protected-access
      dirs.append(v["dir"] or variants.slug(v["label"]))
      train.check_fields(child)
      spe = len(data_lib.load(child.dataset).train) // child.batch_size
      optimizers.build(child, child.steps or child.epochs * spe, spe)  # optimizer and schedule accepted
      assert "example" not in child
    assert len(set(dirs)) == len(dirs)
    if mode == "quick":
      assert c.epochs < module.get_config().epochs
  with pytest.raises(ValueError, match="mode"):
    module.get_config("bogus")


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_quick_example_variant_is_a_valid_run(name):
  check_example_config(name, ["quick"])  # the full configs: tests/experiments/test_experiments_examples.py


# ---------------------------------------------------------------------------- data


def _write_idx(path, array):
  header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
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


def test_idx_fixture_reads_back_splits_and_expands_home(mnist_dir, monkeypatch):
  d, arrays = mnist_dir
  ds = data_lib.load("mnist", d)
  assert (len(ds.train), len(ds.val), len(ds.test)) == (44, 4, 16)
  np.testing.assert_array_equal(ds.train.x[..., 0], arrays["train_x"][:44] / np.float32(255))
  np.testing.assert_array_equal(ds.val.y, arrays["train_y"][44:])
  np.testing.assert_array_equal(ds.test.y, arrays["test_y"])
  monkeypatch.setenv("HOME", os.path.dirname(d))
  home = data_lib.load("mnist", os.path.join("~", os.path.basename(d)))
  np.testing.assert_array_equal(home.test.x, ds.test.x)
  with pytest.raises(ConfigError, match="--config.data_dir"):
    data_lib.load("fashion_mnist", "")
  with pytest.raises(ConfigError, match="t10k-images-idx3-ubyte"):
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
  with pytest.raises(ConfigError, match="batch_size"):
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
  with pytest.raises(ValueError, match="magnitude_pruning.*structure"):
    tx.update({"kernel": zeros["kernel"]}, state, params)
  with pytest.raises(ValueError, match="sparsity"):
    pruning.magnitude_pruning(1.0)
  with pytest.raises(ValueError, match="update_every"):
    pruning.magnitude_pruning(0.5, update_every=0)


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
  np.testing.assert_allclose(models.distillation_loss(s, t, y, 4.0, 0.0), models.cross_entropy(s, y), rtol=1e-6)
  assert abs(float(models.distillation_loss(s, s, y, 4.0, 1.0))) < 1e-6
  pt, ls = jax.nn.softmax(np.asarray(t) / 2), jax.nn.log_softmax(np.asarray(s) / 2)
  kl = np.mean(np.sum(pt * (np.log(pt) - ls), 1))
  np.testing.assert_allclose(models.distillation_loss(s, t, y, 2.0, 1.0), 4 * kl, rtol=1e-5)


# ---------------------------------------------------------------------------- compare


def _fake_run(path, config, summary, records):
  os.makedirs(path)
  with open(os.path.join(path, "config.json"), "w") as f:
    json.dump(config, f)
  with open(os.path.join(path, "summary.json"), "w") as f:
    json.dump(summary, f)
  with open(os.path.join(path, "metrics.jsonl"), "w") as f:
    f.write("".join(json.dumps(r) + "\n" for r in records))


def test_compare_overlays_runs_and_tables_their_differences(tmp_path):
  recs = lambda lr: [{"step": 0, "epoch": 0.0, "train_loss": 2.0}, {"step": 5, "epoch": 1.0, "loss": 1.5,
                                                                     "learning_rate": lr},
                     {"step": 10, "epoch": 2.0, "train_loss": 1.0 + lr, "val_accuracy": 0.5}]
  _fake_run(tmp_path / "ex" / "a", {"optimizer": "adam", "seed": 0}, {"step": 10, "test_accuracy": 0.9}, recs(0.1))
  _fake_run(tmp_path / "ex" / "b", {"optimizer": "sgd", "seed": 0}, {"step": 10, "test_accuracy": 0.8}, recs(0.2))
  _fake_run(tmp_path / "c", {"optimizer": "sgd", "seed": 1}, {"step": 10}, recs(0.3))
  out = str(tmp_path / "plots" / "cmp.png")
  text = compare.compare([str(tmp_path / "ex"), str(tmp_path / "c")], out)
  lines = text.splitlines()
  assert lines[0] == "| run | optimizer | seed | step | test_accuracy |"
  assert lines[2:] == ["| a | adam | 0 | 10 | 0.9 |", "| b | sgd | 0 | 10 | 0.8 |", "| c | sgd | 1 | 10 | - |"]
  assert os.path.getsize(out) > 0
  run = compare.load_run(str(tmp_path / "ex" / "b"))
  assert compare.cell(run, "first.train_loss") == 2.0 and compare.cell(run, "last.train_loss") == 1.2
  assert compare.cell(run, "last.learning_rate") == 0.2 and compare.cell(run, "summary.wall_s") == "-"
  assert compare.cell(run, "row.rule", fixed={"rule": "linear"}) == "linear"
  assert compare.cell(run, "label", label="B") == "B" and compare.cell(run, "param.Dense_0.kernel") == "-"
  text = compare.compare([str(tmp_path / "c")], out, metrics=["train_loss"], x="step",
                         sources=["label", "last.train_loss"])
  assert text.splitlines()[2] == "| c | 1.3 |"
  with pytest.raises(ConfigError, match="no run has metric"):
    compare.compare([str(tmp_path / "c")], out, metrics=["bleu"])
  with pytest.raises(ConfigError, match="holds no run"):
    compare.compare([str(tmp_path / "plots")], out)
  with pytest.raises(ConfigError, match="column source"):
    compare.cell(run, "bogus.x")


# ---------------------------------------------------------------------------- launcher input checks


@pytest.mark.parametrize("field, value, message", [
    ("epochs", 1.5, "--config.epochs: must be an integer, got 1.5"),
    ("epochs", True, "--config.epochs: must be an integer, got True"),
    ("progress", "false", "--config.progress: must be true or false, got 'false' .str."),
    ("flat", 1, "--config.flat: must be true or false"),
    ("learning_rate", "1e-3", "--config.learning_rate: must be a number, got '1e-3'"),
    ("learning_rate", float("inf"), "--config.learning_rate: must be finite, got inf"),
    ("l2", float("nan"), "--config.l2: must be finite"),
    ("l2", -1.0, r"--config.l2: must be in \[0, inf\), got -1.0"),
    ("seed", -1, r"--config.seed: must be in \[0, 4294967296\)"),
    ("prune_sparsity", 1.0, r"--config.prune_sparsity: must be in \[0, 1\)"),
    ("distill_alpha", 1.5, r"--config.distill_alpha: must be in \[0, 1\]"),
    ("nan_policy", "stop", "--config.nan_policy: must be one of raise, skip, ignore"),
    ("hidden", 32, "--config.hidden: must be a string"),
    ("optimizer_kwargs", "b1=0.9", "--config.optimizer_kwargs: must be a dict"),
])
def test_config_values_are_checked_by_type_then_range_naming_the_flag(field, value, message):
  c = default.get_config()
  with c.ignore_type():
    c[field] = value
  with pytest.raises(ConfigError, match=message):
    train.check_values(c)
  train.check_values(default.get_config())  # the defaults pass


def test_library_errors_are_rephrased_under_the_flag_that_set_the_argument():
  flags = {"b1": "--config.optimizer_kwargs.b1", "learning_rate": "--config.learning_rate"}
  for e, expected in (
      (TypeError("adam: `b1` must be a real number, got 'x' (str)."),
       "--config.optimizer_kwargs.b1: adam's `b1` must be a real number, got 'x' (str)."),
      (ValueError("adam: `learning_rate` must be finite, got inf."),
       "--config.learning_rate: adam's `learning_rate` must be finite, got inf."),
      (ValueError("adam: `eps` must be > 0, got 0."), "--config.optimizer: adam's `eps` must be > 0, got 0."),
      (TypeError("adam() got an unexpected keyword argument 'b1'"),
       "--config.optimizer_kwargs.b1: adam() got an unexpected keyword argument 'b1'"),
      (AttributeError("'str' object has no attribute 'items'"),
       "--config.optimizer: jopt.adam failed with AttributeError: 'str' object has no attribute 'items'")):
    assert str(optimizers.rephrase(e, flags, "--config.optimizer", "jopt.adam")) == expected
  # jopt's real messages: the optimizer is built before anything is written.
  with pytest.raises(ConfigError, match=r"^--config.optimizer_kwargs.nesterov: sgd's `nesterov` must be True or False"):
    optimizers.build_optimizer("sgd", 0.1, {"momentum": 0.9, "nesterov": "false"})
  with pytest.raises(ConfigError, match=r"^--config.schedule_kwargs.decay_steps: "):
    optimizers.build_schedule("cosine_decay_schedule", {"init_value": 0.1, "decay_steps": 2.5}, {})


def test_flag_parse_errors_are_one_line_naming_the_flag():
  from absl import flags as absl_flags  # pylint: disable=g-import-not-at-top
  from experiments import errors  # pylint: disable=g-import-not-at-top
  from experiments import main  # pylint: disable=g-import-not-at-top,unused-import  (defines the flags)
  err = absl_flags.IllegalFlagValueError("flag --num_processes=abc: invalid literal for int() with base 10: 'abc'")
  assert errors._flag_message(err) == "--num_processes: 'abc' is not an integer; expected an integer."  # pylint: disable=protected-access
  err = absl_flags.IllegalFlagValueError("flag --x=0: 0 is not a positive integer")
  assert errors._flag_message(err) == "--x: 0 is not a positive integer (got '0')."  # pylint: disable=protected-access
  assert errors.one_line("a\n  b\tc ") == "a b c"


def test_workdir_paths_lock_and_records(tmp_path):
  from experiments import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  (tmp_path / "f").write_text("x")
  for bad, message in (("", "is empty"), (str(tmp_path / "f"), "is a file"), (str(tmp_path / "f" / "run"),
                                                                             "which is a file")):
    with pytest.raises(ConfigError, match=f"^--workdir: .*{message}"):
      workdir_lib.check_path(bad)
  assert workdir_lib.check_path(str(tmp_path / "new" / "run")) == str(tmp_path / "new" / "run")
  assert not os.path.exists(tmp_path / "new")  # checking writes nothing
  run = str(tmp_path / "run")
  lock = workdir_lib.acquire(run)
  with open(os.path.join(run, ".lock")) as f:
    assert f.read().startswith(f"pid {os.getpid()} ")
  with pytest.raises(ConfigError, match=f"is in use by another launch .pid {os.getpid()} "):
    workdir_lib.acquire(run)  # a second open file: flock refuses it, even in the same process
  lock.release()
  assert not os.path.exists(os.path.join(run, ".lock"))
  with open(os.path.join(run, ".lock"), "w") as f:
    f.write("pid 999999 on elsewhere\n")  # left by a killed launch: no flock held
  workdir_lib.acquire(run).release()
  # metrics.jsonl: a half-written last line is dropped; a foreign line is refused.
  with open(os.path.join(run, "metrics.jsonl"), "w") as f:
    f.write('{"step": 0, "train_loss": 1.0}\n{"step": 3, "loss": 0.5}\n{"step": 6, "lo')
  assert [r["step"] for r in workdir_lib.read_records(run)] == [0, 3]
  with open(os.path.join(run, "metrics.jsonl"), "a") as f:
    f.write('ss": 1}\n[1, 2]\n')
  with pytest.raises(ConfigError, match="line 4 is not a metrics record"):
    workdir_lib.read_records(run)
  assert workdir_lib.expected_records(12, 12, 3, 6) == (4, 3)
  assert workdir_lib.expected_records(13, 13, 3, 6) == (5, 4)  # the final step always has both


def test_malformed_mnist_files_are_config_errors_naming_the_file(mnist_dir, tmp_path):
  d, arrays = mnist_dir
  import shutil  # pylint: disable=g-import-not-at-top
  for name, write, message in (
      ("labels", lambda p: _write_idx(p / "train-labels-idx1-ubyte.gz", arrays["train_y"] + 5),
       r"train-labels-idx1-ubyte.gz: \d+ label\(s\) outside \[0, 10\)"),
      ("flat", lambda p: _write_idx(p / "train-images-idx3-ubyte.gz", arrays["train_x"].reshape(48, -1)),
       r"images of shape \(48, 784\)"),
      ("gzip", lambda p: (p / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8bnot gzip"), "cannot be read"),
      ("dims", lambda p: _write_raw_gz(p / "t10k-labels-idx1-ubyte.gz", bytes([0, 0, 8, 255]) + b"\0" * 8),
       "IDX header gives 255 dimensions")):
    folder = tmp_path / name
    shutil.copytree(d, folder)
    write(folder)
    with pytest.raises(ConfigError, match=f"^--config.data_dir: .*{message}"):
      data_lib.load("mnist", str(folder))
  folder = tmp_path / "npz"
  folder.mkdir()
  x = arrays["train_x"].astype(np.float32)
  x[2, 3, 4] = np.nan
  np.savez(folder / "mnist.npz", x_train=x, y_train=arrays["train_y"], x_test=arrays["test_x"],
           y_test=arrays["test_y"])
  with pytest.raises(ConfigError, match="NaN or infinite pixels, e.g. row 2"):
    data_lib.load("mnist", str(folder))


def _write_raw_gz(path, body):
  with gzip.open(path, "wb") as f:
    f.write(body)
