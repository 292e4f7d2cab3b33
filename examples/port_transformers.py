"""Two Hugging Face Transformers recipes ported to jopt, losses side by side with the PyTorch originals.

Run: `python examples/port_transformers.py` (CPU, ~1 min; needs torch, transformers
and scikit-learn). A 64-64-10 MLP on scikit-learn's digits, trained in mini-batches
from the same initial weights on both sides:

1. The `Trainer` default: `torch.optim.AdamW(lr, weight_decay=0.01)` on the
   weights (biases undecayed, as `Trainer` groups them), gradients clipped to
   norm 1 (`max_grad_norm`), and `get_linear_schedule_with_warmup` over 10% of
   the steps. jopt: `jopt.torch.adamw` per group, with
   `jopt.transformers.lr_scheduler("linear", ...)` as its `lr`.
2. T5's fine-tuning recipe: `Adafactor(lr=1e-3, scale_parameter=False,
   relative_step=False, warmup_init=False)` with `get_constant_schedule_with_warmup`.
   jopt: `jopt.transformers.adafactor` with the same arguments and schedule.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import torch
import transformers
from sklearn import datasets

import jopt
import jopt.torch
import jopt.transformers

EPOCHS, BATCH = 3, 64


def data():
  x, y = datasets.load_digits(return_X_y=True)
  x = ((x - x.mean(0)) / (x.std(0) + 1e-6)).astype(np.float32)
  return x, y.astype(np.int64)


def torch_model():
  torch.manual_seed(0)
  return torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))


def as_jax(model):
  """The torch weights as a params tree (`Linear` stores `W` as (out, in): transposed here)."""
  l1, l2 = model[0], model[2]
  t = lambda w: jnp.asarray(w.detach().numpy())
  return {"l1": {"kernel": t(l1.weight).T, "bias": t(l1.bias)},
          "l2": {"kernel": t(l2.weight).T, "bias": t(l2.bias)}}


def batches(x, y):
  for _ in range(EPOCHS):
    for i in range(0, len(x), BATCH):
      yield x[i:i + BATCH], y[i:i + BATCH]


def loss_fn(p, xb, yb):
  h = jax.nn.relu(xb @ p["l1"]["kernel"] + p["l1"]["bias"])
  logits = h @ p["l2"]["kernel"] + p["l2"]["bias"]
  return jopt.softmax_cross_entropy_with_integer_labels(logits, yb).mean()


def run_torch(x, y, make_optimizer, clip):
  model = torch_model()
  params0 = as_jax(model)
  opt, sched = make_optimizer(model)
  losses = []
  for xb, yb in batches(x, y):
    loss = torch.nn.functional.cross_entropy(model(torch.tensor(xb)), torch.tensor(yb))
    opt.zero_grad()
    loss.backward()
    if clip:
      torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    losses.append(loss.item())
  return params0, losses


def run_jopt(x, y, params, tx):
  @jax.jit
  def step(p, s, xb, yb):
    loss, grads = jax.value_and_grad(loss_fn)(p, xb, yb)
    updates, s = tx.update(grads, s, p)
    return jopt.apply_updates(p, updates), s, loss

  state, losses = tx.init(params), []
  for xb, yb in batches(x, y):
    params, state, loss = step(params, state, xb, yb)
    losses.append(float(loss))
  return losses


def adamw_recipe(x, y, steps):
  lr, warmup = 5e-3, math.ceil(0.1 * steps)  # TrainingArguments(warmup_ratio=0.1)

  def make(model):
    decay = [p for n, p in model.named_parameters() if not n.endswith("bias")]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    return opt, transformers.get_linear_schedule_with_warmup(opt, warmup, steps)

  params, torch_losses = run_torch(x, y, make, clip=True)
  schedule = jopt.transformers.lr_scheduler("linear", lr, warmup, steps)
  labels = jax.tree_util.tree_map_with_path(
      lambda path, _: "no_decay" if path[-1].key == "bias" else "decay", params)
  tx = jopt.chain(
      jopt.clip_by_global_norm(1.0),
      jopt.multi_transform({"decay": jopt.torch.adamw(schedule, weight_decay=0.01),
                            "no_decay": jopt.torch.adamw(schedule, weight_decay=0.0)}, labels))
  return torch_losses, run_jopt(x, y, params, tx)


def adafactor_recipe(x, y, steps):
  kwargs = dict(lr=1e-3, scale_parameter=False, relative_step=False, warmup_init=False)

  def make(model):
    opt = transformers.optimization.Adafactor(model.parameters(), **kwargs)
    return opt, transformers.get_constant_schedule_with_warmup(opt, num_warmup_steps=10)

  params, torch_losses = run_torch(x, y, make, clip=False)
  kwargs["lr"] = jopt.transformers.get_constant_schedule_with_warmup(1e-3, num_warmup_steps=10)
  return torch_losses, run_jopt(x, y, params, jopt.transformers.adafactor(**kwargs))


def report(title, torch_losses, jopt_losses):
  print(title)
  print(" step | torch loss | jopt loss  | rel. diff")
  for t in list(range(0, len(torch_losses), 15)) + [len(torch_losses) - 1]:
    a, b = torch_losses[t], jopt_losses[t]
    print(f"{t:5d} | {a:.7f} | {b:.7f} | {abs(a - b) / a:.1e}")


def main():
  torch.set_num_threads(1)
  x, y = data()
  steps = EPOCHS * math.ceil(len(x) / BATCH)
  print(f"digits: {len(x)} examples, {steps} steps of batch {BATCH}\n")
  report("1. AdamW + linear warmup (Trainer defaults, max_grad_norm=1.0)", *adamw_recipe(x, y, steps))
  print()
  report("2. Adafactor (T5 recipe) + constant schedule with warmup", *adafactor_recipe(x, y, steps))


if __name__ == "__main__":
  main()
