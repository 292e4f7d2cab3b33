"""jopt experiments: absl-flag entry points, configs and the shared training loop."""
