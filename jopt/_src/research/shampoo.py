"""Shampoo: Kronecker-factored preconditioning with blocks and grafting (Gupta et al., 2018; Anil et al., 2020)."""

import math
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src.research import _factors
from jopt._src import combine
from jopt._src.transforms import momentum
from jopt._src.transforms import scaling

_HIGHEST = jax.lax.Precision.HIGHEST
GRAFT_TYPES = ("adam", "rmsprop", "adagrad", "sgd", None)


class ScaleByShampooState(NamedTuple):
  """State of `scale_by_shampoo`. `stats` and `preconds` hold, per leaf, one stack per dim."""

  count: jax.Array  # shape=(), int32.
  nu: Optional[base.Updates]  # the graft's second moment, like params (None for sgd / no graft).
  stats: base.Updates  # per leaf: tuple of (num_blocks, b_i, b_i) statistics, one per dim.
  preconds: base.Updates  # per leaf: tuple of (num_blocks, b_i, b_i) inverse roots.


def _layout(shape, block_size, merge_dims, precondition_1d):
  """The merged shape of a leaf, or None if the leaf is not preconditioned."""
  shape = tuple(shape)
  if merge_dims:
    shape = _factors.merge_dims(shape, block_size)
  if len(shape) == 0 or (len(shape) == 1 and not precondition_1d):
    return None
  return shape


def _precondition_blocks(blocks, preconds, precision):
  """`P_1 (x) ... (x) P_k` applied to each block: a mode product per dim, vmapped over blocks."""
  one = lambda x, ps: _factors.mode_dot(x, list(ps), 0, precision)
  return jax.vmap(one)(blocks, tuple(preconds))


