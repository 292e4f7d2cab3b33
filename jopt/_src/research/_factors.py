"""Tensor helpers shared by the Kronecker-factored preconditioners (SOAP, Shampoo, PSGD Kron)."""

import math
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp

from jopt._src import checks
from jopt._src.transforms import regularization

Precision = Any  # a `jax.lax.Precision`, a string such as "highest", or None.


def merge_dims(shape: Sequence[int], max_dim: int) -> tuple[int, ...]:
  """Merges runs of adjacent dims while their product stays <= `max_dim`.

  A dim larger than `max_dim` stays on its own. Examples with `max_dim=1024`:
  `(2, 512, 1, 2048, 3, 4) -> (1024, 2048, 12)`; `(1, 1) -> (1,)`; `() -> ()`.
  Size-1 dims are absorbed. This is the rule of SOAP's `merge_dims` and of
  distributed Shampoo's `merge_small_dims`.

  Args:
    shape: the tensor's shape.
    max_dim: the largest merged dim.

  Returns:
    The merged shape (same number of elements).
  """
  if not shape:
    return ()
  out = []
  product = 1
  for d in shape:
    if product * d <= max_dim:
      product *= d
    else:
      if product > 1:
        out.append(product)
      product = d
  if product > 1 or not out:
    out.append(product)
  return tuple(out)


def block_layout(shape: Sequence[int], block_size: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
  """`(counts, sizes)`: how `to_blocks` splits each dim.

  A dim `d <= block_size` is one block of size `d`; a larger dim is split into
  `n = ceil(d / block_size)` equal blocks of `ceil(d / n)` (the last one
  zero-padded), so padding is always smaller than `n`.
  """
  counts, sizes = [], []
  for d in shape:
    n = 1 if d <= block_size else math.ceil(d / block_size)
    counts.append(n)
    sizes.append(math.ceil(d / n))
  return tuple(counts), tuple(sizes)


def to_blocks(x: jax.Array, block_size: int) -> jax.Array:
  """Splits `x` (k dims) into a stack of blocks, shape `(N, b_1, ..., b_k)`.

  Blocks are ordered row-major over the block grid; padding is zeros.
  """
  counts, sizes = block_layout(x.shape, block_size)
  pad = [(0, n * b - d) for n, b, d in zip(counts, sizes, x.shape)]
  if any(p for _, p in pad):
    x = jnp.pad(x, pad)
  k = x.ndim
  x = x.reshape([v for n, b in zip(counts, sizes) for v in (n, b)])
  x = x.transpose([2 * i for i in range(k)] + [2 * i + 1 for i in range(k)])
  return x.reshape((math.prod(counts),) + sizes)


def from_blocks(blocks: jax.Array, shape: Sequence[int], block_size: int) -> jax.Array:
  """The inverse of `to_blocks`: reassembles the blocks and drops the padding."""
  counts, sizes = block_layout(shape, block_size)
  k = len(shape)
  x = blocks.reshape(tuple(counts) + tuple(sizes))
  x = x.transpose([v for i in range(k) for v in (i, k + i)])
  x = x.reshape([n * b for n, b in zip(counts, sizes)])
  return x[tuple(slice(0, d) for d in shape)]


def gram(x: jax.Array, axis: int, precision: Precision = None) -> jax.Array:
  """`G[j, k] = sum x[.., j, ..] * conj(x[.., k, ..])` over every axis but `axis`.

  For a matrix, `gram(x, 0) = x x^H` and `gram(x, 1) = x^T conj(x)`.
  """
  others = [i for i in range(x.ndim) if i != axis]
  return jnp.tensordot(x, jnp.conj(x), axes=(others, others), precision=precision)


def mode_dot(
    x: jax.Array, mats: Sequence[Optional[jax.Array]], index: int, precision: Precision = None
) -> jax.Array:
  """Multiplies every axis `i` of `x` by `mats[i]` (`None`: leave the axis alone).

  `index=1` computes `M x` along each axis (contracts the matrix's second
  index: `out[.., a, ..] = sum_b M[a, b] x[.., b, ..]`); `index=0` computes
  `M^T x` (for an orthogonal `M`, the projection onto its columns).
  """
  for i, m in enumerate(mats):
    if m is None:
      continue
    x = jnp.moveaxis(jnp.tensordot(x, m, axes=([i], [index]), precision=precision), -1, i)
  return x


def eigh_descending(mat: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Eigenvalues (descending) and eigenvectors (columns) of a symmetric matrix."""
  w, v = jnp.linalg.eigh(mat, symmetrize_input=True)
  return w[::-1], v[:, ::-1]


def inverse_root(mat: jax.Array, exponent: Any, eps: Any, precision: Precision = None) -> jax.Array:
  """`(mat + eps * lambda_max(mat) * I) ** (-1 / exponent)` of a symmetric PSD matrix, by `eigh`.

  Negative eigenvalues (rounding) count as 0. The damping is relative to the
  largest eigenvalue, as distributed Shampoo's `relative_matrix_epsilon`; an
  all-zero matrix gives the identity.

  Args:
    mat: a symmetric PSD matrix, computed in its own dtype (at least float32).
    exponent: the root `p` (a positive number).
    eps: the relative damping, > 0.
    precision: matmul precision for reassembling the result.

  Returns:
    The matrix inverse `p`-th root, in `mat`'s dtype.
  """
  w, v = jnp.linalg.eigh(mat, symmetrize_input=True)
  w = jnp.maximum(w, 0)
  lam = jnp.max(w)
  ridge = jnp.where(lam > 0, eps * lam, 1.0).astype(w.dtype)
  d = (w + ridge) ** (-1.0 / jnp.asarray(exponent, w.dtype))
  return jnp.matmul(v * d, v.T, precision=precision).astype(mat.dtype)


def compute_dtype(dtype: Any) -> jnp.dtype:
  """The dtype to do matrix work in: `dtype` promoted to at least float32."""
  return jnp.promote_types(dtype, jnp.float32)


def flatten_per_leaf(fn: str, treedef: Any, tree: Any, what: str) -> list:
  """`treedef.flatten_up_to(tree)` for a state that holds a tuple of arrays per param leaf.

  Raises a `ValueError` naming `fn` when the updates tree (`treedef`) does not
  match the state.
  """
  try:
    return treedef.flatten_up_to(tree)
  except (ValueError, TypeError) as e:
    raise ValueError(
        f"{fn}: the updates tree does not match the {what} tree.\n"
        f"  updates: {treedef}\n  {what}: {jax.tree.structure(tree)}\n"
        f"Was the optimizer state initialised with different parameters?"
    ) from e


def optional_weight_decay(weight_decay: Any, mask: Any) -> list:
  """`[add_decayed_weights(weight_decay, mask)]`, or `[]` for a known zero decay.

  Leaving the transform out for a zero decay keeps the optimizer usable
  without `params` (`add_decayed_weights` always requires them).
  """
  value = None if callable(weight_decay) else checks.concrete_value(weight_decay)
  if value is not None and value.shape == () and float(value) == 0.0:
    return []
  return [regularization.add_decayed_weights(weight_decay, mask)]


def require_real(fn: str, leaves: Sequence[jax.Array]) -> None:
  """Raises a `ValueError` naming `fn` for complex leaves (eigenbases here are real orthogonal)."""
  for x in leaves:
    if jnp.iscomplexobj(x):
      raise ValueError(f"{fn}: complex parameters are not supported, got a leaf of dtype {x.dtype}.")
