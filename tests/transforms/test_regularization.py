"""L1/L2 regularization and proximal transforms against closed forms, scikit-learn, PyTorch and optax.

Reference fits run full batch inside one jitted `lax.scan` each, in float32, on
scikit-learn's bundled data sets (diabetes, breast cancer, linnerud: no download).
Features are standardized; the intercept is a separate `bias` leaf that a mask
leaves unpenalized, as scikit-learn does.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn import datasets
from sklearn import linear_model

import jopt
from parity import assert_trajectories_match
from parity import random_tree

NO_BIAS = jopt.mask_by_path(exclude=("bias",))


def _standardize(x):
  return (x - x.mean(0)) / x.std(0)


def _fit(tx, loss, params, steps):
  """`steps` full-batch steps of `tx` on `loss`, in one jitted scan."""

  @jax.jit
  def run(params):
    def body(carry, _):
      p, s = carry
      u, s = tx.update(jax.grad(loss)(p), s, p)
      return (jopt.apply_updates(p, u), s), None

    (p, _), _ = jax.lax.scan(body, (params, tx.init(params)), None, length=steps)
    return p

  return jax.tree.map(np.asarray, run(params))


def _rel(a, b):
  return np.linalg.norm(np.asarray(a, np.float64) - b) / np.linalg.norm(b)


@pytest.fixture(scope="module")
def diabetes():
  x, y = datasets.load_diabetes(return_X_y=True)
  x = _standardize(x)
  xj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)

  def loss(p):  # scikit-learn's scaling: ||y - Xw - b||^2 / (2 n)
    r = xj @ p["w"] + p["bias"] - yj
    return 0.5 * jnp.mean(r * r)

  params = {"w": jnp.zeros(x.shape[1]), "bias": jnp.zeros(())}
  lip = np.linalg.eigvalsh(x.T @ x / len(y)).max()  # Lipschitz constant of the gradient
  return x, y, loss, params, lip


# ---------------------------------------------------------------- ridge (L2)

def test_ridge_sgd_matches_closed_form(diabetes):
  x, y, loss, params, lip = diabetes
  lam, n = 1.0, len(y)
  w_star = np.linalg.solve(x.T @ x / n + lam * np.eye(x.shape[1]), x.T @ (y - y.mean()) / n)
  lr = 1.0 / (lip + lam)
  tx = jopt.chain(jopt.add_decayed_weights(lam, mask=NO_BIAS), jopt.sgd(lr))
  p = _fit(tx, loss, params, 500)
  assert _rel(p["w"], w_star) < 1e-4
  np.testing.assert_allclose(p["bias"], y.mean(), rtol=1e-4)


def test_ridge_adam_coupled_matches_closed_form(diabetes):
  # Coupled L2 (PyTorch's Adam(weight_decay=...)) keeps the ridge optimum; a decaying lr lets Adam settle.
  x, y, loss, params, _ = diabetes
  lam, n = 1.0, len(y)
  w_star = np.linalg.solve(x.T @ x / n + lam * np.eye(x.shape[1]), x.T @ (y - y.mean()) / n)
  tx = jopt.chain(jopt.add_decayed_weights(lam, mask=NO_BIAS), jopt.adam(lambda c: 0.5 * 0.999**c))
  p = _fit(tx, loss, params, 5000)
  assert _rel(p["w"], w_star) < 1e-4
  np.testing.assert_allclose(p["bias"], y.mean(), rtol=1e-4)


# ---------------------------------------------------------------- lasso (L1)

@pytest.mark.parametrize("alpha", [1.0, 5.0])
def test_lasso_proximal_matches_sklearn(diabetes, alpha):
  x, y, loss, params, lip = diabetes
  ref = linear_model.Lasso(alpha=alpha, tol=1e-12, max_iter=100_000).fit(x, y)
  lr = 1.0 / lip
  tx = jopt.chain(jopt.sgd(lr), jopt.l1_proximal(alpha, lr, mask=NO_BIAS))  # ISTA
  p = _fit(tx, loss, params, 3000)
  assert (ref.coef_ == 0).sum() >= 3  # the test is about sparsity: the reference has zeros
  np.testing.assert_array_equal(p["w"] == 0, ref.coef_ == 0)  # exact zeros, same pattern
  assert _rel(p["w"], ref.coef_) < 1e-3
  np.testing.assert_allclose(p["bias"], ref.intercept_, rtol=1e-3)


def test_l1_subgradient_gives_no_exact_zeros(diabetes):
  x, y, loss, params, lip = diabetes
  alpha = 5.0
  ref = linear_model.Lasso(alpha=alpha, tol=1e-12, max_iter=100_000).fit(x, y)
  tx = jopt.chain(jopt.add_l1_decay(alpha, mask=NO_BIAS), jopt.sgd(1.0 / lip))
  w = _fit(tx, loss, params, 3000)["w"]
  zero = ref.coef_ == 0
  assert np.count_nonzero(w == 0) == 0  # subgradient steps never land on 0 ...
  assert np.all(np.abs(w[zero]) < 2 * alpha / lip + 1e-3)  # ... they oscillate around it, within ~lr * l1
  assert _rel(w[~zero], ref.coef_[~zero]) < 0.1  # and the rest is roughly the lasso


def test_elastic_net_proximal_matches_sklearn(diabetes):
  x, y, loss, params, lip = diabetes
  alpha, l1_ratio = 2.0, 0.7
  ref = linear_model.ElasticNet(alpha=alpha, l1_ratio=l1_ratio, tol=1e-12, max_iter=100_000).fit(x, y)
  lr = 1.0 / lip
  tx = jopt.chain(
      jopt.sgd(lr),
      jopt.elastic_net_proximal(alpha * l1_ratio, alpha * (1 - l1_ratio), lr, mask=NO_BIAS),
  )
  p = _fit(tx, loss, params, 3000)
  assert (ref.coef_ == 0).sum() >= 1
  np.testing.assert_array_equal(p["w"] == 0, ref.coef_ == 0)
  assert _rel(p["w"], ref.coef_) < 1e-3


def test_group_lasso_rows_match_multitask_lasso():
  # MultiTaskLasso: ||Y - XW - b||_F^2 / (2 n) + alpha * sum_j ||W_j||_2 over the rows (features) of W.
  x, y = datasets.load_linnerud(return_X_y=True)
  x, y = _standardize(x), _standardize(y)
  alpha = 0.2
  ref = linear_model.MultiTaskLasso(alpha=alpha, tol=1e-12, max_iter=100_000).fit(x, y)
  w_ref = ref.coef_.T  # (features, tasks)
  xj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)

  def loss(p):
    r = xj @ p["w"] + p["bias"] - yj
    return 0.5 * jnp.sum(r * r) / len(x)

  lr = 1.0 / np.linalg.eigvalsh(x.T @ x / len(x)).max()
  tx = jopt.chain(jopt.sgd(lr), jopt.group_lasso_proximal(alpha, lr, axis=-1, mask=NO_BIAS))
  p = _fit(tx, loss, {"w": jnp.zeros((3, 3)), "bias": jnp.zeros(3)}, 5000)
  zero_rows = np.all(w_ref == 0, axis=1)
  assert zero_rows.sum() == 1
  np.testing.assert_array_equal(np.all(p["w"] == 0, axis=1), zero_rows)
  assert np.all(p["w"][~zero_rows] != 0)
  assert _rel(p["w"], w_ref) < 1e-3


# ---------------------------------------------------------------- logistic regression (L2)

@pytest.mark.parametrize("c", [0.1, 1.0])
def test_l2_logistic_regression_matches_sklearn(c):
  x, y = datasets.load_breast_cancer(return_X_y=True)
  x = _standardize(x)
  n = len(y)
  ref = linear_model.LogisticRegression(C=c, tol=1e-12, max_iter=100_000).fit(x, y)
  # sklearn minimizes ||w||^2 / 2 + C * sum(logloss) = C n * (mean(logloss) + ||w||^2 / (2 C n)).
  l2 = 1.0 / (c * n)
  xj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)

  def loss(p):
    z = xj @ p["w"] + p["bias"]
    return jnp.mean(jax.nn.softplus(z) - yj * z)

  lip = 0.25 * np.linalg.eigvalsh(x.T @ x / n).max() + l2
  tx = jopt.chain(jopt.add_decayed_weights(l2, mask=NO_BIAS), jopt.sgd(1.0 / lip, momentum=0.9))
  p = _fit(tx, loss, {"w": jnp.zeros(x.shape[1]), "bias": jnp.zeros(())}, 5000)
  assert _rel(p["w"], ref.coef_[0]) < 1e-3
  np.testing.assert_allclose(p["bias"], ref.intercept_[0], rtol=1e-3, atol=1e-4)


# ---------------------------------------------------------------- the source's y = 2x example

# Data: x = [0.2, 0.4, 0.6, 0.8, 1.0], y = 2x; loss = mean((theta * x - y)^2); theta0 = 0;
# plain SGD, lr 0.01, 100 steps; penalty 0.1 * |theta| or 0.1 * 0.5 * theta^2.
X_SRC = np.array([0.2, 0.4, 0.6, 0.8, 1.0])
LR, STEPS, LAM = 0.01, 100, 0.1


def _source_recursion(kind):
  """theta_k from the closed form of the PyTorch loop `theta -= lr * grad(loss + penalty)`.

  With s = mean(x^2) the loss gradient is 2 s (theta - 2), so
  - L2: theta_{k+1} = a theta_k + 4 lr s, a = 1 - lr (2 s + lam), i.e.
    theta_k = t* (1 - a^k) with t* = 4 s / (2 s + lam);
  - L1: the first step has sign(0) = 0 (torch's abs'(0)), so theta_1 = 4 lr s > 0, and
    theta stays positive: theta_{k+1} = b theta_k + lr (4 s - lam), b = 1 - 2 lr s, i.e.
    theta_k = c + (theta_1 - c) b^(k-1) with c = 2 - lam / (2 s).
  """
  s = np.mean(X_SRC**2)
  k = np.arange(1, STEPS + 1, dtype=np.float64)
  if kind == "l2":
    a = 1 - LR * (2 * s + LAM)
    return 4 * s / (2 * s + LAM) * (1 - a**k)
  b, c, theta1 = 1 - 2 * LR * s, 2 - LAM / (2 * s), 4 * LR * s
  assert c > 0  # theta never crosses 0, so sign(theta) = 1 after the first step
  return c + (theta1 - c) * b ** (k - 1)


def _jopt_source_trajectory(tx):
  x = jnp.asarray(X_SRC, jnp.float32)
  loss = lambda theta: jnp.mean((theta * x - 2 * x) ** 2)

  def body(carry, _):
    theta, s = carry
    u, s = tx.update(jax.grad(loss)(theta), s, theta)
    theta = jopt.apply_updates(theta, u)
    return (theta, s), theta

  theta0 = jnp.zeros(())
  _, thetas = jax.jit(lambda t: jax.lax.scan(body, (t, tx.init(t)), None, length=STEPS))(theta0)
  return np.asarray(thetas)


@pytest.mark.parametrize("kind", ["l1", "l2"])
def test_source_example_matches_recursion(kind):
  penalty = jopt.add_l1_decay(LAM) if kind == "l1" else jopt.add_decayed_weights(LAM)
  thetas = _jopt_source_trajectory(jopt.chain(penalty, jopt.sgd(LR)))
  np.testing.assert_allclose(thetas, _source_recursion(kind), rtol=2e-6)


@pytest.mark.parametrize("kind", ["l1", "l2"])
def test_source_recursion_is_the_pytorch_loop(kind):
  torch = pytest.importorskip("torch")
  x = torch.tensor(X_SRC, dtype=torch.float64)
  theta = torch.zeros((), dtype=torch.float64, requires_grad=True)
  out = []
  for _ in range(STEPS):
    loss = ((theta * x - 2 * x) ** 2).mean()
    loss = loss + (LAM * theta.abs() if kind == "l1" else LAM * 0.5 * theta**2)
    loss.backward()
    with torch.no_grad():
      theta -= LR * theta.grad
    theta.grad.zero_()
    out.append(theta.item())
  np.testing.assert_allclose(out, _source_recursion(kind), rtol=1e-12)


# ---------------------------------------------------------------- parity with optax

PARITY_MASKS = {
    "tree": {"dense": {"w": True, "b": False}, "scalar": False, "stack": True},
    "prefix-tree": {"dense": True, "scalar": False, "stack": False},
    "callable": lambda p: jax.tree.map(lambda x: x.ndim > 1, p),
    "weight_decay_mask": jopt.weight_decay_mask(),
}


@pytest.mark.parametrize("mask", list(PARITY_MASKS), ids=list(PARITY_MASKS))
@pytest.mark.parametrize("weight_decay", [0.3, lambda c: 0.1 * c], ids=["const", "sched"])
def test_add_decayed_weights_masked_matches_optax(mask, weight_decay):
  m = PARITY_MASKS[mask]
  assert_trajectories_match(
      jopt.add_decayed_weights(weight_decay, m), optax.add_decayed_weights(weight_decay, m),
      apply_scale=1e-2, steps=10,
  )


@pytest.mark.parametrize("mode", ["eager", "pmap"])
def test_add_decayed_weights_masked_modes(mode):
  m = PARITY_MASKS["callable"]
  assert_trajectories_match(
      jopt.add_decayed_weights(0.3, m), optax.add_decayed_weights(0.3, m),
      apply_scale=1e-2, steps=5, mode=mode,
  )


@pytest.mark.parametrize("placement", ["coupled", "decoupled"])
def test_l2_placements_match_optax_chains(placement):
  m = jopt.weight_decay_mask()
  if placement == "coupled":  # PyTorch Adam(weight_decay=0.1)
    ours = jopt.chain(jopt.add_decayed_weights(0.1, m), jopt.adam(1e-2))
    ref = optax.chain(optax.add_decayed_weights(0.1, m), optax.adam(1e-2))
  else:  # AdamW
    ours, ref = jopt.adamw(1e-2, weight_decay=0.1, mask=m), optax.adamw(1e-2, weight_decay=0.1, mask=m)
  assert_trajectories_match(ours, ref, steps=10)


def test_coupled_adam_matches_pytorch_weight_decay():
  torch = pytest.importorskip("torch")
  p0 = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
  grads = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
  theta = torch.tensor(p0, requires_grad=True)
  opt = torch.optim.Adam([theta], lr=1e-2, weight_decay=0.1)
  ref = []
  for g in grads:
    theta.grad = torch.tensor(g)
    opt.step()
    ref.append(theta.detach().numpy().copy())
  tx = jopt.chain(jopt.add_decayed_weights(0.1), jopt.adam(1e-2))
  p, s, ours = jnp.asarray(p0), None, []
  s = tx.init(p)
  for g in grads:
    u, s = tx.update(jnp.asarray(g), s, p)
    p = jopt.apply_updates(p, u)
    ours.append(np.asarray(p))
  np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- leafwise formulas

def _numpy_prox(kind, z, t, l2t=0.0):
  if kind == "l1":
    return np.sign(z) * np.maximum(np.abs(z) - t, 0)
  if kind == "enet":
    return np.sign(z) * np.maximum(np.abs(z) - t, 0) / (1 + l2t)
  norm = np.linalg.norm(z, axis=-1, keepdims=True)
  return z * np.maximum(1 - t / np.where(norm > 0, norm, 1), 0) * (norm > t)


def test_add_l1_decay_formula_with_schedule_and_mask():
  params = {"w": jnp.array([[1.5, 0.0], [-2.0, 0.3]]), "bias": jnp.array([-1.0, 2.0])}
  grads = jax.tree.map(lambda x: jnp.full_like(x, 0.25), params)
  sched = lambda c: 0.1 * (c + 1)
  tx = jopt.add_l1_decay(sched, mask=NO_BIAS)
  state = tx.init(params)
  for step in range(3):
    u, state = jax.jit(tx.update)(grads, state, params)
    np.testing.assert_allclose(u["w"], 0.25 + 0.1 * (step + 1) * np.sign(params["w"]), rtol=1e-6)
    np.testing.assert_array_equal(u["bias"], grads["bias"])


@pytest.mark.parametrize("kind", ["l1", "enet", "group"])
def test_prox_formula_schedule_exact_zeros(kind):
  p = jnp.array([[0.5, -0.02, 3.0], [0.01, -0.01, 0.02], [-2.0, 0.1, -0.1]])
  g = jnp.array([[0.1, 0.0, -0.5], [0.0, 0.02, 0.0], [1.0, -0.3, 0.2]])
  lr = lambda c: 0.5 / (1.0 + c)  # a schedule shared with the step
  l1, l2 = 0.2, 0.3
  prox = {
      "l1": jopt.l1_proximal(l1, lr),
      "enet": jopt.elastic_net_proximal(l1, l2, lr),
      "group": jopt.group_lasso_proximal(l1, lr, axis=-1),
  }[kind]
  tx = jopt.chain(jopt.sgd(lr), prox)
  state, params = tx.init(p), p
  step = jax.jit(tx.update)
  for c in range(3):
    u, state = step(g, state, params)
    new = jopt.apply_updates(params, u)
    eta = 0.5 / (1.0 + c)
    expected = _numpy_prox(kind, np.asarray(params) - eta * np.asarray(g), eta * l1, eta * l2)
    np.testing.assert_allclose(new, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(np.asarray(new) == 0, expected == 0)  # exact zeros
    params = new
  assert np.count_nonzero(np.asarray(params) == 0) >= 2


def test_group_lasso_whole_leaf_and_scalar_groups():
  params = {"small": jnp.array([0.03, -0.04]), "big": jnp.array([3.0, 4.0]), "s": jnp.array(-0.7)}
  tx = jopt.group_lasso_proximal(strength=1.0, learning_rate=0.1)  # threshold 0.1 per whole leaf
  u, _ = tx.update(jax.tree.map(jnp.zeros_like, params), tx.init(params), params)
  new = jopt.apply_updates(params, u)
  np.testing.assert_array_equal(new["small"], 0.0)  # norm 0.05 <= 0.1
  np.testing.assert_allclose(new["big"], np.array([3.0, 4.0]) * (1 - 0.1 / 5.0), rtol=1e-6)
  np.testing.assert_allclose(new["s"], -0.6, rtol=1e-6)


def test_prox_complex_and_bf16():
  z = jnp.array([3 + 4j, 0.01 + 0.01j], jnp.complex64)
  tx = jopt.l1_proximal(1.0, 1.0)
  new = jopt.apply_updates(z, tx.update(jnp.zeros_like(z), tx.init(z), z)[0])
  np.testing.assert_allclose(new, [(3 + 4j) * 0.8, 0], rtol=1e-6)
  for tx in [jopt.l1_proximal(0.1, 0.5), jopt.elastic_net_proximal(0.1, 0.1, 0.5),
             jopt.group_lasso_proximal(0.1, 0.5), jopt.add_l1_decay(lambda c: 0.1)]:
    p = jnp.array([1.0, 0.01, -2.0], jnp.bfloat16)
    u, _ = tx.update(jnp.ones(3, jnp.bfloat16), tx.init(p), p)
    assert u.dtype == jnp.bfloat16


@pytest.mark.parametrize("grad_scale", [1e-3, 1.0, 1e3])
def test_adam_l1_proximal_threshold_is_on_the_normalized_step(grad_scale):
  # Adam's first step from 0 is lr * g / (|g| + eps) per coordinate: magnitude just under lr, whatever
  # the gradient's scale. The prox threshold lr * l1 is therefore compared with a normalized step
  # (a rescaled problem, not the lasso): l1 >= 1 keeps every zero coordinate at exactly 0, l1 < 1 none.
  g = grad_scale * jnp.array([0.5, -2.0, 3.0, 1e-2])
  p = jnp.zeros(4)
  for l1, n_zero in [(1.0, 4), (0.9, 0)]:
    tx = jopt.chain(jopt.adam(0.1), jopt.l1_proximal(l1, 0.1))
    new = jopt.apply_updates(p, tx.update(g, tx.init(p), p)[0])
    assert np.count_nonzero(np.asarray(new) == 0) == n_zero
    if n_zero == 0:
      step = 0.1 * np.abs(g) / (np.abs(g) + 1e-8)  # Adam's first step, eps = 1e-8
      np.testing.assert_allclose(np.abs(new), step - 0.1 * l1, rtol=1e-3)


# ---------------------------------------------------------------- protocol, abstract init, bad input

ALL = {
    "add_decayed_weights": lambda m: jopt.add_decayed_weights(0.1, mask=m),
    "add_l1_decay": lambda m: jopt.add_l1_decay(0.1, mask=m),
    "l1_proximal": lambda m: jopt.l1_proximal(0.1, 0.01, mask=m),
    "elastic_net_proximal": lambda m: jopt.elastic_net_proximal(0.1, 0.1, 0.01, mask=m),
    "group_lasso_proximal": lambda m: jopt.group_lasso_proximal(0.1, 0.01, mask=m),
}


@pytest.mark.parametrize("name", list(ALL))
def test_abstract_init_needs_params_and_bad_mask(name):
  params = random_tree(jax.random.PRNGKey(0))
  for m in [None, jopt.weight_decay_mask()]:
    tx = ALL[name](m)
    jax.eval_shape(tx.init, params)
    state = tx.init(params)
    with pytest.raises(ValueError, match=name):
      tx.update(params, state)
    with pytest.raises(ValueError, match=name):
      tx.update(params, state, {"other": jnp.zeros(2)})
  bad_mask = {"dense": {"w": True}, "scalar": False, "stack": True}  # "dense/b" missing
  with pytest.raises(ValueError, match=f"{name}: `mask`"):
    ALL[name](bad_mask).init(params)
  with pytest.raises(ValueError, match=f"{name}: `mask`"):
    ALL[name](lambda p: {"w": True}).update(params, ALL[name](None).init(params), params)


@pytest.mark.parametrize("build,arg", [
    (lambda: jopt.add_decayed_weights(-0.1), "weight_decay"),
    (lambda: jopt.add_l1_decay(-1.0), "l1"),
    (lambda: jopt.l1_proximal(-1.0, 0.1), "l1"),
    (lambda: jopt.l1_proximal(0.1, -0.1), "learning_rate"),
    (lambda: jopt.l1_proximal(0.1, None), "learning_rate"),
    (lambda: jopt.elastic_net_proximal(0.1, -0.2, 0.1), "l2"),
    (lambda: jopt.elastic_net_proximal(-0.1, 0.2, 0.1), "l1"),
    (lambda: jopt.group_lasso_proximal(-1.0, 0.1), "strength"),
    (lambda: jopt.group_lasso_proximal(1.0, 0.1, axis="rows"), "axis"),
    (lambda: jopt.group_lasso_proximal(1.0, 0.1, axis=1).update(
        jnp.zeros(3), jopt.EmptyState(), jnp.zeros(3)), "axis"),
    (lambda: jopt.mask_by_ndim(-1), "min_ndim"),
    (lambda: jopt.mask_by_path(exclude=[1]), "exclude"),
])
def test_bad_input_names_the_argument(build, arg):
  # A wrong type (None for a number, a string axis) is a TypeError, a bad value a ValueError.
  with pytest.raises((TypeError, ValueError), match=f"`{arg}`"):
    build()


@pytest.mark.parametrize("weight_decay", [0.1, lambda count: 0.1 / (1 + count)])
def test_add_decayed_weights_none_updates_as_in_optax(weight_decay):
  """`update(None, state, params)`: `None` updates and the same state as optax (a schedule's count
  still advances), where jopt used to report a tree mismatch."""
  params = (jnp.ones(2), {"a": jnp.ones(2), "b": jnp.ones(2)})
  ours, theirs = jopt.add_decayed_weights(weight_decay), optax.add_decayed_weights(weight_decay)
  u, s = ours.update(None, ours.init(params), params)
  ou, os_ = theirs.update(None, theirs.init(params), params)
  assert u is None and ou is None
  assert jax.tree.map(int, s) == jax.tree.map(int, os_)
