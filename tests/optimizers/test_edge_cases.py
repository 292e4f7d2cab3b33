"""Every optimizer on awkward inputs: dtypes (bf16, complex64) and trees (empty, None leaves, scalars, dataclasses)."""

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
from cases import COMPLEX, NEEDS_PARAMS, OPTIMIZERS, small_tree
from parity import assert_trajectories_match, assert_trees_close

NAMES = sorted(OPTIMIZERS)
# The fast lane runs the costlier trajectory checks on these; every optimizer runs them in the slow lane.
FAST = {"sgd", "adam", "adamw", "rmsprop", "lion", "adafactor"}


def _lanes(names):
  return [pytest.param(n, id=n, marks=[] if n in FAST else [pytest.mark.slow]) for n in names]


def _pair(name):
  kwargs = OPTIMIZERS[name]
  return getattr(jopt, name)(**kwargs), getattr(optax, name)(**kwargs)


def _run(tx, params, grads_seq):
  state = tx.init(params)

  @jax.jit
  def step(p, s, g):
    u, s = tx.update(g, s, p)
    return jopt.apply_updates(p, u), s, u

  for g in grads_seq:
    params, state, updates = step(params, state, g)
  return params, updates


def _grads(params, n=5):
  return [jax.tree.map(lambda x, k=k: (jnp.sin(x * (k + 1.0) + 0.3)).astype(x.dtype), params) for k in range(n)]


@pytest.mark.parametrize("name", _lanes(NAMES))
def test_bf16_keeps_dtype_and_tracks_optax(name):
  ours, ref = _pair(name)
  params = small_tree(jnp.bfloat16)
  grads = _grads(params)
  p1, u1 = _run(ours, params, grads)
  p2, _ = _run(ref, params, grads)
  for p, u in zip(jax.tree.leaves(p1), jax.tree.leaves(u1)):
    assert p.dtype == jnp.bfloat16 and u.dtype == jnp.bfloat16
  assert_trees_close(p1, p2, rtol=3e-2, atol=3e-2, what=f"{name} bf16 params")


@pytest.mark.parametrize("name", COMPLEX)
def test_complex64_matches_optax(name):
  ours, ref = _pair(name)
  assert_trajectories_match(ours, ref, dtype=jnp.complex64, steps=10)


@pytest.mark.parametrize("name", NAMES)
def test_empty_tree(name):
  ours, _ = _pair(name)
  state = ours.init({})
  updates, _ = jax.jit(ours.update)({}, state, {})
  assert updates == {}


@pytest.mark.parametrize("name", _lanes(NAMES))
def test_none_leaves_and_scalars(name):
  """A frozen (None) leaf stays None; the other leaves, including a scalar, move as in optax."""
  ours, ref = _pair(name)
  params = {"frozen": None, "s": jnp.float32(0.7), "w": jnp.ones((2, 3))}
  grads = [{"frozen": None, "s": jnp.float32(0.5 * (k + 1)), "w": jnp.full((2, 3), 0.1 * k - 0.2)} for k in range(4)]
  p1, u1 = _run(ours, params, grads)
  assert p1["frozen"] is None and u1["frozen"] is None
  try:
    p2, _ = _run(ref, params, grads)
  except Exception:  # pylint: disable=broad-except
    p2 = None  # optax cannot run this tree; jopt's own result is checked below
  # Reference without the None leaf: the same optimizer on the tree that lacks it.
  p3, _ = _run(ours, {"s": params["s"], "w": params["w"]}, [{"s": g["s"], "w": g["w"]} for g in grads])
  assert_trees_close({"s": p1["s"], "w": p1["w"]}, p3, 1e-6, 1e-7, f"{name} None leaf changes others")
  if p2 is not None and name != "noisy_sgd":
    assert_trees_close({"s": p1["s"], "w": p1["w"]}, {"s": p2["s"], "w": p2["w"]}, 1e-5, 1e-6, f"{name} vs optax")


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "lion", "adafactor"])
def test_scalar_only_tree(name):
  ours, ref = _pair(name)
  params = jnp.float32(1.5)
  grads = [jnp.float32(0.3 * k - 0.5) for k in range(5)]
  p1, _ = _run(ours, params, grads)
  p2, _ = _run(ref, params, grads)
  np.testing.assert_allclose(p1, p2, rtol=1e-5, atol=1e-6)


@flax.struct.dataclass
class Layer:
  kernel: jax.Array
  bias: jax.Array


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop", "lamb"])
def test_flax_struct_dataclass_tree(name):
  ours, ref = _pair(name)
  params = Layer(kernel=jnp.ones((3, 2)), bias=jnp.zeros(2))
  grads = [Layer(kernel=jnp.full((3, 2), 0.1 * k), bias=jnp.full(2, -0.2 * k)) for k in range(1, 4)]
  p1, _ = _run(ours, params, grads)
  p2, _ = _run(ref, params, grads)
  assert isinstance(p1, Layer)
  assert_trees_close(p1, p2, 1e-5, 1e-6, name)


# --- bad input ---------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_negative_learning_rate_raises_at_build(name):
  kwargs = dict(OPTIMIZERS[name], learning_rate=-0.1)
  with pytest.raises(ValueError, match="learning_rate"):
    getattr(jopt, name)(**kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_mismatched_gradient_tree_raises(name):
  tx = getattr(jopt, name)(**OPTIMIZERS[name])
  params = small_tree()
  state = tx.init(params)
  wrong = {"w": params["w"], "extra": params["b"], "b": params["b"]}
  with pytest.raises(ValueError, match="tree"):
    tx.update(wrong, state, params)


@pytest.mark.parametrize("name", sorted(NEEDS_PARAMS))
def test_missing_params_is_one_clear_error(name):
  tx = getattr(jopt, name)(**OPTIMIZERS[name])
  params = small_tree()
  state = tx.init(params)
  for call in (lambda: tx.update(params, state), lambda: tx.update(params, state, None)):
    with pytest.raises(ValueError, match="params"):
      call()


@pytest.mark.parametrize("name,arg,value", [
    ("adam", "b1", 1.0), ("adam", "b2", -0.1), ("adam", "eps", -1e-8), ("sgd", "momentum", 1.5),
    ("rmsprop", "decay", 1.0), ("adamw", "weight_decay", -1e-4), ("lion", "b1", 2.0),
    ("clip_by_block_rms", "threshold", -1.0), ("clip_by_global_norm", "max_norm", -1.0),
    ("scale_by_factored_rms", "min_dim_size_to_factor", 0),
])
def test_out_of_range_hyperparameter_names_the_argument(name, arg, value):
  kwargs = dict(OPTIMIZERS.get(name, {}), **{arg: value})
  with pytest.raises(ValueError, match=arg):
    getattr(jopt, name)(**kwargs)
