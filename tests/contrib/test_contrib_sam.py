"""SAM (transparent and opaque modes) and `normalize` against optax.contrib, step by step."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
from jopt._src.contrib import sam as jsam
from parity import assert_trajectories_match, random_tree


def _pair(outer, adv, **kwargs):
  """The same SAM built from jopt and from optax blocks; `outer`/`adv` are (name, kwargs)."""
  def build(lib, normalize, sam):
    opt = getattr(lib, outer[0])(**outer[1])
    adv_opt = lib.chain(normalize(), getattr(lib, adv[0])(**adv[1]))
    return sam(opt, adv_opt, **kwargs)
  return (build(jopt, jsam.normalize, jsam.sam),
          build(optax, optax.contrib.normalize, optax.contrib.sam))


def _loss(p):
  return sum(jnp.sum(jnp.sin(x) + 0.1 * x ** 2) for x in jax.tree.leaves(p))


TRANSPARENT = [
    (("sgd", dict(learning_rate=0.05)), ("sgd", dict(learning_rate=0.1)), dict()),
    (("adam", dict(learning_rate=0.01)), ("adam", dict(learning_rate=0.05)),
     dict(sync_period=3, reset_state=False)),
]


@pytest.mark.parametrize("outer,adv,kwargs", TRANSPARENT, ids=range(len(TRANSPARENT)))
def test_sam_transparent_matches_optax(outer, adv, kwargs):
  ours, ref = _pair(outer, adv, **kwargs)
  assert_trajectories_match(ours, ref, steps=12)


def test_sam_transparent_eager():
  ours, ref = _pair(("sgd", dict(learning_rate=0.05)), ("sgd", dict(learning_rate=0.1)))
  assert_trajectories_match(ours, ref, steps=6, mode="eager")


def test_sam_opaque_matches_optax():
  ours, ref = _pair(("adam", dict(learning_rate=0.01)), ("sgd", dict(learning_rate=0.1, momentum=0.5)),
                    opaque_mode=True, sync_period=3, reset_state=False)
  grad_fn = lambda p, i: jax.grad(_loss)(p)
  assert_trajectories_match(ours, ref, steps=8, extra=dict(grad_fn=grad_fn))


def test_sam_opaque_pmap_averages_adversarial_gradients():
  ours, ref = _pair(("sgd", dict(learning_rate=0.05)), ("sgd", dict(learning_rate=0.1)),
                    opaque_mode=True, batch_axis_name="devices")
  grad_fn = lambda p, i: jax.grad(_loss)(p)
  assert_trajectories_match(ours, ref, steps=4, mode="pmap", extra=dict(grad_fn=grad_fn))


def test_sam_paper_rule_by_hand():
  # sync_period=2, sgd outer/adversarial: w_adv = w + rho g/|g|, w <- w - lr g(w_adv).
  lr, rho = 0.1, 0.05
  tx = jsam.sam(jopt.sgd(lr), jopt.chain(jsam.normalize(), jopt.sgd(rho)))
  w = jnp.array([1.0, -2.0])
  grad = lambda x: 2 * x + jnp.sin(x)
  state = tx.init(w)
  u, state = tx.update(grad(w), state, w)
  w_adv = w + u
  np.testing.assert_allclose(w_adv, w + rho * grad(w) / jnp.linalg.norm(grad(w)), rtol=1e-6)
  u, state = tx.update(grad(w_adv), state, w_adv)
  np.testing.assert_allclose(w_adv + u, w - lr * grad(w_adv), rtol=1e-6)


def test_normalize_matches_optax_and_unit_norm():
  params = random_tree(jax.random.PRNGKey(2))
  assert_trajectories_match(jsam.normalize(), optax.contrib.normalize(), steps=3,
                            apply_scale=0.1, pass_params=False)
  u, _ = jsam.normalize().update(params, jsam.NormalizeState())
  np.testing.assert_allclose(jopt._src.numerics.global_norm(u), 1.0, rtol=1e-6)


def test_sam_errors():
  with pytest.raises(ValueError, match="sam.*sync_period"):
    jsam.sam(jopt.sgd(0.1), jopt.sgd(0.1), sync_period=0)
  with pytest.raises(TypeError, match="sam.*adv_optimizer"):
    jsam.sam(jopt.sgd(0.1), "sgd")
  tx = jsam.sam(jopt.sgd(0.1), jopt.sgd(0.1), opaque_mode=True)
  p = jnp.ones(2)
  with pytest.raises(ValueError, match="sam.*grad_fn"):
    tx.update(p, tx.init(p), p)
