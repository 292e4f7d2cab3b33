"""Top-level numeric utilities: safe norms, counters, power iteration, inverse matrix roots, NNLS, a diagonal Gaussian."""
