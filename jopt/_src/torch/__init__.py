"""PyTorch-convention optimizers and schedules; the public names live in `jopt.torch`."""
