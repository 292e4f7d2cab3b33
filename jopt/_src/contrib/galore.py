"""GaLore: the inner optimizer runs on gradients projected onto a low-rank subspace (from their SVD)."""

import math
from typing import Any, Callable, NamedTuple, Optional, Sequence, Union

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src.contrib import control
from jopt._src import combine
from jopt._src.transforms import adam
from jopt._src.transforms import regularization
from jopt._src.transforms import scaling


class GaLoreDimensionNumbers(NamedTuple):
  """Which axes of a weight form the rows (reduction) and the columns (output) of its matrix.

  A weight stored as e.g. `(embed, heads, head_dim)` is projected as the matrix
  `(embed, heads * head_dim)` with `reduction_axis=0, output_axis=(1, 2)`.
  Every axis must be in exactly one of the two.
  """

  reduction_axis: Union[Sequence[int], int] = 0
  output_axis: Union[Sequence[int], int] = 1


GaLoreDimNumsOrFn = Union[GaLoreDimensionNumbers, base.Params, Callable[[base.Params], Any]]


class GaLoreState(NamedTuple):
  """State of `scale_by_galore`."""

  count: jax.Array  # shape=(), int32.
  base_optimizer_state: base.OptState  # the inner optimizer's state, on the low-rank shapes.
  projector: base.Updates  # per leaf: the (m, r) or (n, r) projector; (0, 0) for unprojected leaves.


def _is_spec(x: Any) -> bool:
  return x is None or isinstance(x, GaLoreDimensionNumbers)


class _Matrix(NamedTuple):
  """How one leaf is viewed as an `(m, n)` matrix."""

  to_2d: Callable[[jax.Array], jax.Array]
  from_2d: Callable[[jax.Array], jax.Array]
  m: int
  n: int


def _axes(axis: Union[Sequence[int], int], ndim: int) -> tuple[int, ...]:
  return (axis % ndim,) if isinstance(axis, int) else tuple(a % ndim for a in axis)


def _as_matrix(x: jax.Array, spec: GaLoreDimensionNumbers) -> _Matrix:
  if x.ndim < 2:
    raise ValueError(f"galore: a projected leaf needs rank >= 2, got shape {x.shape}.")
  rows, cols = _axes(spec.reduction_axis, x.ndim), _axes(spec.output_axis, x.ndim)
  if set(rows) & set(cols) or len(set(rows) | set(cols)) != x.ndim:
    raise ValueError(
        f"galore: the reduction axes {rows} and output axes {cols} must be disjoint "
        f"and cover every axis of shape {x.shape} (got {spec})."
    )
  perm = rows + cols
  inverse = tuple(sorted(range(x.ndim), key=lambda i: perm[i]))
  permuted_shape = tuple(x.shape[a] for a in perm)
  m = math.prod(x.shape[a] for a in rows)
  n = math.prod(x.shape[a] for a in cols)
  return _Matrix(
      to_2d=lambda y: y.transpose(perm).reshape(m, n),
      from_2d=lambda y: y.reshape(permuted_shape).transpose(inverse),
      m=m, n=n,
  )


