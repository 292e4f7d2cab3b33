"""grid_search and random_search: the spaces they draw (log-uniform statistics), seeds, bad input."""

import numpy as np
import pytest

import jopt


def test_grid_and_random_search_spaces():
  g = jopt.grid_search({"a": [1, 2], "b": [3.0, 4.0, 5.0]})
  np.testing.assert_array_equal(g["a"], [1, 1, 1, 2, 2, 2])
  np.testing.assert_array_equal(g["b"], [3, 4, 5, 3, 4, 5])
  r = jopt.random_search({"lr": ("log", 1e-5, 1e-1), "m": ("uniform", 0.0, 0.9)}, 2000, seed=1)
  assert r["lr"].min() >= 1e-5 and r["lr"].max() <= 1e-1
  # log-uniform: log10(lr) is uniform on [-5, -1], so its mean is -3 and a quarter lies below -4.
  assert abs(np.log10(r["lr"]).mean() + 3) < 0.1
  assert abs(np.mean(r["lr"] < 1e-4) - 0.25) < 0.04
  np.testing.assert_array_equal(
      r["m"], jopt.random_search({"lr": ("log", 1e-5, 1e-1), "m": ("uniform", 0.0, 0.9)}, 2000, seed=1)["m"])
  with pytest.raises(ValueError, match="random_search: .*log-uniform, so low must be > 0"):
    jopt.random_search({"lr": ("log", 0.0, 1.0)}, 3)
  with pytest.raises(ValueError, match="grid_search: `space\\['a'\\]` must be a non-empty list"):
    jopt.grid_search({"a": []})
