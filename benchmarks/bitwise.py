"""Which jopt optimizers are bitwise equal to optax's (jitted, float32, 10 steps)? Prints a markdown table.

python -m benchmarks.bitwise
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jopt

CASES = [
    ("sgd", dict(learning_rate=0.1, momentum=0.9)), ("adam", dict(learning_rate=1e-2)),
    ("adamw", dict(learning_rate=1e-2, weight_decay=1e-2)), ("amsgrad", dict(learning_rate=1e-2)),
    ("nadam", dict(learning_rate=1e-2)), ("nadamw", dict(learning_rate=1e-2)),
    ("adamax", dict(learning_rate=1e-2)), ("adamaxw", dict(learning_rate=1e-2)),
    ("adabelief", dict(learning_rate=1e-2)), ("yogi", dict(learning_rate=1e-2)),
    ("radam", dict(learning_rate=1e-2)), ("adagrad", dict(learning_rate=1e-2)),
    ("rmsprop", dict(learning_rate=1e-2)), ("adadelta", dict(learning_rate=1.0)),
    ("lion", dict(learning_rate=1e-3)), ("lamb", dict(learning_rate=1e-2)),
    ("lars", dict(learning_rate=1e-2)), ("novograd", dict(learning_rate=1e-2)),
    ("adafactor", dict(learning_rate=1e-2)), ("sign_sgd", dict(learning_rate=1e-2)),
    ("adan", dict(learning_rate=1e-2)), ("sm3", dict(learning_rate=1e-2)),
    ("rprop", dict(learning_rate=1e-2)), ("fromage", dict(learning_rate=1e-2)),
    ("optimistic_gradient_descent", dict(learning_rate=1e-2)), ("signum", dict(learning_rate=1e-2)),
]


def run(lib, name, kwargs, params, grads):
  tx = getattr(lib, name)(**kwargs)
  state = tx.init(params)
  step = jax.jit(lambda p, s, g: tx.update(g, s, p))
  out = []
  for g in grads:
    u, state = step(params, state, g)
    params = jax.tree.map(lambda p, d: p + d, params, u)
    out.append(u)
  return out


def main():
  key = jax.random.PRNGKey(0)
  params = {"w": jax.random.normal(key, (16, 8)), "b": jnp.zeros(8) + 0.1}
  grads = [jax.tree.map(lambda p, i=i: jax.random.normal(jax.random.PRNGKey(i + 1), p.shape), params)
           for i in range(10)]
  print("| optimizer | jitted float32 updates bitwise equal to optax's (10 steps) | max relative difference |")
  print("|---|---|---|")
  for name, kwargs in CASES:
    if not hasattr(optax, name):
      continue
    a = run(jopt, name, kwargs, params, grads)
    b = run(optax, name, kwargs, params, grads)
    diffs = [np.max(np.abs(x - y) / (np.abs(y) + 1e-30)) for ua, ub in zip(a, b)
             for x, y in zip(jax.tree.leaves(ua), jax.tree.leaves(ub))]
    equal = all(np.array_equal(x, y) for ua, ub in zip(a, b)
                for x, y in zip(jax.tree.leaves(ua), jax.tree.leaves(ub)))
    print(f"| `{name}` | {'yes' if equal else 'no'} | {max(diffs):.1e} |")


if __name__ == "__main__":
  main()
