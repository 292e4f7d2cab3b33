"""Training steps: one pure step body run under `jit`, `pmap` or a sharded `jit` over a mesh."""
