"""Dominant eigenpairs by power iteration, and inverse p-th matrix roots by coupled Newton iterations."""

from collections.abc import Callable
from typing import Any, Optional, Union

import jax
from jax import lax
import jax.numpy as jnp
from jopt._src import checks
from jopt._src.tree_utils import arithmetic
from jopt._src.tree_utils import reductions


def _normalized(v: Any) -> Any:
  return arithmetic.tree_scale(1.0 / reductions.tree_norm(v), v)


def power_iteration(
    matrix: Union[jax.typing.ArrayLike, Callable[[Any], Any]],
    *,
    v0: Optional[Any] = None,
    num_iters: jax.typing.ArrayLike = 100,
    error_tolerance: jax.typing.ArrayLike = 1e-6,
    precision: lax.Precision = lax.Precision.HIGHEST,
    key: Optional[jax.Array] = None,
) -> tuple[jax.typing.ArrayLike, Any]:
  """The dominant eigenvalue and eigenvector of a diagonalizable matrix.

  .. math::
    v_{k+1} = \\frac{A v_k}{\\|A v_k\\|}, \\qquad
    \\lambda_{k+1} = \\langle v_{k+1}, A v_{k+1} \\rangle

  stopping after `num_iters` products or once the residual
  `||A v - lambda v|| / |lambda|` is below `error_tolerance`.
  https://en.wikipedia.org/wiki/Power_iteration

  Args:
    matrix: a square matrix, or a function computing a matrix-vector product
      on a tree.
    v0: the starting vector (a tree like the function's input when `matrix` is
      callable; then it is required). By default uniform in [-1, 1] from `key`.
    num_iters: the most matrix-vector products after the first.
    error_tolerance: relative residual at which to stop.
    precision: matmul precision for an array `matrix`.
    key: PRNG key for the default `v0` (default `jax.random.PRNGKey(0)`).

  Returns:
    `(eigenvalue, eigenvector)`, the eigenvector normalised to unit l2 norm.
    May not converge when the dominant eigenvalue is not unique in modulus.
  """
  if callable(matrix):
    if v0 is None:
      raise ValueError(
          "power_iteration: `v0` is required when `matrix` is a function "
          "(the shape of its input is unknown)."
      )
    matvec = matrix
  else:
    matvec = lambda v: jnp.matmul(matrix, v, precision=precision)
    if v0 is None:
      key = jax.random.PRNGKey(0) if key is None else key
      v0 = jax.random.uniform(
          key, matrix.shape[-1:], matrix.dtype, minval=-1.0, maxval=1.0
      )

  def not_done(carry):
    v, av, eig, i = carry
    residual = reductions.tree_norm(arithmetic.tree_sub(av, arithmetic.tree_scale(eig, v)))
    return ~(jnp.abs(residual / eig) < error_tolerance) & (i < num_iters)

  def step(carry):
    _, av, _, i = carry
    v = _normalized(av)
    av = matvec(v)
    return v, av, reductions.tree_vdot(v, av), i + 1

  v = _normalized(v0)
  # eig = 0 at the start makes the first residual test fail, so at least one step runs.
  carry = (v, matvec(v), jnp.asarray(0.0), jnp.asarray(0))
  _, av, eig, _ = lax.while_loop(not_done, step, carry)
  return eig, _normalized(av)


def _known_int(p: Any) -> Optional[int]:
  """`p` as a Python int when it is known at trace time, else None; rejects non-integers and p < 1."""
  value = checks.concrete_value(p)
  if value is None:
    return None
  if value.shape != () or not float(value).is_integer() or value < 1:
    raise ValueError(f"matrix_inverse_pth_root: `p` must be a positive integer, got {p!r}.")
  return int(value)


def _matrix_power(m: jax.Array, p: Any, precision: lax.Precision) -> jax.Array:
  """`m ** p` for a positive integer `p`: by repeated squaring when `p` is known."""
  known = _known_int(p)
  if known is not None:
    p = known
    result, base_pow = None, m
    while p:
      if p & 1:
        result = base_pow if result is None else jnp.matmul(result, base_pow, precision=precision)
      p >>= 1
      if p:
        base_pow = jnp.matmul(base_pow, base_pow, precision=precision)
    return result
  # A traced exponent: multiply p - 1 times.
  p = jnp.asarray(p, jnp.int32)
  return lax.fori_loop(1, p, lambda _, acc: jnp.matmul(acc, m, precision=precision), m)


