"""jopt's experiments, shaped like flax's examples: `main.py`, `train.py`, `configs/`, one config per worked example."""
