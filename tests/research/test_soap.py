"""SOAP: step by step against a float64 NumPy port of the authors' code, Adam in the rotated basis,
jit / vmap, ZeRO-1 mesh."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jopt._src.research import soap as soap_lib
from parity import gradient_sequence
from research_checks import assert_mesh_zero1_matches_single, square_regression, assert_trees_close, assert_vmap_matches_loop


def ref_merge_dims(shape, max_dim):
  """The authors' `merge_dims` (channels_first)."""
  new_shape, curr = [], 1
  for sh in shape:
    if curr * sh > max_dim:
      if curr > 1:
        new_shape.append(curr)
        curr = sh
      else:
        new_shape.append(sh)
        curr = 1
    else:
      curr *= sh
  if curr > 1 or not new_shape:
    new_shape.append(curr)
  return new_shape


class RefSoap:
  """One leaf of SOAP as in https://github.com/nikhilvyas/SOAP (soap.py, 2024-09), in float64.

  `step(g)` returns the parameter change divided by `-lr` (no weight decay): zeros on the first
  call. `None` stands for the authors' empty preconditioner `[]`.
  """

  def __init__(self, b1, b2, shampoo_beta, eps, freq, max_dim, merge, precond_1d, normalize, bias):
    self.b1, self.b2, self.eps, self.freq, self.max_dim = b1, b2, eps, freq, max_dim
    self.sb = shampoo_beta if shampoo_beta >= 0 else b2
    self.merge, self.precond_1d, self.normalize, self.bias = merge, precond_1d, normalize, bias
    self.step_count, self.q = 0, None

  def _merged(self, x):
    return x.reshape(ref_merge_dims(x.shape, self.max_dim)) if self.merge else x

  def _project(self, x, back):
    shape = x.shape
    x = self._merged(x)
    for mat in self.q:
      if mat is None:
        x = np.transpose(x, list(range(1, x.ndim)) + [0])
      else:
        x = np.tensordot(x, mat, axes=[[0], [1 if back else 0]])
    return x.reshape(shape)

  def _update_preconditioner(self, g):
    if self.q is not None:
      self.exp_avg = self._project(self.exp_avg, back=True)
    if g.ndim == 1:
      if self.precond_1d and g.shape[0] <= self.max_dim:
        self.gg[0] += (1 - self.sb) * (np.outer(g, g) - self.gg[0])
    else:
      gm = self._merged(g)
      for idx, sh in enumerate(gm.shape):
        if sh <= self.max_dim:
          others = [i for i in range(gm.ndim) if i != idx]
          self.gg[idx] += (1 - self.sb) * (np.tensordot(gm, gm, axes=[others, others]) - self.gg[idx])
    if self.q is None:
      self.q = [None if m is None else np.flip(np.linalg.eigh(m)[1], 1) for m in self.gg]
    if self.step_count > 0 and self.step_count % self.freq == 0:
      sq = self._merged(self.exp_avg_sq)
      new_q = []
      for ind, (m, o) in enumerate(zip(self.gg, self.q)):
        if m is None:
          new_q.append(None)
          continue
        order = np.argsort(-np.diag(o.T @ m @ o), kind="stable")
        sq = np.take(sq, order, axis=ind)
        new_q.append(np.linalg.qr(m @ o[:, order])[0])
      self.exp_avg_sq = sq.reshape(self.exp_avg_sq.shape)
      self.q = new_q
    if self.step_count > 0:
      self.exp_avg = self._project(self.exp_avg, back=False)

  def step(self, g):
    g = np.asarray(g, np.float64)
    if self.q is None:
      self.exp_avg, self.exp_avg_sq = np.zeros_like(g), np.zeros_like(g)
      if g.ndim == 1:
        ok = self.precond_1d and g.shape[0] <= self.max_dim
        self.gg = [np.zeros((g.shape[0],) * 2) if ok else None]
      else:
        self.gg = [np.zeros((d, d)) if d <= self.max_dim else None for d in self._merged(g).shape]
      self._update_preconditioner(g)
      return np.zeros_like(g)
    g_rot = self._project(g, back=False)
    self.step_count += 1
    self.exp_avg = self.b1 * self.exp_avg + (1 - self.b1) * g_rot
    self.exp_avg_sq = self.b2 * self.exp_avg_sq + (1 - self.b2) * g_rot**2
    denom = np.sqrt(self.exp_avg_sq) + self.eps
    step_size = 1.0
    if self.bias:
      step_size = np.sqrt(1 - self.b2**self.step_count) / (1 - self.b1**self.step_count)
    norm_grad = self._project(self.exp_avg / denom, back=True)
    if self.normalize:
      norm_grad = norm_grad / (1e-30 + np.mean(norm_grad**2) ** 0.5)
    self._update_preconditioner(g)
    return step_size * norm_grad


