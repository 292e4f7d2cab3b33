"""Plots every jopt schedule on one figure: `python examples/plot_schedules.py` writes docs/schedules.png."""

import argparse
import os

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

import jopt

STEPS = 200

# (panel title, schedule). Every schedule runs over steps 0..STEPS-1; a peak or start value of 1.
SCHEDULES = [
    ("constant_schedule(1.0)", jopt.constant_schedule(1.0)),
    ("linear_schedule(1, 0.1, 150, 25)", jopt.linear_schedule(1.0, 0.1, 150, transition_begin=25)),
    ("polynomial_schedule(1, 0, power=2, 150)", jopt.polynomial_schedule(1.0, 0.0, 2, 150)),
    ("polynomial_schedule(1, 0, power=0.5, 150)", jopt.polynomial_schedule(1.0, 0.0, 0.5, 150)),
    ("exponential_decay(1, 20, 0.7)", jopt.exponential_decay(1.0, 20, 0.7)),
    ("exponential_decay(.., staircase, end=0.1)",
     jopt.exponential_decay(1.0, 20, 0.7, staircase=True, end_value=0.1)),
    ("inverse_time_decay(1, 10, 0.5)", jopt.inverse_time_decay(1.0, 10, 0.5)),
    ("step_decay(1, 50, 0.5)", jopt.step_decay(1.0, 50, 0.5)),
    ("multistep_decay(1, [60, 120, 160], 0.3)", jopt.multistep_decay(1.0, [60, 120, 160], 0.3)),
    ("piecewise_constant_schedule", jopt.piecewise_constant_schedule(1.0, {50: 0.5, 100: 0.5, 150: 0.2})),
    ("piecewise_interpolate_schedule(linear)",
     jopt.piecewise_interpolate_schedule("linear", 1.0, {50: 0.5, 100: 0.5, 150: 0.2})),
    ("piecewise_interpolate_schedule(cosine)",
     jopt.piecewise_interpolate_schedule("cosine", 1.0, {50: 0.5, 100: 0.5, 150: 0.2})),
    ("cosine_decay_schedule(1, 150, alpha=0.1)", jopt.cosine_decay_schedule(1.0, 150, alpha=0.1)),
    ("warmup_constant_schedule(0, 1, 40)", jopt.warmup_constant_schedule(0.0, 1.0, 40)),
    ("warmup_cosine_decay_schedule(0, 1, 30, 180)",
     jopt.warmup_cosine_decay_schedule(0.0, 1.0, 30, 180, end_value=0.05)),
    ("warmup_exponential_decay_schedule(0, 1, 30, 20, 0.7)",
     jopt.warmup_exponential_decay_schedule(0.0, 1.0, 30, 20, 0.7)),
    ("warmup_linear_decay_schedule(0, 1, 30, 180)", jopt.warmup_linear_decay_schedule(0.0, 1.0, 30, 180)),
    ("sgdr_schedule(3 cycles)", jopt.sgdr_schedule([
        dict(init_value=0.0, peak_value=1.0, warmup_steps=10, decay_steps=50),
        dict(init_value=0.0, peak_value=0.7, warmup_steps=10, decay_steps=60),
        dict(init_value=0.0, peak_value=0.5, warmup_steps=10, decay_steps=90)])),
    ("cosine_onecycle_schedule(180, 1)", jopt.cosine_onecycle_schedule(180, 1.0)),
    ("linear_onecycle_schedule(180, 1)", jopt.linear_onecycle_schedule(180, 1.0)),
    ("cyclic_schedule(triangular)", jopt.cyclic_schedule(0.1, 1.0, 25, 25)),
    ("cyclic_schedule(triangular2)", jopt.cyclic_schedule(0.1, 1.0, 25, 25, mode="triangular2")),
    ("cyclic_schedule(exp_range, 0.99)",
     jopt.cyclic_schedule(0.1, 1.0, 25, 25, mode="exp_range", gamma=0.99)),
    ("join_schedules([linear, constant, cosine])", jopt.join_schedules(
        [jopt.linear_schedule(0.0, 1.0, 40), jopt.constant_schedule(1.0),
         jopt.cosine_decay_schedule(1.0, 80)], [40, 100])),
]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--out", default=os.path.join("docs", "schedules.png"))
  args = parser.parse_args()
  steps = jnp.arange(STEPS)
  cols = 4
  rows = -(-len(SCHEDULES) // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.5 * rows), sharex=True, sharey=True)
  for ax, (title, schedule) in zip(axes.flat, SCHEDULES):
    ax.plot(steps, jax.vmap(schedule)(steps), lw=1.6)
    ax.set_title(title, fontsize=8.5)
    ax.grid(alpha=0.3)
  for ax in list(axes.flat)[len(SCHEDULES):]:
    ax.axis("off")
  for ax in axes[-1]:
    ax.set_xlabel("step (the first update uses step 0)", fontsize=8)
  fig.suptitle(f"jopt schedules, steps 0..{STEPS - 1} (`examples/plot_schedules.py`)", fontsize=11)
  fig.tight_layout()
  os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
  fig.savefig(args.out, dpi=80)
  print(f"wrote {args.out} ({len(SCHEDULES)} schedules)")


if __name__ == "__main__":
  main()
