"""Hugging Face Transformers conventions (schedule helpers, Adafactor); the public names live in `jopt.transformers`."""