def params_tree():
  """Scalars, vectors, matrices, tensors and dims above `max_precond_dim`.

  The authors' basis is only defined up to a rotation inside a repeated eigenvalue, and Adam is not
  rotation invariant, so every rotated dim here has statistics of full rank or one zero eigenvalue
  from the first gradient on (a 1-D leaf of length 2; `d_i <= prod(other dims) + 1` for tensors).
  """
  r = np.random.default_rng(0)
  shapes = {"s": (), "v2": (2,), "v": (5,), "sq": (3, 4), "m": (4, 5), "t": (2, 3, 4),
            "c": (2, 2, 5), "wide": (3, 9)}
  return {k: jnp.asarray(r.normal(size=s), jnp.float32) for k, s in shapes.items()}


FAST = dict(b1=0.9, b2=0.99, precondition_frequency=2, max_precond_dim=4, precondition_1d=True)
SLOW = [
    dict(shampoo_beta=0.8, eps=1e-6, precondition_frequency=3, max_precond_dim=5, merge_dims=True),
    dict(normalize_grads=True, correct_bias=False, precondition_frequency=1, max_precond_dim=4,
         merge_dims=True, precondition_1d=True),
]


@pytest.mark.parametrize(
    "kw", [FAST] + [pytest.param(kw, marks=pytest.mark.slow) for kw in SLOW])
def test_matches_reference_step_by_step(kw):
  """Every update of `scale_by_soap` equals the NumPy port of the authors' optimizer (10 steps)."""
  sig = inspect.signature(soap_lib.scale_by_soap).parameters
  full = {k: sig[k].default for k in sig}
  full.update(kw)
  tx = soap_lib.scale_by_soap(**kw)
  params = params_tree()
  refs = {k: RefSoap(full["b1"], full["b2"], full["shampoo_beta"], full["eps"],
                     full["precondition_frequency"], full["max_precond_dim"], full["merge_dims"],
                     full["precondition_1d"], full["normalize_grads"], full["correct_bias"])
          for k in params}
  state = tx.init(params)
  update = jax.jit(tx.update)
  for i, g in enumerate(gradient_sequence(params, 10, seed=1)):
    u, state = update(g, state)
    for k in params:
      want = refs[k].step(g[k])
      np.testing.assert_allclose(u[k], want, rtol=2e-4, atol=2e-5, err_msg=f"step {i}, leaf {k}")
  assert int(state.count) == 10


def test_adam_in_the_rotated_basis():
  """Gradients `G_t = U D_t V^T` with fixed orthogonal U, V and diagonal D_t: the statistics stay
  diagonal in (U, V), so with frequency 1 SOAP is Adam (its step-size bias correction) on D_2, D_3, ...
  rotated back. The rotated off-diagonal entries are float32 rounding noise; `eps` keeps Adam from
  blowing them up."""
  r = np.random.default_rng(1)
  u_basis, _ = np.linalg.qr(r.normal(size=(4, 4)))
  v_basis, _ = np.linalg.qr(r.normal(size=(4, 4)))
  scales = np.array([1.0, 2.0, 4.0, 8.0])
  b1, b2, eps = 0.9, 0.95, 1e-3
  tx = soap_lib.scale_by_soap(b1=b1, b2=b2, eps=eps, precondition_frequency=1)
  state = tx.init(jnp.zeros((4, 4)))
  m = v = np.zeros(4)
  for t in range(8):
    d = scales * (1 + 0.3 * r.uniform(-1, 1, 4)) * r.choice([-1.0, 1.0], 4)
    g = u_basis @ np.diag(d) @ v_basis.T
    upd, state = tx.update(jnp.asarray(g, jnp.float32), state)
    if t == 0:
      np.testing.assert_array_equal(upd, 0.0)
      continue
    m, v = b1 * m + (1 - b1) * d, b2 * v + (1 - b2) * d**2
    adam = np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
    np.testing.assert_allclose(upd, u_basis @ np.diag(adam) @ v_basis.T, atol=3e-3)