def matrix_inverse_pth_root(
    matrix: jax.typing.ArrayLike,
    p: jax.typing.ArrayLike,
    num_iters: jax.typing.ArrayLike = 100,
    ridge_epsilon: jax.typing.ArrayLike = 1e-6,
    error_tolerance: jax.typing.ArrayLike = 1e-6,
    precision: lax.Precision = lax.Precision.HIGHEST,
):
  """`(A + eps I) ** (-1/p)` of a symmetric PSD matrix, by coupled Newton iterations.

  With `alpha = -1/p`, `M_0 = z (A + eps I)`, `H_0 = z^{1/p} I` and
  `z = (1 + p) / (2 ||A + eps I||_F)`:

  .. math::
    T_k = (1 - \\alpha) I + \\alpha M_k, \\quad
    M_{k+1} = T_k^{p} M_k, \\quad H_{k+1} = H_k T_k

  `H_k -> (A + eps I)^{-1/p}` as `M_k -> I`. Stops after `num_iters` steps,
  when `max|M_k - I| <= error_tolerance`, or when that error grows by more
  than 20% in one step (then the previous `H` is returned). The ridge is
  `eps = ridge_epsilon * max(lambda_max(A), 1e-16)` with `lambda_max` from
  `power_iteration`. Iterates in float32. Higham, Functions of Matrices (2008),
  eq. 7.18, https://doi.org/10.1137/1.9780898717778.

  Args:
    matrix: a symmetric positive semi-definite `(n, n)` matrix.
    p: the root, a positive integer.
    num_iters: the most Newton steps.
    ridge_epsilon: relative ridge added to make `matrix` positive definite.
    error_tolerance: `max|M_k - I|` at which to stop.
    precision: matmul precision.

  Returns:
    `(root, error)`: the inverse p-th root in `matrix`'s dtype and the final
    `max|M - I|`.

  Differs from optax: `T_k^p` is the true p-th power for every integer `p`
  (optax computes `T_k^(2^round(log2 p))`, so `p = 3, 5, 6, 7` or `p > 8`
  give wrong roots); for p = 1, 2, 4, 8 the products are the same.
  """
  _known_int(p)
  n = matrix.shape[0]
  alpha = jnp.asarray(-1.0 / p, jnp.float32)
  eye = jnp.eye(n, dtype=jnp.float32)
  max_ev, _ = power_iteration(matrix, num_iters=100, error_tolerance=1e-6, precision=precision)
  ridge = ridge_epsilon * jnp.maximum(max_ev, 1e-16)

  if n == 1:
    return (matrix + ridge) ** alpha, 0

  def keep_going(carry):
    i, _, _, _, err, improving = carry
    return (i < num_iters) & (err > error_tolerance) & improving

  def newton_step(carry):
    i, m, h, _, err, _ = carry
    t = (1 - alpha) * eye + alpha * m
    m_next = jnp.matmul(_matrix_power(t, p, precision), m, precision=precision)
    h_next = jnp.matmul(h, t, precision=precision)
    err_next = jnp.max(jnp.abs(m_next - eye))
    # The error may rise briefly before converging; allow up to 20% per step.
    return i + 1, m_next, h_next, h, err_next, err_next < 1.2 * err

  damped = matrix + ridge * eye
  z = (1 + p) / (2 * jnp.linalg.norm(damped))
  m0 = damped * z
  h0 = eye * jnp.power(z, 1.0 / p)
  carry = (0, m0, h0, h0, jnp.max(jnp.abs(m0 - eye)), True)
  _, m, h, h_prev, _, improving = lax.while_loop(keep_going, newton_step, carry)
  root = jnp.where(improving, h, h_prev)
  return jnp.asarray(root, matrix.dtype), jnp.max(jnp.abs(m - eye))
