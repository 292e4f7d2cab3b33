"""Non-negative least squares by Polyak's fast projected gradient method."""

import functools
from typing import Union

import jax
from jax import lax
import jax.numpy as jnp


def _spectral_radius_bound(q: jax.Array) -> jax.Array:
  """`min(||Q||_F, ||Q||_1)`, an upper bound on the spectral radius of `Q`."""
  frobenius = jnp.linalg.matrix_norm(q, ord="fro")
  max_col_sum = jnp.linalg.matrix_norm(q, ord=1) if q.size else 0
  return jnp.minimum(frobenius, max_col_sum)


# Compiled once per shape (also when called eagerly: the scan body is a fresh closure).
@functools.partial(jax.jit, static_argnames=("iters", "unroll"))
def nnls(
    A: jax.Array,  # pylint: disable=invalid-name
    b: jax.Array,
    iters: int,
    unroll: Union[int, bool] = 1,
    L: Union[jax.typing.ArrayLike, None] = None,  # pylint: disable=invalid-name
) -> jax.Array:
  """Solves `min ||A x - b||_2` subject to `x >= 0`.

  Fast projected gradient (Polyak, 2015, http://www.ams.org/books/conm/636/)
  on `f(x) = x^T Q x / 2 - q^T x` with `Q = A^T A`, `q = A^T b`, step `1/L`:

  .. math::
    x_{k+1} = \\max(p_k - (Q p_k - q) / L, 0), \\quad
    c_{k+1} = \\tfrac{1 + \\sqrt{1 + 4 c_k^2}}{2}, \\quad
    p_{k+1} = x_{k+1} + \\tfrac{c_k - 1}{c_{k+1}} (x_{k+1} - x_k)

  from `x_0 = p_0 = 0`, `c_0 = 0`.

  Args:
    A: the `(M, N)` matrix.
    b: the `(M,)` vector, or an `(M, K)` matrix of `K` right-hand sides.
    iters: the number of iterations.
    unroll: passed to `lax.scan`.
    L: an upper bound on the spectral radius of `A^T A` (default:
      `min(||Q||_F, ||Q||_1)`).

  Returns:
    The solution, shape `(N,)` or `(N, K)`.
  """
  A, b = jnp.asarray(A), jnp.asarray(b)  # pylint: disable=invalid-name
  if A.ndim != 2:
    raise ValueError(f"nnls: `A` must be a matrix, got shape {A.shape}.")
  if b.ndim not in (1, 2) or b.shape[0] != A.shape[0]:
    raise ValueError(
        f"nnls: `b` must have shape ({A.shape[0]},) or ({A.shape[0]}, K) to match "
        f"`A` of shape {A.shape}, got {b.shape}."
    )
  q_mat = A.mT @ A
  q_vec = A.mT @ b
  lipschitz = _spectral_radius_bound(q_mat) if L is None else L
  lipschitz = jnp.where(lipschitz == 0, 1, lipschitz)

  def step(carry, _):
    x, p, c = carry
    c_next = (1 + jnp.sqrt(1 + 4 * c**2)) / 2
    x_next = (p - (q_mat @ p - q_vec) / lipschitz).clip(0)
    p_next = x_next + (c - 1) / c_next * (x_next - x)
    return (x_next, p_next, c_next), None

  x0 = jnp.zeros_like(b, shape=A.shape[-1:] + b.shape[1:])
  (x, _, _), _ = lax.scan(step, (x0, x0, 0.0), length=iters, unroll=unroll)
  return x
