"""Mask helpers on plain dicts, flax linen params and `flax.nnx.State`, inside optimizers; multi_transform
(partition) against optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import linen as nn
from flax import nnx

import jopt
from cases import SMALL_LABELS, match_small
from jopt._src.transforms import freezing
from parity import assert_trajectories_match, random_tree


class _Model(nnx.Module):

  def __init__(self, rngs):
    self.emb = nnx.Embed(5, 4, rngs=rngs)
    self.dense = nnx.Linear(4, 3, rngs=rngs)
    self.norm = nnx.LayerNorm(3, rngs=rngs)

  def __call__(self, ids):
    return self.norm(self.dense(self.emb(ids)))


# The expected weight-decay mask for the model above, whatever the container.
EXPECTED = {
    "emb": {"embedding": False},
    "dense": {"kernel": True, "bias": False},
    "norm": {"scale": False, "bias": False},
}


def _as_plain(tree):
  """nnx.State / Variables / FrozenDict -> nested plain dicts of Python values."""
  if isinstance(tree, nnx.State):
    tree = tree.to_pure_dict()
  if isinstance(tree, dict) or hasattr(tree, "items"):
    return {k: _as_plain(v) for k, v in tree.items()}
  return tree.value if isinstance(tree, nnx.Variable) else tree


def test_plain_dict_and_lists():
  params = {"w": jnp.ones((2, 3)), "b": jnp.ones(3), "layers": [{"kernel": jnp.ones((3, 3)), "scale": jnp.ones(3)}],
            "s": jnp.ones(()), "none": None}
  assert jopt.mask_by_ndim()(params) == {"w": True, "b": False, "s": False, "none": None,
                                         "layers": [{"kernel": True, "scale": False}]}
  assert jopt.mask_by_ndim(0)(params)["s"] is True
  assert jopt.mask_by_path(exclude=("b", "scale"))(params) == {
      "w": True, "b": False, "s": True, "none": None, "layers": [{"kernel": True, "scale": False}]}
  # Full-path patterns and include lists.
  assert jopt.mask_by_path(exclude=(), include=("layers/*",))(params)["layers"] == [{"kernel": True, "scale": True}]
  assert jopt.mask_by_path(exclude=("layers/0/k*",))(params)["layers"] == [{"kernel": False, "scale": True}]
  assert jopt.mask_by_path(exclude="w")(params)["w"] is False


def test_flax_linen_params():
  model = nn.Sequential([nn.Embed(5, 4), nn.Dense(3), nn.LayerNorm()])
  params = model.init(jax.random.PRNGKey(0), jnp.array([0, 1]))
  mask = jopt.weight_decay_mask()(params)
  assert _as_plain(mask) == {"params": {"layers_0": {"embedding": False},
                                        "layers_1": {"kernel": True, "bias": False},
                                        "layers_2": {"scale": False, "bias": False}}}


@pytest.mark.parametrize("pure", [False, True], ids=["variables", "pure"])
def test_nnx_state(pure):
  state = nnx.state(_Model(nnx.Rngs(0)), nnx.Param)
  if pure:
    state = nnx.as_pure(state)
  assert _as_plain(jopt.weight_decay_mask()(state)) == EXPECTED
  assert _as_plain(jopt.mask_by_ndim(2)(state))["emb"]["embedding"] is True


def test_nnx_optimizer_adamw_with_mask_matches_optax():
  ids = jnp.array([0, 3, 4])
  target = jax.random.normal(jax.random.PRNGKey(1), (3, 3))
  loss = lambda m: jnp.sum((m(ids) - target) ** 2)
  results = []
  for lib in (jopt, optax):
    model = _Model(nnx.Rngs(0))
    opt = nnx.Optimizer(model, lib.adamw(0.1, weight_decay=0.5, mask=jopt.weight_decay_mask()), wrt=nnx.Param)
    for _ in range(3):
      opt.update(model, nnx.grad(loss)(model))
    results.append(nnx.state(model, nnx.Param).to_pure_dict())
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), *results)


def test_nnx_optimizer_decay_only_where_masked():
  # Zero gradients: only the decayed leaves move, by exactly lr * wd * p (plain SGD).
  model = _Model(nnx.Rngs(0))
  before = nnx.state(model, nnx.Param).to_pure_dict()
  tx = jopt.chain(jopt.add_decayed_weights(0.5, mask=jopt.weight_decay_mask()), jopt.sgd(0.1))
  opt = nnx.Optimizer(model, tx, wrt=nnx.Param)
  opt.update(model, jax.tree.map(jnp.zeros_like, nnx.state(model, nnx.Param)))
  after = nnx.state(model, nnx.Param).to_pure_dict()
  for (path, b), a in zip(jax.tree_util.tree_flatten_with_path(before)[0], jax.tree.leaves(after)):
    decayed = "kernel" in str(path)  # the only leaf with ndim >= 2 that is not an embedding
    np.testing.assert_allclose(a, b * (1 - 0.05) if decayed else b, rtol=1e-6)


def test_mask_and_broadcasts_prefix_trees():
  params = {"enc": {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}, "dec": {"w": jnp.ones((2, 2))}}
  m = jopt.mask_and({"enc": True, "dec": False}, jopt.mask_by_ndim(2))
  assert m(params) == {"enc": {"w": True, "b": False}, "dec": {"w": False}}
  with pytest.raises(ValueError, match="mask_and: `mask`"):
    jopt.mask_and({"enc": True})(params)
  with pytest.raises(ValueError, match="mask_and"):
    jopt.mask_and()


def test_masks_are_static_under_jit():
  # The mask function is called on tracers inside jit: it only reads shapes and names.
  params = {"w": jnp.ones((2, 3)), "bias": jnp.ones(3)}
  tx = jopt.add_l1_decay(0.1, mask=jopt.weight_decay_mask())
  u, _ = jax.jit(tx.update)(jax.tree.map(jnp.zeros_like, params), tx.init(params), params)
  np.testing.assert_allclose(u["w"], 0.1)
  np.testing.assert_allclose(u["bias"], 0.0)


# --- multi_transform (partition) ------------------------------------------------


def _multi(lib, labels):
  return lib.multi_transform(
      {"adam": lib.adam(1e-2), "sgd": lib.sgd(0.1, momentum=0.9), "lion": lib.lion(1e-3)}, labels
  )


@pytest.mark.parametrize("labels", [
    {"dense": {"w": "adam", "b": "sgd"}, "scalar": "sgd", "stack": "lion"},  # a prefix of the params
    lambda p: jax.tree.map(lambda x: "adam" if x.ndim > 1 else ("sgd" if x.ndim else "lion"), p),
], ids=["tree", "callable"])
def test_multi_transform(labels):
  assert_trajectories_match(_multi(jopt, labels), _multi(optax, labels))


def test_multi_transform_state_and_unknown_label():
  params = random_tree(jax.random.PRNGKey(0))
  labels = {"dense": "adam", "scalar": "sgd", "stack": "sgd"}
  state = _multi(jopt, labels).init(params)
  assert isinstance(state, jopt.MultiTransformState) and set(state.inner_states) == {"adam", "sgd", "lion"}
  with pytest.raises(ValueError, match="param_labels.*'rmsprop'"):
    _multi(jopt, {**labels, "scalar": "rmsprop"}).init(params)


@pytest.mark.parametrize("mode,callable_labels", [("jit", False), ("eager", True)])
def test_partition(mode, callable_labels):
  labels = SMALL_LABELS if mode == "eager" else {"dense": {"w": "a", "b": "b"}, "scalar": "b", "stack": "a"}
  param_labels = (lambda p: labels) if callable_labels else labels
  match_small(
      freezing.partition({"a": jopt.adam(0.1), "b": jopt.sgd(0.1, momentum=0.9)}, param_labels),
      optax.partition({"a": optax.adam(0.1), "b": optax.sgd(0.1, momentum=0.9)}, param_labels),
      mode, full_tree=True)