@checks.public
def scale_by_shampoo(
    b2: float = 0.999,
    eps: float = 1e-4,
    graft_type: Optional[str] = "adam",
    graft_eps: float = 1e-8,
    block_size: int = 256,
    precondition_frequency: int = 10,
    exponent_override: Optional[float] = None,
    precondition_1d: bool = False,
    merge_dims: bool = True,
    precond_dtype: Optional[Any] = None,
    precision: Any = _HIGHEST,
) -> base.GradientTransformation:
  """Rescales updates by Shampoo's Kronecker-factored preconditioner, grafted onto a diagonal method.

  For each block `G` of a leaf (a matrix here; a `k`-dim block has one
  statistic per dim and root `2k`):

  .. math::
    L_t = w_1 L_{t-1} + w_2 G G^T, \\quad R_t = w_1 R_{t-1} + w_2 G^T G, \\quad
    (w_1, w_2) = (\\beta_2, 1-\\beta_2) \\text{ or } (1, 1) \\text{ if } \\beta_2 = 1, \\\\
    P_L = (L + \\epsilon \\lambda_{max}(L) I)^{-1/e}, \\quad
    P_R = (R + \\epsilon \\lambda_{max}(R) I)^{-1/e}, \\quad S = P_L G P_R, \\\\
    u = S \\cdot \\lVert a \\rVert / (\\lVert S \\rVert + 10^{-16})

  with `e = 2k` (`exponent_override` replaces it) and `a` the graft direction
  of the whole leaf: `"adam"` `g / (sqrt(v / (1 - b2^t)) + graft_eps)`,
  `"rmsprop"` the same without bias correction, `"adagrad"`
  `g / (sqrt(sum g^2) + graft_eps)`, `"sgd"` `g`; `v` is an EMA of `g^2` with the
  weights `w_1, w_2`. `graft_type=None` returns `S` itself (Gupta et al.'s
  plain Shampoo, with `b2=1`). The inverse roots are recomputed by `eigh` in at
  least float32 at the updates where `count % precondition_frequency == 0`
  (the first update included), under `lax.cond`; statistics are updated every
  step. `b2=1` with `graft_type=None` is Gupta et al., 2018, "Shampoo:
  Preconditioned Stochastic Tensor Optimization" (https://arxiv.org/abs/1802.09568);
  blocks, grafting and the relative `eps` follow Anil et al., 2020, "Scalable
  Second Order Optimization for Deep Learning" (https://arxiv.org/abs/2002.09018).
  Momentum and the learning rate are separate transforms (see `shampoo`).

  Which leaves are preconditioned (after `merge_dims`, which merges adjacent
  dims while their product stays <= `block_size`):

  - scalars never, 1-D leaves only with `precondition_1d=True` (full-matrix
    AdaGrad-like, root 2); these get the graft direction `a` (or `g` when
    `graft_type=None`);
  - every dim of a larger tensor: a dim `d > block_size` is split into
    `ceil(d / block_size)` equal blocks (zero-padded), so the matrices are at
    most `block_size x block_size` and the preconditioner is block-diagonal.

  Args:
    b2: decay of the statistics and of the graft's second moment, in [0, 1];
      1 sums them (Gupta et al.).
    eps: damping relative to each statistic's largest eigenvalue, > 0. The
      default 1e-4 sits well above the eigenvalue noise of a float32 `eigh`
      (about `d * 1e-7 * lambda_max`), which a smaller `eps` amplifies by up
      to `eps ** (-1/e)` in directions the statistics have not seen
      (distributed Shampoo's 1e-6 comes with statistics started at `1e-6 * I`).
    graft_type: `"adam"`, `"rmsprop"`, `"adagrad"`, `"sgd"` or None.
    graft_eps: the graft's epsilon, >= 0.
    block_size: the largest preconditioner dim (a Python int >= 1).
    precondition_frequency: recompute the inverse roots every this many
      steps (a Python int >= 1).
    exponent_override: the root `e` for every statistic (default `2k`).
    precondition_1d: precondition 1-D leaves with a full matrix.
    merge_dims: merge small adjacent dims before blocking.
    precond_dtype: dtype of the statistics and roots (default float32).
    precision: `jax.lax.Precision` of the matmuls with the preconditioners.

  Returns:
    A `GradientTransformation` with state `ScaleByShampooState`. Updates keep
    each param's dtype.
  """
  fn = "scale_by_shampoo"
  checks.check_range(fn, "b2", b2, 0.0, 1.0)
  checks.check_range(fn, "eps", eps, 0.0, None, low_inclusive=False)
  checks.check_finite(fn, "eps", eps)
  checks.check_nonnegative(fn, "graft_eps", graft_eps)
  if graft_type not in GRAFT_TYPES:
    raise ValueError(f"{fn}: `graft_type` must be one of {GRAFT_TYPES}, got {graft_type!r}.")
  checks.check_positive_int(fn, "block_size", block_size)
  checks.check_positive_int(fn, "precondition_frequency", precondition_frequency)
  if exponent_override is not None:
    checks.check_range(fn, "exponent_override", exponent_override, 0.0, None, low_inclusive=False)
    checks.check_finite(fn, "exponent_override", exponent_override)
  precond_dtype = numerics.canonicalize_dtype(precond_dtype) or jnp.dtype(jnp.float32)
  has_nu = graft_type in ("adam", "rmsprop", "adagrad")

  def layout(x):
    return _layout(jnp.shape(x), block_size, merge_dims, precondition_1d)

  def init_stats(p, value):
    shape = layout(p)
    if shape is None:
      return ()
    counts, sizes = _factors.block_layout(shape, block_size)
    n = math.prod(counts)
    eye = lambda b: jnp.broadcast_to(jnp.eye(b, dtype=precond_dtype), (n, b, b))
    return tuple(eye(b) * value for b in sizes)

  def init_fn(params):
    return ScaleByShampooState(
        count=numerics.init_count(),
        nu=numerics.real_full_like(params, 0) if has_nu else None,
        stats=jax.tree.map(lambda p: init_stats(p, 0.0), params),
        preconds=jax.tree.map(lambda p: init_stats(p, 1.0), params),
    )

  def graft(g, v, count):
    """The graft direction of one leaf and its new second moment."""
    if graft_type in ("sgd", None):
      return g, v
    if graft_type == "adagrad":
      v = v + numerics.abs_sq(g)
      return g / (jnp.sqrt(v) + graft_eps), v
    w2 = jnp.where(b2 == 1.0, 1.0, 1.0 - b2)
    v = b2 * v + w2 * numerics.abs_sq(g)
    v_hat = v
    if graft_type == "adam":
      factor = numerics.bias_correction_factor(b2, count)
      v_hat = v / jnp.where(b2 == 1.0, 1.0, factor).astype(v.dtype)
    return g / (jnp.sqrt(v_hat) + graft_eps), v

  def update_fn(updates, state, params=None):
    del params
    grads, treedef = jax.tree.flatten(updates)
    _factors.require_real(fn, grads)
    stats = _factors.flatten_per_leaf(fn, treedef, state.stats, "state")
    preconds = treedef.flatten_up_to(state.preconds)
    nus = treedef.flatten_up_to(state.nu) if has_nu else [None] * len(grads)
    count = numerics.safe_increment(state.count)
    w1 = jnp.asarray(b2, jnp.float32)
    w2 = jnp.where(b2 == 1.0, 1.0, 1.0 - w1)

    blocks, new_stats, exponents = [], [], []
    for g, st in zip(grads, stats):
      shape = layout(g)
      if shape is None:
        blocks.append(None)
        new_stats.append(())
        exponents.append(None)
        continue
      cdt = _factors.compute_dtype(g.dtype)
      xb = _factors.to_blocks(g.reshape(shape).astype(cdt), block_size)
      grams = [jax.vmap(lambda x, i=i: _factors.gram(x, i, precision))(xb) for i in range(len(shape))]
      new_stats.append(tuple(
          (w1.astype(cdt) * s.astype(cdt) + w2.astype(cdt) * gm).astype(precond_dtype)
          for s, gm in zip(st, grams)))
      blocks.append(xb)
      exponents.append(2 * len(shape) if exponent_override is None else exponent_override)

    def compute_roots(stats_):
      out = []
      for st, e in zip(stats_, exponents):
        root = lambda m, e=e: _factors.inverse_root(
            m.astype(_factors.compute_dtype(m.dtype)), e, eps, precision)
        out.append(tuple(jax.vmap(root)(s).astype(precond_dtype) for s in st))
      return out

    preconds = jax.lax.cond(
        state.count % precondition_frequency == 0,
        compute_roots,
        lambda _: [tuple(p) for p in preconds],
        new_stats,
    )

    new_updates, new_nus = [], []
    for g, xb, ps, v in zip(grads, blocks, preconds, nus):
      cdt = _factors.compute_dtype(g.dtype)
      gc = g.astype(cdt)
      a, v = graft(gc, v, count)
      new_nus.append(v)
      if xb is None:
        new_updates.append(a.astype(g.dtype))
        continue
      s = _precondition_blocks(xb, [p.astype(cdt) for p in ps], precision)
      s = _factors.from_blocks(s, layout(g), block_size).reshape(g.shape)
      if graft_type is not None:
        s = s * (jnp.linalg.norm(a) / (jnp.linalg.norm(s) + 1e-16))
      new_updates.append(s.astype(g.dtype))

    unflat = lambda xs: jax.tree.unflatten(treedef, xs)
    return unflat(new_updates), ScaleByShampooState(
        count=count,
        nu=unflat([v.astype(n.dtype) for v, n in zip(new_nus, nus)]) if has_nu else None,
        stats=unflat(new_stats),
        preconds=unflat(preconds),
    )

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn),
      "per_leaf", "scale_by_shampoo",
      why="a Kronecker-factored preconditioner of each leaf")


