"""`incremental_update` and `periodic_update` (`jopt._src.update`) against optax, eager and under jit with traced
arguments."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jopt._src import update as target_updates
from parity import assert_trees_close, random_tree


def _pair(seed):
  return random_tree(jax.random.PRNGKey(seed)), random_tree(jax.random.PRNGKey(seed + 50))


@pytest.mark.parametrize("seed", [0, 1])
def test_incremental_update_eager(seed):
  new, old = _pair(seed)
  for tau in [0.0, 0.005, 0.37, 1.0]:
    ours = target_updates.incremental_update(new, old, tau)
    assert_trees_close(ours, optax.incremental_update(new, old, tau), 0, 0, f"tau={tau}")
  # Closed form for one leaf.
  np.testing.assert_allclose(target_updates.incremental_update(new, old, 0.25)["dense"]["w"],
                             0.25 * new["dense"]["w"] + 0.75 * old["dense"]["w"], rtol=1e-6)


def test_incremental_update_jit_traced_step_size():
  """One compilation serves every step size; a soft-update loop tracks optax's."""
  traces = []

  @jax.jit
  def ours(new, old, tau):
    traces.append(1)
    return target_updates.incremental_update(new, old, tau)

  theirs = jax.jit(optax.incremental_update)
  new, old = _pair(3)
  t1 = t2 = old
  rng = np.random.default_rng(0)
  for step in range(6):
    tau = jnp.float32(rng.uniform(0, 1))
    new = jax.tree.map(lambda x, s=step: x + 0.1 * s, new)
    t1, t2 = ours(new, t1, tau), theirs(new, t2, tau)
    assert_trees_close(t1, t2, 1e-6, 1e-7, f"step {step}")
  assert len(traces) == 1


def test_incremental_update_none_leaves_and_dtype():
  new = {"a": jnp.ones(3), "b": None}
  old = {"a": jnp.zeros(3), "b": None}
  out = target_updates.incremental_update(new, old, 0.5)
  assert out["b"] is None
  np.testing.assert_allclose(out["a"], 0.5)
  # A bfloat16 target keeps its dtype with a float32 step size (optax: float32).
  old16 = {"a": jnp.zeros(3, jnp.bfloat16), "b": None}
  new16 = {"a": jnp.ones(3, jnp.bfloat16), "b": None}
  tau = jnp.float32(0.3)
  ours = target_updates.incremental_update(new16, old16, tau)
  theirs = optax.incremental_update(new16, old16, tau)
  assert ours["a"].dtype == jnp.bfloat16 and theirs["a"].dtype == jnp.float32
  np.testing.assert_allclose(ours["a"].astype(jnp.float32), theirs["a"], rtol=1e-2)
  with pytest.raises(ValueError, match="step_size"):
    target_updates.incremental_update(new, old, float("nan"))


@pytest.mark.parametrize("period", [1, 3])
def test_periodic_update_eager(period):
  new, old = _pair(4)
  for steps in range(5):
    ours = target_updates.periodic_update(new, old, steps, period)
    assert_trees_close(ours, optax.periodic_update(new, old, steps, period), 0, 0)
    expected = new if steps % period == 0 else old
    assert_trees_close(ours, expected, 0, 0)


def test_periodic_update_jit_traced():
  """A target-network loop: traced step and period, one compilation, optax's targets."""
  traces = []

  @jax.jit
  def ours(new, old, steps, period):
    traces.append(1)
    return target_updates.periodic_update(new, old, steps, period)

  theirs = jax.jit(optax.periodic_update)
  online, target = _pair(5)
  t1 = t2 = target
  for step in range(7):
    online = jax.tree.map(lambda x, s=step: x * 0.9 + s, online)
    period = jnp.int32(2 if step < 4 else 3)
    t1 = ours(online, t1, jnp.int32(step), period)
    t2 = theirs(online, t2, jnp.int32(step), period)
    assert_trees_close(t1, t2, 0, 0, f"step {step}")
  assert len(traces) == 1


def test_periodic_update_rejects_bad_period():
  new, old = _pair(6)
  for period in [0, -2, float("nan")]:
    with pytest.raises(ValueError, match="update_period"):
      target_updates.periodic_update(new, old, 3, period)


def test_none_params_or_updates_give_none_as_in_optax():
  """`apply_updates(None, x)` (an empty params tree) and `incremental_update(None, x, ...)` return
  `None` in both libraries (optax's own `test_none_argument`)."""
  x = jnp.array([1.0, 2.0, 3.0])
  assert target_updates.apply_updates(None, x) is None and optax.apply_updates(None, x) is None
  assert target_updates.incremental_update(None, x, 1) is None
  assert optax.incremental_update(None, x, 1) is None
