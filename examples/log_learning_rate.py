"""Logs the learning rate (and every other hyperparameter) of a nested optimizer while training.

Run: python examples/log_learning_rate.py
"""

import jax
import jax.numpy as jnp

import jopt


def main():
  # A least-squares problem: find w with x @ w = y.
  kx, kw = jax.random.split(jax.random.PRNGKey(0))
  x = jax.random.normal(kx, (64, 8))
  y = x @ jax.random.normal(kw, (8,))
  loss_fn = lambda w: jnp.mean((x @ w - y) ** 2)  # noqa: E731

  schedule = jopt.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=0.1, warmup_steps=5, decay_steps=40)
  # Schedules passed through inject_hyperparams are stored in the state; numbers are
  # bit-identical to jopt.adamw(schedule, weight_decay=1e-4).
  tx = jopt.apply_if_finite(
      jopt.MultiSteps(
          jopt.inject_hyperparams(jopt.adamw)(learning_rate=schedule, weight_decay=1e-4),
          every_k_schedule=2,
      ).gradient_transformation(),
      max_consecutive_errors=3,
  )

  @jax.jit
  def step(w, state):
    loss, grads = jax.value_and_grad(loss_fn)(w)
    updates, state = tx.update(grads, state, w)
    return jopt.apply_updates(w, updates), state, loss

  w = jnp.zeros(8)
  state = tx.init(w)
  for t in range(40):
    w, state, loss = step(w, state)
    if t % 5 == 4:
      hp = jopt.hyperparams(state)  # one line, whatever the nesting
      print(f"step {t + 1:3d}  loss {float(loss):.5f}  lr {float(hp['learning_rate']):.5f}  "
            f"weight_decay {float(hp['weight_decay']):.0e}")


if __name__ == "__main__":
  main()
