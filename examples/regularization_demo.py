"""The four regularization patterns on scikit-learn's diabetes data, and the lasso's exact zeros.

Run: `python examples/regularization_demo.py` (CPU, a few seconds). It fits a
linear model full batch with each chain and prints the coefficients' zero
count, comparing the lasso and ridge fits with scikit-learn / the closed form.
"""

import jax
import jax.numpy as jnp
import numpy as np
from sklearn import datasets
from sklearn import linear_model

import jopt


def main():
  x, y = datasets.load_diabetes(return_X_y=True)
  x = (x - x.mean(0)) / x.std(0)
  n, d = x.shape
  xj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)

  def loss(p):  # scikit-learn's scaling: ||y - Xw - b||^2 / (2 n)
    r = xj @ p["w"] + p["bias"] - yj
    return 0.5 * jnp.mean(r * r)

  def fit(tx, steps=3000):
    def body(carry, _):
      p, s = carry
      u, s = tx.update(jax.grad(loss)(p), s, p)
      return (jopt.apply_updates(p, u), s), None

    p0 = {"w": jnp.zeros(d), "bias": jnp.zeros(())}
    (p, _), _ = jax.jit(lambda p: jax.lax.scan(body, (p, tx.init(p)), None, length=steps))(p0)
    return np.asarray(p["w"])

  lam, alpha = 1.0, 5.0
  lr = 1.0 / np.linalg.eigvalsh(x.T @ x / n).max()
  no_bias = jopt.mask_by_path(exclude=("bias",))  # the intercept is not penalized
  adam_lr = lambda c: 0.5 * 0.999**c
  chains = {
      "L2 coupled    chain(add_decayed_weights(1.0), sgd)":
          jopt.chain(jopt.add_decayed_weights(lam, no_bias), jopt.sgd(lr)),
      "L2 coupled    chain(add_decayed_weights(1.0), adam)":
          jopt.chain(jopt.add_decayed_weights(lam, no_bias), jopt.adam(adam_lr)),
      "L2 decoupled  adamw(weight_decay=1.0)":
          jopt.adamw(adam_lr, weight_decay=lam, mask=no_bias),
      "L1 subgrad    chain(add_l1_decay(5.0), sgd)":
          jopt.chain(jopt.add_l1_decay(alpha, no_bias), jopt.sgd(lr)),
      "L1 proximal   chain(sgd, l1_proximal(5.0, lr))":
          jopt.chain(jopt.sgd(lr), jopt.l1_proximal(alpha, lr, no_bias)),
      "L1 proximal   chain(adam, l1_proximal(0.5, lr))":
          jopt.chain(jopt.adam(adam_lr), jopt.l1_proximal(0.5, adam_lr, no_bias)),
  }
  ridge = np.linalg.solve(x.T @ x / n + lam * np.eye(d), x.T @ (y - y.mean()) / n)
  lasso = linear_model.Lasso(alpha=alpha, tol=1e-12, max_iter=100_000).fit(x, y).coef_
  print(f"diabetes: n={n}, d={d}; ridge lambda={lam}, lasso alpha={alpha}")
  print(f"{'chain':52s} {'exact zeros':>11s} {'|w - ridge|/|ridge|':>20s} {'|w - lasso|/|lasso|':>20s}")
  for name, tx in chains.items():
    w = fit(tx)
    r = np.linalg.norm(w - ridge) / np.linalg.norm(ridge)
    l = np.linalg.norm(w - lasso) / np.linalg.norm(lasso)
    print(f"{name:52s} {np.count_nonzero(w == 0):>8d}/{d} {r:>20.2e} {l:>20.2e}")
  print(f"{'scikit-learn Lasso(alpha=5.0)':52s} {np.count_nonzero(lasso == 0):>8d}/{d}")
  print("zero pattern, proximal sgd vs sklearn:",
        np.array_equal(fit(chains["L1 proximal   chain(sgd, l1_proximal(5.0, lr))"]) == 0, lasso == 0))


if __name__ == "__main__":
  main()
