"""Smoke tests of benchmarks/showcase_lm.py: a tiny in-process run (2 optimizers) and `--quick` (all 8, slow)."""

import json
import math
import os
import zlib

import numpy as np
import pytest

from benchmarks import showcase_lm

TINY = dict(steps=8, sweep_steps=4, batch_size=4, context=16, d_model=16, num_layers=1, num_heads=2,
            eval_every=4, val_windows=8, max_extend=1)


def test_lr_shape_closed_form():
  shape = showcase_lm.lr_shape(total=100, warmup_frac=0.1)
  got = [float(shape(t)) for t in (0, 4, 9, 10, 55, 100)]
  want = [0.1, 0.5, 1.0, 1.0, 0.5 * (1 + math.cos(math.pi * 45 / 90)), 0.0]
  np.testing.assert_allclose(got, want, atol=1e-6)
  flat = showcase_lm.lr_shape(total=100, warmup_frac=0.1, decay=False)
  np.testing.assert_allclose([float(flat(t)) for t in (0, 50, 99)], [0.1, 1.0, 1.0], atol=1e-6)


def test_corpus_split_is_by_file_and_excludes_tests():
  files = showcase_lm.corpus_files()
  assert files == sorted(files) and len(files) > 100
  assert not any(f.split(os.sep)[0] in ("test", "site-packages") or "_sysconfigdata" in f
                 for f in files)
  train, val, info = showcase_lm.load_corpus()
  n_val = sum(zlib.crc32(f.encode()) % 10 == 0 for f in files)
  assert (info["val_files"], info["train_files"]) == (n_val, len(files) - n_val)
  assert train.size == info["train_bytes"] and val.size == info["val_bytes"] > 0


def test_reach_finds_first_eval_at_or_below_target():
  res = {"eval_steps": [0, 10, 20, 30], "eval_seconds": [0.0, 1.0, 2.0, 3.0],
         "val_loss": [5.0, None, 2.0, 1.5]}
  assert showcase_lm.reach(res, 2.0) == (20, 2.0)
  assert showcase_lm.reach(res, 1.0) == (None, None)


def test_tiny_run_two_optimizers_learns_and_writes(tmp_path):
  cfg = showcase_lm.Config(optimizers=("adamw", "muon"), **TINY)
  out = showcase_lm.run(cfg, log=lambda _: None)
  for name in cfg.optimizers:
    r = out["results"][name]
    assert r["eval_steps"] == [0, 4, 8]
    assert r["val_loss"][-1] < r["val_loss"][0] - 0.05, (name, r["val_loss"])
    assert len(r["train_loss_mean"]) == 2 and r["state_bytes"] > 0
    # The chosen lr is the grid point with the lowest sweep validation loss; the grid is the
    # default x 1/3, 1, 3, plus one point past the end where the 3-point winner sat.
    s = out["sweeps"][name]
    assert s["chosen"] == s["grid"][int(np.argmin(s["val_loss"]))] == r["lr"]
    np.testing.assert_allclose(np.diff(np.log(s["grid"])), np.log(cfg.lr_factor), rtol=1e-6)
    first3 = s["val_loss"][1:4] if s["grid"][0] < showcase_lm.DEFAULT_LR[name] / 2 else s["val_loss"][:3]
    assert (len(s["grid"]) == 4) == (int(np.argmin(first3)) in (0, 2))
  # AdamW's state is mu and nu (2x the params) plus counts; Muon's Adam part adds nu only there.
  assert 2 * out["params_bytes"] <= out["results"]["adamw"]["state_bytes"] < 2 * out["params_bytes"] + 64
  assert out["results"]["muon"]["state_bytes"] < out["results"]["adamw"]["state_bytes"]
  paths = showcase_lm.write_outputs(out, str(tmp_path), str(tmp_path / "fig.png"), "_tiny")
  with open(paths["json"]) as f:
    assert json.load(f)["results"]["muon"]["val_loss"] == out["results"]["muon"]["val_loss"]
  with open(paths["md"]) as f:
    md = f.read()
  assert "| adamw |" in md and "| muon |" in md
  with open(paths["png"], "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_quick_mode_all_optimizers(tmp_path):
  out = showcase_lm.main(["--quick", "--out", str(tmp_path)])
  assert set(out["results"]) == set(showcase_lm.OPTIMIZERS)
  for name, r in out["results"].items():
    assert r["val_loss"][-1] is not None and r["val_loss"][-1] < r["val_loss"][0], name
  for f in ("showcase_lm_quick.json", "showcase_lm_quick.md", "showcase_lm_quick.png"):
    assert (tmp_path / f).stat().st_size > 0
