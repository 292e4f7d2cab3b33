"""Keras 3 conventions (optimizers, their base-class options, schedules); the public names live in `jopt.keras`."""
