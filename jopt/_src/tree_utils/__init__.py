"""Pytree utilities behind `jopt.tree_utils` and `jopt.tree`: arithmetic, reductions, moments, casting, randomness, state access."""
