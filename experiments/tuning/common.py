"""What the tuning experiments share: the digits MLP problem, their printed report and PNG, their absl entry.

Data, model, loss and batch order are `experiments.data` / `experiments.models`'s
(the main job's digits split: 1257 train, 180 validation); the T training batches
are stacked on a leading axis for `jopt.sweep`. Each experiment is a module with
`run(workdir, docs="", quick=False)` and `if __name__ == "__main__": common.main(run)`:
its command line is `python -m experiments.tuning.<name> --workdir=DIR [--docs=docs] [--quick]`.
"""

import os
import shutil
import sys
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from experiments import data as data_lib
from experiments import errors
from experiments import models


class Problem(NamedTuple):
  loss_fn: Callable[[Any, Any], jax.Array]  # loss_fn(params, batch) -> mean cross-entropy
  params: Any  # initial MLP params
  batches: Any  # {"x": [T, B, ...], "y": [T, B]}: every step's minibatch, in order
  val_loss: Callable[[Any], jax.Array]  # cross-entropy on the validation split
  train_loss: Callable[[Any], jax.Array]  # cross-entropy on the whole training split


def digits_mlp(hidden: str = "64", batch_size: int = 128, epochs: int = 20, seed: int = 0) -> Problem:
  """The main job's digits with `model="mlp", hidden="64"`, shuffled minibatches per epoch (`data.Batches`)."""
  data = data_lib.load("digits")
  model = models.build("mlp", data.num_outputs, data.input_shape, hidden)
  params = model.init(jax.random.key(seed), data.train.x[:1])["params"]
  order = data_lib.Batches(len(data.train), batch_size, seed)
  idx = np.stack([order.indices(s) for s in range(epochs * order.steps_per_epoch)])
  batches = {"x": jnp.asarray(data.train.x[idx]), "y": jnp.asarray(data.train.y[idx])}

  def loss_fn(p, b):
    return models.cross_entropy(model.apply({"params": p}, b["x"]), b["y"])

  val = {"x": jnp.asarray(data.val.x), "y": jnp.asarray(data.val.y)}
  train = {"x": jnp.asarray(data.train.x), "y": jnp.asarray(data.train.y)}
  return Problem(loss_fn, params, batches, lambda p: loss_fn(p, val), lambda p: loss_fn(p, train))


class Report:
  """Prints lines and keeps them, to write `<workdir>/results.txt` at the end."""

  def __init__(self):
    self.lines: list[str] = []

  def __call__(self, line: str) -> None:
    print(line)
    self.lines.append(line)


def finish(report: Report, fig: Any, workdir: str, name: str, docs: str = "") -> str:
  """Writes `<workdir>/<name>.png` and results.txt; with `docs`, copies the PNG to `<docs>/tuning_<name>.png`."""
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  png = os.path.join(workdir, f"{name}.png")
  fig.tight_layout()
  fig.savefig(png, dpi=100)
  plt.close(fig)
  with open(os.path.join(workdir, "results.txt"), "w") as f:
    f.write("\n".join(report.lines) + "\n")
  print(f"wrote {png}")
  if docs:
    docs = os.path.expanduser(docs)
    os.makedirs(docs, exist_ok=True)
    shutil.copy(png, os.path.join(docs, f"tuning_{name}.png"))
    print(f"copied it to {os.path.join(docs, f'tuning_{name}.png')}")
  return png


def main(run: Callable[..., Any]) -> None:
  """The experiment's absl entry point: `--workdir` (required), `--docs`, `--quick`."""
  from absl import app  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top

  flags.DEFINE_string("workdir", None, "where the PNG and results.txt go (~ expanded)", required=True)
  flags.DEFINE_string("docs", "", "also copy the PNG into this folder (the README's figures: --docs=docs)")
  flags.DEFINE_bool("quick", False, "a reduced size (a few epochs and trials), as the tests run it")
  for name in ("workdir", "docs", "quick"):  # listed by --help as the program's own flags
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[name])

  def _main(argv):
    if len(argv) > 1:
      errors.fail(os.path.basename(sys.argv[0]), f"unexpected arguments {argv[1:]}")
    workdir = os.path.expanduser(flags.FLAGS.workdir)
    os.makedirs(workdir, exist_ok=True)
    run(workdir, docs=flags.FLAGS.docs, quick=flags.FLAGS.quick)

  app.run(_main, flags_parser=errors.parse_flags_or_exit)
