"""Optimizers: each is a `chain` of building blocks, with no math of its own."""
