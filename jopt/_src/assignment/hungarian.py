"""Minimum-cost linear assignment by the Hungarian method (shortest augmenting paths with dual potentials)."""

import jax
from jax import lax
import jax.numpy as jnp


@jax.jit  # compiled once per shape and dtype, also when called eagerly
def _row_of_col(cost: jax.Array) -> jax.Array:
  """Optimal assignment of an `(r, c)` cost matrix with `r <= c`: the row of each column, -1 if none.

  Rows are inserted one at a time; each insertion runs Dijkstra on reduced
  costs `C[i, j] - u[i] - v[j] >= 0` to the nearest free column, updates the
  potentials `u, v` so reduced costs stay non-negative, and flips the
  alternating path (Kuhn, 1955; Jonker & Volgenant, 1987). `O(r^2 c)`.
  Index 0 of the column arrays is a virtual column holding the row being
  inserted; rows and columns are 1-based inside.
  """
  r, c = cost.shape
  dtype = jnp.promote_types(cost.dtype, jnp.float32)
  # Pad a virtual row 0 and column 0; their costs are never read as candidates.
  padded = jnp.zeros((r + 1, c + 1), dtype).at[1:, 1:].set(cost.astype(dtype))
  inf = jnp.asarray(jnp.inf, dtype)

  def insert_row(i, carry):
    u, v, owner = carry  # owner[j]: the (1-based) row holding column j, 0 if free
    owner = owner.at[0].set(i)

    def grow(state):
      u, v, owner, dist, prev, seen, j = state
      seen = seen.at[j].set(True)
      row = owner[j]
      reduced = padded[row] - u[row] - v
      better = ~seen & (reduced < dist)
      dist = jnp.where(better, reduced, dist)
      prev = jnp.where(better, j, prev)
      candidates = jnp.where(seen, inf, dist)
      j_next = jnp.argmin(candidates)
      # No finite path (a row of infinite costs): take the first unseen column,
      # so the search still ends (optax's base_hungarian_algorithm loops forever).
      j_next = jnp.where(candidates[j_next] < inf, j_next, jnp.argmin(seen))
      step = candidates[j_next]
      # Shift potentials by the step: columns already reached keep their reduced
      # costs, the others' tentative distances shrink by it.
      # (Rows of unreached columns are sent out of bounds, r + 1, and dropped.)
      u = u.at[jnp.where(seen, owner, r + 1)].add(step, mode="drop")
      v = jnp.where(seen, v - step, v)
      dist = jnp.where(seen, dist, dist - step)
      return u, v, owner, dist, prev, seen, j_next

    state = (
        u, v, owner,
        jnp.full(c + 1, inf), jnp.zeros(c + 1, jnp.int32), jnp.zeros(c + 1, bool),
        jnp.asarray(0, jnp.int32),
    )
    u, v, owner, _, prev, _, j = lax.while_loop(lambda s: s[2][s[-1]] != 0, grow, state)

    def flip(state):
      owner, j = state
      k = prev[j]
      return owner.at[j].set(owner[k]), k

    owner, _ = lax.while_loop(lambda s: s[1] != 0, flip, (owner, j))
    return u, v, owner

  init = (jnp.zeros(r + 1, dtype), jnp.zeros(c + 1, dtype), jnp.zeros(c + 1, jnp.int32))
  _, _, owner = lax.fori_loop(1, r + 1, insert_row, init)
  return owner[1:] - 1


def _solve(cost_matrix):
  """`(transposed, row_of_col)` for the wide orientation of `cost_matrix`."""
  cost = jnp.asarray(cost_matrix)
  transposed = cost.shape[0] > cost.shape[1]
  return transposed, _row_of_col(cost.T if transposed else cost)


def _empty():
  return jnp.zeros(0, jnp.int32), jnp.zeros(0, jnp.int32)


