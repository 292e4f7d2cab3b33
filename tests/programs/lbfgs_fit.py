"""L-BFGS in the shape of optax's L-BFGS guide: `value_and_grad_from_state` in a `jax.lax.while_loop`.

Fits an L2-regularised logistic regression to scikit-learn's breast-cancer data and minimises the
Rosenbrock function, stopping on the gradient norm read from the optimizer state with
`optax.tree_utils`. `tests/programs/test_programs.py` runs this source with `import optax` and with
`import jopt as optax` and compares.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.tree_utils as otu
from sklearn.datasets import load_breast_cancer


def run_opt(init_params, fun, opt, max_iter, tol):
  value_and_grad_fun = optax.value_and_grad_from_state(fun)

  def step(carry):
    params, state = carry
    value, grad = value_and_grad_fun(params, state=state)
    updates, state = opt.update(
        grad, state, params, value=value, grad=grad, value_fn=fun
    )
    params = optax.apply_updates(params, updates)
    return params, state

  def continuing_criterion(carry):
    _, state = carry
    iter_num = otu.tree_get(state, "count")
    grad = otu.tree_get(state, "grad")
    err = otu.tree_norm(grad)
    return (iter_num == 0) | ((iter_num < max_iter) & (err >= tol))

  init_carry = (init_params, opt.init(init_params))
  final_params, final_state = jax.lax.while_loop(
      continuing_criterion, step, init_carry
  )
  return final_params, final_state


def logistic_regression_problem(l2=1e-2):
  x, y = load_breast_cancer(return_X_y=True)
  x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
  y = y.astype(np.float32)

  def fun(params):
    logits = x @ params["w"] + params["b"]
    loss = optax.sigmoid_binary_cross_entropy(logits, y).mean()
    return loss + 0.5 * l2 * jnp.sum(params["w"] ** 2)

  init = {"w": jnp.zeros(x.shape[1], jnp.float32), "b": jnp.zeros((), jnp.float32)}
  return fun, init


def rosenbrock(x):
  return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def main(max_iter=100, tol=1e-3):
  """Runs both fits; returns the final parameters, values and iteration counts."""
  out = {}
  fun, init = logistic_regression_problem()
  opt = optax.lbfgs()
  params, state = run_opt(init, fun, opt, max_iter=max_iter, tol=tol)
  out["logreg"] = {"params": params, "value": fun(params), "count": otu.tree_get(state, "count")}
  print(f"logistic regression: loss {fun(params):.6f} after {otu.tree_get(state, 'count')} iterations, "
        f"grad norm {otu.tree_norm(otu.tree_get(state, 'grad')):.2e}")

  init = jnp.zeros(8, jnp.float32)
  opt = optax.lbfgs(memory_size=5)
  params, state = run_opt(init, rosenbrock, opt, max_iter=max_iter, tol=tol)
  out["rosenbrock"] = {"params": params, "value": rosenbrock(params), "count": otu.tree_get(state, "count")}
  print(f"rosenbrock: value {rosenbrock(params):.3e} after {otu.tree_get(state, 'count')} iterations")
  return out


if __name__ == "__main__":
  main()
