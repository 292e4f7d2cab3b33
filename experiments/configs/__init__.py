"""Experiment configs: `get_config()` functions returning a flat `ml_collections.ConfigDict`."""