def base_hungarian_algorithm(cost_matrix):
  """Solves the linear assignment problem; pairs sorted by row.

  For an `(n, m)` cost matrix `C`, finds `min(n, m)` pairs `(i_k, j_k)` with
  distinct rows and distinct columns minimising `sum_k C[i_k, j_k]`:

  .. math::
    \\min_{X \\in \\{0,1\\}^{n \\times m}} \\sum_{ij} C_{ij} X_{ij} \\quad
    \\text{s.t.} \\quad X 1 \\le 1, \\; X^\\top 1 \\le 1, \\;
    1^\\top X 1 = \\min(n, m)

  Shortest augmenting paths with dual potentials (the Hungarian method: Kuhn,
  1955; Jonker & Volgenant, 1987; Crouse, 2016,
  https://ieeexplore.ieee.org/document/7738348), `O(n^2 m)`, jittable.

  Args:
    cost_matrix: an `(n, m)` matrix of costs.

  Returns:
    `(i, j)`: int arrays of length `min(n, m)`, `i` increasing (`arange(n)`
    when `n <= m`); the cost is `cost_matrix[i, j].sum()`.

  Differs from optax: with several optimal assignments (ties), the one
  returned may differ; the cost is the same. A matrix with no finite
  assignment (a row of infinite costs) returns some matching, where optax's
  `base_hungarian_algorithm` never returns.
  """
  if 0 in jnp.shape(cost_matrix):
    return _empty()
  transposed, row_of_col = _solve(cost_matrix)
  if not transposed:
    n, m = jnp.shape(cost_matrix)
    # Invert row_of_col; free columns (-1) are sent out of bounds and dropped.
    cols = jnp.zeros(n, jnp.int32).at[jnp.where(row_of_col >= 0, row_of_col, n)].set(
        jnp.arange(m, dtype=jnp.int32), mode="drop"
    )
    return jnp.arange(n), cols
  # Columns of the transposed problem are the original rows: keep the assigned ones, in order.
  m = jnp.shape(cost_matrix)[1]
  rows = jnp.nonzero(row_of_col >= 0, size=m)[0].astype(jnp.int32)
  return rows, row_of_col[rows]


def hungarian_algorithm(cost_matrix):
  """Solves the linear assignment problem (same problem as `base_hungarian_algorithm`).

  For an `(n, m)` cost matrix `C`, finds `min(n, m)` pairs `(i_k, j_k)` with
  distinct rows and distinct columns minimising `sum_k C[i_k, j_k]`:

  .. math::
    \\min_{X \\in \\{0,1\\}^{n \\times m}} \\sum_{ij} C_{ij} X_{ij} \\quad
    \\text{s.t.} \\quad X 1 \\le 1, \\; X^\\top 1 \\le 1, \\;
    1^\\top X 1 = \\min(n, m)

  Shortest augmenting paths with dual potentials (Kuhn, 1955; Jonker &
  Volgenant, 1987; as in Scenic, Dehghani et al., 2022,
  https://arxiv.org/abs/2110.11403), `O(n^2 m)`, jittable.

  Args:
    cost_matrix: an `(n, m)` matrix of costs.

  Returns:
    `(i, j)`: int arrays of length `min(n, m)`; the cost is
    `cost_matrix[i, j].sum()`. The pairs come in optax's order: for a square
    matrix `j = arange(n)`; for `n < m`, rows in decreasing order; for
    `n > m`, columns in decreasing order.

  Differs from optax: with several optimal assignments (ties), the one
  returned may differ; the cost is the same.
  """
  if 0 in jnp.shape(cost_matrix):
    return _empty()
  transposed, row_of_col = _solve(cost_matrix)
  r = min(jnp.shape(cost_matrix))
  if row_of_col.shape[0] == r:  # square
    return row_of_col, jnp.arange(r)
  # Assigned columns of the wide problem, by decreasing row (stable: rows are distinct).
  cols = jnp.argsort(-row_of_col, stable=True)[:r].astype(jnp.int32)
  rows = row_of_col[cols]
  return (cols, rows) if transposed else (rows, cols)
