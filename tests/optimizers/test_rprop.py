"""Rprop against torch.optim.Rprop and the paper's rule (optax returns each update one step late)."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jopt._src.optimizers import rprop as jrprop


def test_closed_form_sequence():
  # iRprop-: steps 0.1 -> 0.12 -> 0.144, a flip shrinks to 0.072 and pauses, then 0.072 is used.
  tx = jrprop.scale_by_rprop(learning_rate=0.1, eta_minus=0.5, eta_plus=1.2)
  p = jnp.zeros(1)
  state = tx.init(p)
  out = []
  for g in [1.0, 1.0, 1.0, -1.0, 1.0]:
    u, state = tx.update(jnp.array([g]), state)
    out.append(float(u[0]))
  np.testing.assert_allclose(out, [0.1, 0.12, 0.144, 0.0, 0.072], rtol=1e-6)


@pytest.mark.parametrize("kwargs", [
    dict(learning_rate=0.01),
    dict(learning_rate=0.05, eta_minus=0.3, eta_plus=1.5, min_step_size=1e-3, max_step_size=0.2),
])
def test_matches_torch_rprop(kwargs):
  torch = pytest.importorskip("torch")
  a = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
  b = np.random.default_rng(1).normal(size=6).astype(np.float32)
  fn = lambda w: jnp.sum((jnp.asarray(a) @ w - jnp.asarray(b)) ** 2)
  w = jnp.zeros(4)
  tx = jrprop.rprop(**kwargs)
  state = tx.init(w)
  step = jax.jit(lambda w, s: tx.update(jax.grad(fn)(w), s))

  tw = torch.zeros(4, requires_grad=True)
  topt = torch.optim.Rprop(
      [tw], lr=kwargs["learning_rate"],
      etas=(kwargs.get("eta_minus", 0.5), kwargs.get("eta_plus", 1.2)),
      step_sizes=(kwargs.get("min_step_size", 1e-6), kwargs.get("max_step_size", 50.0)),
  )
  ta, tb = torch.tensor(a), torch.tensor(b)
  for _ in range(25):
    u, state = step(w, state)
    w = w + u
    topt.zero_grad()
    ((ta @ tw - tb) ** 2).sum().backward()
    topt.step()
    np.testing.assert_allclose(w, tw.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["jit", "eager"])
def test_state_matches_optax_and_update_is_optax_pending_update(mode):
  """optax's state is right; its emitted update is the previous step's. Ours emits the new one."""
  kwargs = dict(learning_rate=0.02, eta_minus=0.4, eta_plus=1.3, min_step_size=1e-4, max_step_size=0.1)
  ours, theirs = jrprop.scale_by_rprop(**kwargs), optax.scale_by_rprop(**kwargs)
  params = {"w": jnp.zeros((3, 2)), "b": jnp.zeros(4)}
  s1, s2 = ours.init(params), theirs.init(params)
  f1, f2 = ours.update, theirs.update
  if mode == "jit":
    f1, f2 = jax.jit(f1), jax.jit(f2)
  key = jax.random.PRNGKey(0)
  for _ in range(10 if mode == "jit" else 5):
    key, sub = jax.random.split(key)
    g = {"w": jax.random.normal(sub, (3, 2)), "b": jax.random.normal(jax.random.split(sub)[0], (4,))}
    u1, s1 = f1(g, s1)
    _, s2 = f2(g, s2)
    for a, b in zip(jax.tree.leaves(s1), jax.tree.leaves(s2)):
      np.testing.assert_allclose(a, b, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(u1), jax.tree.leaves(s2.prev_updates)):
      np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("call,match", [
    (lambda: jrprop.rprop(lambda c: 0.1), "learning_rate"),
    (lambda: jrprop.rprop(0.1, min_step_size=1.0, max_step_size=0.5), "min_step_size"),
    (lambda: jrprop.scale_by_rprop(0.1, eta_plus=float("nan")), "eta_plus"),
])
def test_bad_arguments(call, match):
  with pytest.raises((ValueError, TypeError), match=match):
    call()


def test_rejects_complex():
  with pytest.raises(ValueError, match="complex"):
    jrprop.rprop(0.1).init(jnp.ones(2, jnp.complex64))


@pytest.mark.parametrize("name", ["rprop", "scale_by_rprop"])
def test_signature_matches_optax(name):
  ours = inspect.signature(getattr(jrprop, name)).parameters
  theirs = inspect.signature(getattr(optax, name)).parameters
  assert [(k, p.kind, p.default) for k, p in ours.items()] == [
      (k, p.kind, p.default) for k, p in theirs.items()]


def test_state_fields_match_optax():
  assert jrprop.ScaleByRpropState._fields == optax.ScaleByRpropState._fields


def test_bfloat16_keeps_param_dtype():
  tx = jrprop.rprop(0.01)
  params = {"w": jnp.ones((2, 2), jnp.bfloat16)}
  state = tx.init(params)
  for g in [1.0, -1.0, 1.0]:
    u, state = tx.update({"w": jnp.full((2, 2), g, jnp.bfloat16)}, state)
    assert u["w"].dtype == jnp.bfloat16 and state[0].step_sizes["w"].dtype == jnp.bfloat16
