"""Curvature of a loss at the params: Hessian-vector products, Hessian and Fisher diagonals."""
