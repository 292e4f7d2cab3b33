"""Quasi-Newton directions (L-BFGS) and the linesearches that choose their step sizes."""