@checks.public
def shampoo(
    learning_rate: base.ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-4,
    graft_type: Optional[str] = "adam",
    graft_eps: float = 1e-8,
    block_size: int = 256,
    precondition_frequency: int = 10,
    exponent_override: Optional[float] = None,
    precondition_1d: bool = False,
    merge_dims: bool = True,
    nesterov: bool = False,
    weight_decay: base.ScalarOrSchedule = 0.0,
    mask: Optional[Any] = None,
    mu_dtype: Optional[Any] = None,
    precond_dtype: Optional[Any] = None,
    precision: Any = _HIGHEST,
) -> base.GradientTransformationExtraArgs:
  """Shampoo with grafting, heavy-ball momentum and decoupled weight decay.

  `theta <- theta - lr * (m + weight_decay * theta)` with `m = u + b1 * m`
  (or Nesterov's `u + b1 * m` after the update) and `u` the grafted Shampoo
  direction of `scale_by_shampoo`. Momentum on the grafted direction is
  distributed Shampoo's (`moving_average_for_momentum=False`): the step is
  about `lr / (1 - b1)` times the graft's. See `scale_by_shampoo` for the
  math and the rule for scalars, 1-D leaves and large dims.

  Args:
    learning_rate: a non-negative float, scalar array or schedule.
    b1: momentum decay, in [0, 1).
    b2: decay of the statistics and of the graft's second moment, in [0, 1].
    eps: damping relative to the largest eigenvalue of each statistic.
    graft_type: `"adam"`, `"rmsprop"`, `"adagrad"`, `"sgd"` or None.
    graft_eps: the graft's epsilon.
    block_size: the largest preconditioner dim.
    precondition_frequency: steps between inverse-root computations.
    exponent_override: the root for every statistic (default `2 * ndim`).
    precondition_1d: precondition 1-D leaves with a full matrix.
    merge_dims: merge small adjacent dims before blocking.
    nesterov: Nesterov momentum.
    weight_decay: decoupled weight decay, >= 0, or a schedule.
    mask: which leaves to decay (tree of bools or function of params).
    mu_dtype: dtype of the momentum.
    precond_dtype: dtype of the statistics and roots (default float32).
    precision: matmul precision with the preconditioners.

  Returns:
    `chain(scale_by_shampoo(...), trace(b1, nesterov, mu_dtype),
    add_decayed_weights(weight_decay, mask), scale_by_learning_rate(learning_rate))`.

  Example:
    >>> import jax, jax.numpy as jnp, jopt
    >>> tx = jopt.shampoo(1e-2, block_size=128)
    >>> params = {"w": jnp.ones((4, 3))}
    >>> state = tx.init(params)
    >>> grads = jax.grad(lambda p: jnp.sum(p["w"] ** 2))(params)
    >>> updates, state = tx.update(grads, state, params)
  """
  checks.check_decay("shampoo", "b1", b1)
  return combine.chain(
      scale_by_shampoo(
          b2=b2, eps=eps, graft_type=graft_type, graft_eps=graft_eps, block_size=block_size,
          precondition_frequency=precondition_frequency, exponent_override=exponent_override,
          precondition_1d=precondition_1d, merge_dims=merge_dims, precond_dtype=precond_dtype,
          precision=precision,
      ),
      momentum.trace(b1, nesterov=nesterov, accumulator_dtype=mu_dtype),
      *_factors.optional_weight_decay(weight_decay, mask),
      scaling.scale_by_learning_rate(learning_rate),
  )