@pytest.mark.slow
def test_weight_decay_and_learning_rate():
  """`soap` = direction + decoupled decay on the pre-step params, times -lr; a zero decay needs no params."""
  params = {"m": jnp.ones((3, 4)), "v": jnp.arange(3.0)}
  g = gradient_sequence(params, 2, seed=2)
  direction = soap_lib.scale_by_soap(b1=0.9, b2=0.99, precondition_frequency=1)
  tx = soap_lib.soap(0.1, b1=0.9, b2=0.99, weight_decay=0.5, precondition_frequency=1)
  s_dir, s_tx = direction.init(params), tx.init(params)
  for grads in g:
    d, s_dir = jax.jit(direction.update)(grads, s_dir)
    u, s_tx = jax.jit(tx.update)(grads, s_tx, params)
    want = jax.tree.map(lambda d, p: -0.1 * (d + 0.5 * p), d, params)
    assert_trees_close(u, want, rtol=1e-6, atol=1e-7)
  no_decay = soap_lib.soap(0.1, weight_decay=0.0)
  no_decay.update(g[0], no_decay.init(params))


@pytest.mark.slow
def test_jit_and_vmap():
  params = {"m": jnp.ones((3, 4))}
  tx = soap_lib.soap(1e-2, precondition_frequency=2, precondition_1d=True)
  assert_vmap_matches_loop(tx, params, gradient_sequence(params, 4))


def test_mesh_zero1_equals_single_device():
  tx = soap_lib.soap(1e-2, precondition_frequency=2)
  # Eigenvectors move by rounding / eigengap: the all-reduce order alone changes q by ~1e-4.
  zero = assert_mesh_zero1_matches_single(tx, square_regression(), rtol=1e-3, atol=3e-4)
  soap_state = zero.opt_state[0]
  for mats in (soap_state.q["w"], soap_state.gg["w"]):  # (8, 8) each: split over the 4 devices
    assert all(tuple(m.sharding.spec) == ("data",) for m in mats)


def test_signature_and_defaults_follow_the_paper():
  params = inspect.signature(soap_lib.soap).parameters
  assert list(params)[:12] == [
      "learning_rate", "b1", "b2", "shampoo_beta", "eps", "weight_decay", "precondition_frequency",
      "max_precond_dim", "merge_dims", "precondition_1d", "normalize_grads", "correct_bias"]
  defaults = {k: v.default for k, v in params.items()}
  assert defaults["learning_rate"] == 3e-3 and defaults["b1"] == 0.95 and defaults["b2"] == 0.95
  assert defaults["shampoo_beta"] == -1 and defaults["eps"] == 1e-8 and defaults["weight_decay"] == 0.01
  assert defaults["precondition_frequency"] == 10 and defaults["max_precond_dim"] == 10000
  assert not defaults["merge_dims"] and not defaults["precondition_1d"]
  assert not defaults["normalize_grads"] and defaults["correct_bias"]


def test_bad_arguments():
  with pytest.raises(ValueError, match="(scale_by_)?soap: `precondition_frequency`"):
    soap_lib.scale_by_soap(precondition_frequency=0)
  with pytest.raises(ValueError, match="(scale_by_)?soap: `shampoo_beta`"):
    soap_lib.scale_by_soap(shampoo_beta=1.5)
  with pytest.raises(ValueError, match="(scale_by_)?soap: `b2`"):
    soap_lib.soap(b2=float("nan"))
  tx = soap_lib.scale_by_soap()
  state = tx.init({"a": jnp.zeros((2, 2))})
  with pytest.raises(ValueError, match="(scale_by_)?soap: the updates tree does not match"):
    tx.update({"b": jnp.zeros((2, 2))}, state)
