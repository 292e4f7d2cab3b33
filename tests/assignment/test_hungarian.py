"""jopt.assignment (hungarian_algorithm, base_hungarian_algorithm) vs optax 0.2.8, scipy's linear_sum_assignment and brute force."""

import inspect
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt.assignment as ja

NAMES = ["base_hungarian_algorithm", "hungarian_algorithm"]
SHAPES = [(4, 4), (3, 6), (6, 3)]


def test_namespace_and_signatures_match_optax():
  assert set(ja.__all__) == {n for n in dir(optax.assignment) if not n.startswith("_")}
  for name in NAMES:
    assert list(inspect.signature(getattr(ja, name)).parameters) == list(
        inspect.signature(getattr(optax.assignment, name)).parameters)


def _costs(shape, seed):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


@pytest.mark.parametrize("name", NAMES)
def test_matches_optax_and_scipy(name):
  ours_fn, ref_fn = getattr(ja, name), getattr(optax.assignment, name)
  try:
    from scipy.optimize import linear_sum_assignment  # pylint: disable=g-import-not-at-top
  except ImportError:
    linear_sum_assignment = None
  # base_hungarian_algorithm's order is arange(n) when n <= m: one wide shape is enough.
  shapes = SHAPES if name == "hungarian_algorithm" else SHAPES[1:]
  for seed, shape in enumerate(shapes):
    cost = _costs(shape, seed)
    ours = jax.jit(ours_fn)(cost)
    ref = jax.jit(ref_fn)(cost)
    for a, b in zip(ours, ref):
      assert a.dtype == b.dtype and a.shape == b.shape == (min(shape),), (shape, a, b)
      np.testing.assert_array_equal(a, b, err_msg=f"{name} {shape}")
    if linear_sum_assignment is not None:
      rows, cols = linear_sum_assignment(np.asarray(cost))
      np.testing.assert_allclose(float(cost[ours].sum()), float(np.asarray(cost)[rows, cols].sum()), rtol=1e-6)
      assert sorted(zip(np.asarray(ours[0]).tolist(), np.asarray(ours[1]).tolist())) == sorted(zip(rows.tolist(), cols.tolist()))


@pytest.mark.parametrize("name", NAMES)
def test_ties_integers_and_empty(name):
  fn = getattr(ja, name)
  # Integer costs with many ties: any optimal assignment, checked by brute force.
  cost = jnp.asarray(np.random.default_rng(3).integers(0, 3, size=(4, 5)))
  i, j = fn(cost)
  best = min(sum(int(cost[r, c]) for r, c in zip(range(4), perm)) for perm in itertools.permutations(range(5), 4))
  assert int(cost[i, j].sum()) == best
  assert len(set(np.asarray(i).tolist())) == 4 and len(set(np.asarray(j).tolist())) == 4
  # optax's documented example.
  example = jnp.array([[90, 80, 75, 70], [35, 85, 55, 65], [125, 95, 90, 95], [45, 110, 95, 115], [50, 100, 90, 100]])
  assert int(example[fn(example)].sum()) == 265
  for shape in ((0, 3), (3, 0)):
    i, j = fn(jnp.zeros(shape))
    ri, rj = getattr(optax.assignment, name)(jnp.zeros(shape))
    assert i.shape == j.shape == (0,) and i.dtype == ri.dtype and j.dtype == rj.dtype


@pytest.mark.parametrize("name", NAMES)
def test_infeasible_costs_terminate(name):
  # A row of infinite costs: no finite assignment exists. jopt returns a valid
  # matching (optax's base_hungarian_algorithm never returns here).
  cost = jnp.array([[1.0, 2.0, 3.0], [jnp.inf, jnp.inf, jnp.inf], [2.0, 1.0, 0.0]])
  i, j = getattr(ja, name)(cost)
  assert sorted(np.asarray(i).tolist()) == [0, 1, 2] and sorted(np.asarray(j).tolist()) == [0, 1, 2]
