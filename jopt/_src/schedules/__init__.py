"""Schedules: pure functions `count -> value` for learning rates and other hyperparameters.

Step convention (the same for every jopt schedule and transform): `count` is
the number of updates already applied, so the first `update` uses the
schedule's value at step 0, the second its value at step 1, and so on
(`scale_by_schedule` and every scheduled hyperparameter call the schedule
with the state's count before incrementing it). A schedule accepts a Python
int, a NumPy integer or a JAX integer array (also traced, under `jit` and
`vmap`), never mutates anything when called, and returns a JAX array.
"""