@checks.public
def scale_by_galore(
    rank: int = 128,
    update_proj_gap: int = 200,
    scale: float = 1.0,
    base_optimizer: Optional[base.GradientTransformation] = None,
    weight_dimension_numbers: Optional[GaLoreDimNumsOrFn] = None,
) -> base.GradientTransformation:
  """Runs `base_optimizer` on low-rank projections of the gradients of matrix-shaped leaves.

  For a leaf viewed as an `(m, n)` matrix `G` with `r = min(rank, m, n)`:

  .. math::
    P = U_{:, :r} \\text{ of } \\operatorname{svd}(G) \\ (m \\ge n), \\quad
    R = P^\\top G, \\quad u = s\\, P\\, \\text{base}(R)

  and with `m < n` the right singular vectors: :math:`P = V_{:, :r}`,
  :math:`R = G P`, :math:`u = s\\, \\text{base}(R) P^\\top`. `P` is recomputed
  (in float32) every `update_proj_gap` steps, starting at the first. Other leaves
  go through `base_optimizer` unprojected. The inner optimizer's moments live on
  the `(r, n)` / `(m, r)` shapes, which is the memory saving. Zhao et al., 2024,
  "GaLore: Memory-Efficient LLM Training by Gradient Low-Rank Projection"
  (https://arxiv.org/abs/2403.03507).

  Args:
    rank: the projection rank, an integer >= 1.
    update_proj_gap: steps between projector refreshes, an integer >= 1.
    scale: `s`, a factor on the projected-back updates.
    base_optimizer: the inner transform (default `scale_by_adam()`); it never
      sees the params, so use a scaling such as `scale_by_adam`, not `adamw`.
    weight_dimension_numbers: which leaves are projected and how they are
      viewed as matrices: `None` (every 2-D leaf, as is), one
      `GaLoreDimensionNumbers` (every leaf of rank >= 2), a tree of them with
      `None` for leaves to skip, or a function of the params returning such a tree.

  Returns:
    A `GradientTransformation` with state `GaLoreState`.
  """
  fn = "scale_by_galore"
  checks.check_positive_int(fn, "rank", rank)
  checks.check_positive_int(fn, "update_proj_gap", update_proj_gap)
  checks.check_finite(fn, "scale", scale)
  inner = adam.scale_by_adam() if base_optimizer is None else base_optimizer

  def specs_for(tree):
    if weight_dimension_numbers is None:
      return jax.tree.map(lambda p: GaLoreDimensionNumbers() if p.ndim == 2 else None, tree)
    if isinstance(weight_dimension_numbers, GaLoreDimensionNumbers):
      return jax.tree.map(lambda p: weight_dimension_numbers if p.ndim >= 2 else None, tree)
    if callable(weight_dimension_numbers):
      return weight_dimension_numbers(tree)
    return weight_dimension_numbers

  def unzip(tree, pairs):
    return jax.tree.transpose(jax.tree.structure(tree), jax.tree.structure((0, 0)), pairs)

  def shapes(p, spec):
    if spec is None:
      return jnp.zeros((0, 0), p.dtype), jnp.zeros_like(p)
    mat = _as_matrix(p, spec)
    r = min(rank, mat.m, mat.n)
    if mat.m >= mat.n:
      return jnp.zeros((mat.m, r), p.dtype), jnp.zeros((r, mat.n), p.dtype)
    return jnp.zeros((mat.n, r), p.dtype), jnp.zeros((mat.m, r), p.dtype)

  def init_fn(params):
    if not jax.tree.leaves(params):
      return GaLoreState(numerics.init_count(), inner.init(params), params)
    projectors, proxies = unzip(
        params, jax.tree.map(shapes, params, specs_for(params), is_leaf=_is_spec)
    )
    return GaLoreState(numerics.init_count(), inner.init(proxies), projectors)

  def update_fn(updates, state, params=None):
    del params
    refresh = state.count % update_proj_gap == 0
    specs = specs_for(updates)

    def project(g, projector, spec):
      if spec is None:
        return g, projector
      mat = _as_matrix(g, spec)
      g2 = mat.to_2d(g)
      r = min(rank, mat.m, mat.n)
      left = mat.m >= mat.n

      def new_projector():
        u, _, vh = jnp.linalg.svd(g2.astype(jnp.float32), full_matrices=False)
        return (u[:, :r] if left else vh[:r, :].T).astype(g.dtype)

      new = control.cond(refresh, new_projector, lambda: projector)
      return (new.T @ g2 if left else g2 @ new), new

    def project_back(u, projector, g, spec):
      if spec is None:
        return u
      mat = _as_matrix(g, spec)
      u2 = projector @ u if mat.m >= mat.n else u @ projector.T
      return (scale * mat.from_2d(u2)).astype(g.dtype)

    low_rank, projectors = unzip(
        updates, jax.tree.map(project, updates, state.projector, specs, is_leaf=_is_spec)
    )
    low_rank_updates, inner_state = inner.update(low_rank, state.base_optimizer_state, None)
    new_updates = jax.tree.map(
        project_back, low_rank_updates, projectors, updates, specs, is_leaf=_is_spec
    )
    return new_updates, GaLoreState(
        count=numerics.safe_increment(state.count),
        base_optimizer_state=inner_state,
        projector=projectors,
    )

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn),
      "per_leaf", "scale_by_galore",
      why="a low-rank projection of each matrix")


@checks.public
def galore(
    learning_rate: base.ScalarOrSchedule,
    rank: int = 128,
    update_proj_gap: int = 200,
    scale: float = 1.0,
    base_optimizer: Optional[base.GradientTransformation] = None,
    weight_decay: jax.typing.ArrayLike = 0.0,
    mask: Optional[Union[Any, Callable[[base.Params], Any]]] = None,
    weight_dimension_numbers: Optional[GaLoreDimNumsOrFn] = None,
) -> base.GradientTransformationExtraArgs:
  """GaLore: `scale_by_galore`, decoupled weight decay in the full space, learning rate.

  .. math::
    x_{t+1} = x_t - \\eta_t (u_t + \\lambda x_t)

  with :math:`u_t` from `scale_by_galore` (Adam on the low-rank projections by
  default, i.e. a memory-light AdamW). Zhao et al., 2024
  (https://arxiv.org/abs/2403.03507).

  Args:
    learning_rate: constant or schedule, >= 0 (set 1.0 if `base_optimizer`
      already includes a learning rate).
    rank: the projection rank.
    update_proj_gap: steps between projector refreshes.
    scale: a factor on the projected-back updates.
    base_optimizer: the inner transform (default `scale_by_adam()`), without
      params-dependent parts such as weight decay.
    weight_decay: decoupled weight decay, applied in the full parameter space.
    mask: which leaves get weight decay (tree of bools or function of params).
    weight_dimension_numbers: which leaves are projected: see `scale_by_galore`.

  Returns:
    A `GradientTransformationExtraArgs`.
  """
  return combine.chain(
      scale_by_galore(
          rank=rank, update_proj_gap=update_proj_gap, scale=scale,
          base_optimizer=base_optimizer, weight_dimension_numbers=weight_dimension_numbers,
      ),
      regularization.add_decayed_weights(weight_decay, mask),
      scaling.scale_by_learning_rate(learning_rate),
  )
