"""Euclidean projections of pytrees onto convex sets, behind `jopt.projections`."""
