"""A Keras 3 training recipe ported to jopt: the same model, data and optimizer config, losses side by side.

Run: `KERAS_BACKEND=jax python examples/port_keras.py` (CPU, ~1 min; needs
`pip install keras==3.15.1 scikit-learn`). Keras trains a 64-32-10 MLP on
scikit-learn's digits with `model.fit` and

    AdamW(CosineDecay(0.0, decay_steps, warmup_target=3e-3, warmup_steps=20),
          weight_decay=0.05, global_clipnorm=1.0, use_ema=True, ema_momentum=0.9)

(biases excluded from the decay). The jopt side is a pure-JAX MLP started from
the same weights, fed the same batches, with the config copied word for word
into `jopt.keras.adamw`; it prints both sides' mean training loss per epoch and
the final (EMA) weights' accuracy, which `fit` swaps in at the end of training
and `jopt.keras.finalize_variable_values` returns.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import jax.numpy as jnp
import keras
import numpy as np
from sklearn import datasets

import jopt
import jopt.keras

EPOCHS, BATCH = 6, 64


def data():
  x, y = datasets.load_digits(return_X_y=True)
  x = ((x - x.mean(0)) / (x.std(0) + 1e-6)).astype(np.float32)
  n = (len(x) // BATCH) * BATCH  # whole batches: `fit`'s epoch loss is then the plain mean
  return x[:n], y[:n].astype(np.int32)


def keras_side(x, y, steps):
  keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                            keras.layers.Dense(10)])
  init = [w.copy() for w in model.get_weights()]
  schedule = keras.optimizers.schedules.CosineDecay(
      0.0, steps - 20, warmup_target=3e-3, warmup_steps=20)
  opt = keras.optimizers.AdamW(schedule, weight_decay=0.05, global_clipnorm=1.0, use_ema=True,
                               ema_momentum=0.9)
  opt.exclude_from_weight_decay(var_names=["bias"])
  model.compile(opt, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  history = model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0)
  final = [np.asarray(w) for w in model.get_weights()]  # EMA weights: `fit` finalizes them
  return init, history.history["loss"], final


def jopt_side(x, y, steps, init):
  k1, b1, k2, b2 = (jnp.asarray(w) for w in init)
  params = {"dense": {"kernel": k1, "bias": b1}, "dense_1": {"kernel": k2, "bias": b2}}

  def loss_fn(p, xb, yb):
    h = jax.nn.relu(xb @ p["dense"]["kernel"] + p["dense"]["bias"])
    logits = h @ p["dense_1"]["kernel"] + p["dense_1"]["bias"]
    return jopt.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

  schedule = jopt.keras.cosine_decay(0.0, steps - 20, warmup_target=3e-3, warmup_steps=20)
  tx = jopt.keras.adamw(schedule, weight_decay=0.05, global_clipnorm=1.0, use_ema=True,
                        ema_momentum=0.9, exclude_from_weight_decay=["bias"])

  @jax.jit
  def step(p, s, xb, yb):
    loss, grads = jax.value_and_grad(loss_fn)(p, xb, yb)
    updates, s = tx.update(grads, s, p)
    return jopt.apply_updates(p, updates), s, loss

  state, losses = tx.init(params), []
  for _ in range(EPOCHS):
    epoch = []
    for i in range(0, len(x), BATCH):
      params, state, loss = step(params, state, x[i:i + BATCH], y[i:i + BATCH])
      epoch.append(float(loss))
    losses.append(np.mean(epoch))
  final = jopt.keras.finalize_variable_values(params, state)
  return losses, [final["dense"]["kernel"], final["dense"]["bias"],
                  final["dense_1"]["kernel"], final["dense_1"]["bias"]]


def accuracy(weights, x, y):
  k1, b1, k2, b2 = (np.asarray(w) for w in weights)
  logits = np.maximum(x @ k1 + b1, 0) @ k2 + b2
  return float((logits.argmax(1) == y).mean())


def main():
  x, y = data()
  steps = EPOCHS * (len(x) // BATCH)
  init, keras_losses, keras_final = keras_side(x, y, steps)
  jopt_losses, jopt_final = jopt_side(x, y, steps, init)
  print(f"digits: {len(x)} examples, {steps} steps of batch {BATCH}")
  print("epoch | keras loss | jopt loss  | rel. diff")
  for e, (a, b) in enumerate(zip(keras_losses, jopt_losses)):
    print(f"{e + 1:5d} | {a:.7f} | {b:.7f} | {abs(a - b) / a:.1e}")
  diff = max(float(np.max(np.abs(a - b))) for a, b in zip(keras_final, jopt_final))
  print(f"final EMA weights: max |keras - jopt| = {diff:.1e}; train accuracy keras "
        f"{accuracy(keras_final, x, y):.4f}, jopt {accuracy(jopt_final, x, y):.4f}")


if __name__ == "__main__":
  main()
