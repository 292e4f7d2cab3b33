"""Experiment configs: `default.py` and one file per worked example, each a `get_config()` (flax style)."""
