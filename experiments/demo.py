"""A short first run: logistic regression on scikit-learn's bundled digits with jopt.adam.

Run: `make demo` (or `python -m experiments.demo`).
"""

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.datasets import load_digits

import jopt


def main() -> None:
  x, y = load_digits(return_X_y=True)
  x = jnp.asarray(x / 16.0, jnp.float32)
  y = jnp.asarray(y)
  params = {"w": jnp.zeros((64, 10)), "b": jnp.zeros(10)}

  def loss_fn(p):
    logits = x @ p["w"] + p["b"]
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1))

  tx = jopt.adamw(learning_rate=0.05, weight_decay=1e-4)
  state = tx.init(params)

  @jax.jit
  def step(p, s):
    loss, grads = jax.value_and_grad(loss_fn)(p)
    updates, s = tx.update(grads, s, p)
    return jopt.apply_updates(p, updates), s, loss

  for i in range(101):
    params, state, loss = step(params, state)
    if i % 20 == 0:
      print(f"step {i:3d}  loss {float(loss):.4f}")
  acc = np.mean(np.argmax(np.asarray(x @ params["w"] + params["b"]), 1) == np.asarray(y))
  print(f"train accuracy {acc:.3f}")


if __name__ == "__main__":
  main()
