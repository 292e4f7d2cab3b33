"""SOAP: Adam in the eigenbasis of Shampoo's Kronecker-factored preconditioner (Vyas et al., 2024)."""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src.research import _factors
from jopt._src import combine
from jopt._src.transforms import scaling

_HIGHEST = jax.lax.Precision.HIGHEST


class ScaleBySoapState(NamedTuple):
  """State of `scale_by_soap`. `gg` and `q` hold, per param leaf, one matrix per rotated dim."""

  count: jax.Array  # shape=(), int32: updates so far (the first one only builds the basis).
  mu: base.Updates  # first moment in the original basis, like params (mu_dtype or the param's).
  nu: base.Updates  # second moment in the rotated basis, like params.
  gg: base.Updates  # per leaf: tuple of (d_i, d_i) EMAs of g g^T along each rotated dim i.
  q: base.Updates  # per leaf: tuple of (d_i, d_i) orthogonal eigenbases of the `gg` matrices.


def _layout(shape, max_precond_dim, merge_dims, precondition_1d):
  """`(merged shape, rotated flags)` of one leaf (see `scale_by_soap` for the rule)."""
  shape = tuple(shape)
  if len(shape) == 0:
    return shape, ()
  if len(shape) == 1:
    return shape, (bool(precondition_1d) and shape[0] <= max_precond_dim,)
  if merge_dims:
    shape = _factors.merge_dims(shape, max_precond_dim)
  return shape, tuple(d <= max_precond_dim for d in shape)


def _full(mats, rotated):
  """A per-axis list with `None` on the axes that are not rotated."""
  it = iter(mats)
  return [next(it) if r else None for r in rotated]


def _refresh_basis(gg, q, nu, rotated, precision):
  """One power-iteration step and a QR per rotated dim; `nu` is re-ordered to match."""
  new_q = []
  axes = [i for i, r in enumerate(rotated) if r]
  for axis, m, o in zip(axes, gg, q):
    mo = jnp.matmul(m, o, precision=precision)
    est_eig = jnp.einsum("ij,ij->j", o, mo, precision=precision)
    order = jnp.argsort(-est_eig)
    nu = jnp.take(nu, order, axis=axis)
    new_q.append(jnp.linalg.qr(mo[:, order])[0])
  return tuple(new_q), nu


@checks.public
def scale_by_soap(
    b1: float = 0.95,
    b2: float = 0.95,
    shampoo_beta: float = -1.0,
    eps: float = 1e-8,
    precondition_frequency: int = 10,
    max_precond_dim: int = 10000,
    merge_dims: bool = False,
    precondition_1d: bool = False,
    normalize_grads: bool = False,
    correct_bias: bool = True,
    mu_dtype: Optional[Any] = None,
    precond_dtype: Optional[Any] = None,
    precision: Any = _HIGHEST,
) -> base.GradientTransformation:
  """Rescales updates by Adam run in the eigenbasis of Shampoo's preconditioner (SOAP).

  For a matrix gradient :math:`G_t` (each rotated dim of a tensor likewise):

  .. math::
    L_t = \\beta_s L_{t-1} + (1-\\beta_s) G_t G_t^T, \\quad
    R_t = \\beta_s R_{t-1} + (1-\\beta_s) G_t^T G_t, \\\\
    G'_t = Q_L^T G_t Q_R, \\quad M_t = \\beta_1 M_{t-1} + (1-\\beta_1) G_t, \\quad
    V_t = \\beta_2 V_{t-1} + (1-\\beta_2) G'^2_t, \\\\
    u_t = \\frac{\\sqrt{1-\\beta_2^t}}{1-\\beta_1^t}\\;
    Q_L \\frac{Q_L^T M_t Q_R}{\\sqrt{V_t} + \\epsilon} Q_R^T.

  The eigenbases :math:`Q_L, Q_R` come from `eigh` of the first gradient's
  statistics; then, every `precondition_frequency` steps after the moment
  update, from one power-iteration step followed by a QR decomposition
  (:math:`Q \\leftarrow \\mathrm{qr}(L Q)`, columns sorted by estimated eigenvalue,
  with :math:`V` permuted the same way). The first update only builds the basis and
  returns zeros (the current gradient never enters its own projection); `t`
  counts the Adam steps after it. The basis refresh runs under `lax.switch`, so
  the transform is jittable and vmappable. Vyas et al., 2024, "SOAP: Improving
  and Stabilizing Shampoo using Adam" (https://arxiv.org/abs/2409.11321);
  this follows the authors' reference implementation
  (https://github.com/nikhilvyas/SOAP) with `data_format="channels_first"`.

  Which dims are rotated (each leaf separately):

  - scalars are never rotated: plain Adam (with SOAP's step-size bias correction);
  - 1-D leaves only with `precondition_1d=True` and length <= `max_precond_dim`;
  - tensors, after `merge_dims` (adjacent dims merged while their product is
    <= `max_precond_dim`), rotate every dim <= `max_precond_dim`; a larger
    dim (e.g. a vocabulary) keeps the identity basis (Adam along it).

  Args:
    b1: Adam's first-moment decay, in [0, 1).
    b2: Adam's second-moment decay, in [0, 1).
    shampoo_beta: decay of the `L, R` statistics, in [0, 1); negative: use `b2`.
    eps: added to `sqrt(V)`, >= 0.
    precondition_frequency: refresh the eigenbases every this many steps (a
      Python int >= 1).
    max_precond_dim: the largest dim that gets a preconditioner.
    merge_dims: merge small adjacent dims of tensors with 2 or more dims.
    precondition_1d: rotate 1-D leaves too (a full `d x d` basis).
    normalize_grads: divide each leaf's update by its RMS.
    correct_bias: scale by `sqrt(1 - b2^t) / (1 - b1^t)`.
    mu_dtype: dtype of the first moment (default: the param's).
    precond_dtype: dtype of the `gg` and `q` matrices (default float32); the
      eigen work runs in at least float32.
    precision: `jax.lax.Precision` of the matmuls with the bases.

  Returns:
    A `GradientTransformation` with state `ScaleBySoapState`. Updates keep each
    param's dtype.
  """
  fn = "scale_by_soap"
  checks.check_decay(fn, "b1", b1)
  checks.check_decay(fn, "b2", b2)
  checks.check_finite(fn, "shampoo_beta", shampoo_beta)
  if checks.concrete_value(shampoo_beta) is None or float(shampoo_beta) >= 0:
    checks.check_decay(fn, "shampoo_beta", shampoo_beta)
  checks.check_nonnegative(fn, "eps", eps)
  checks.check_positive_int(fn, "precondition_frequency", precondition_frequency)
  checks.check_positive_int(fn, "max_precond_dim", max_precond_dim)
  mu_dtype = numerics.canonicalize_dtype(mu_dtype)
  precond_dtype = numerics.canonicalize_dtype(precond_dtype) or jnp.dtype(jnp.float32)
  negative = checks.concrete_value(shampoo_beta)
  sb = b2 if negative is not None and float(negative) < 0 else shampoo_beta

  def layout(x):
    return _layout(jnp.shape(x), max_precond_dim, merge_dims, precondition_1d)

  def init_leaf_mats(p):
    shape, rotated = layout(p)
    return tuple(jnp.zeros((d, d), precond_dtype) for d, r in zip(shape, rotated) if r)

  def init_fn(params):
    eye = lambda p: tuple(jnp.eye(m.shape[0], dtype=precond_dtype) for m in init_leaf_mats(p))
    return ScaleBySoapState(
        count=numerics.init_count(),
        mu=numerics.zeros_like(params, dtype=mu_dtype),
        nu=numerics.real_full_like(params, 0),
        gg=jax.tree.map(init_leaf_mats, params),
        q=jax.tree.map(eye, params),
    )

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.mu, shapes=True)
    grads, treedef = jax.tree.flatten(updates)
    _factors.require_real(fn, grads)
    mus, nus = treedef.flatten_up_to(state.mu), treedef.flatten_up_to(state.nu)
    ggs = _factors.flatten_per_leaf(fn, treedef, state.gg, "state")
    qs = treedef.flatten_up_to(state.q)
    count = state.count
    first = count == 0
    step = jnp.maximum(count, 1)  # Adam steps taken, including this one
    if correct_bias:
      scale = jnp.sqrt(numerics.bias_correction_factor(b2, step)) / (
          numerics.bias_correction_factor(b1, step))
    else:
      scale = jnp.ones([], jnp.float32)

    new_updates, new_mus, new_nus, new_ggs, layouts = [], [], [], [], []
    for g, mu, nu, gg, q in zip(grads, mus, nus, ggs, qs):
      shape, rotated = layout(g)
      layouts.append((shape, rotated))
      cdt = _factors.compute_dtype(g.dtype)
      gm = g.reshape(shape).astype(cdt)
      axes = [i for i, r in enumerate(rotated) if r]
      gg = tuple(
          (sb * s.astype(cdt) + (1 - sb) * _factors.gram(gm, i, precision)).astype(precond_dtype)
          for i, s in zip(axes, gg))
      basis = _full([m.astype(cdt) for m in q], rotated)
      m_new = b1 * mu.astype(cdt) + (1 - b1) * g.astype(cdt)
      g_rot = _factors.mode_dot(gm, basis, 0, precision)
      v_new = b2 * nu.reshape(shape).astype(cdt) + (1 - b2) * numerics.abs_sq(g_rot)
      m_rot = _factors.mode_dot(m_new.reshape(shape), basis, 0, precision)
      u = _factors.mode_dot(m_rot / (jnp.sqrt(v_new) + eps), basis, 1, precision)
      if normalize_grads:
        u = u / (1e-30 + jnp.sqrt(jnp.mean(numerics.abs_sq(u))))
      u = jnp.where(first, 0, u * scale.astype(cdt)).reshape(g.shape).astype(g.dtype)
      new_updates.append(u)
      new_mus.append(jnp.where(first, mu, m_new.astype(mu.dtype)))
      new_nus.append(jnp.where(first, nu.reshape(shape), v_new.astype(nu.dtype)))
      new_ggs.append(gg)

    def eigh_basis(ggs_, qs_, nus_):
      del qs_
      return [tuple(_factors.eigh_descending(m.astype(_factors.compute_dtype(m.dtype)))[1]
                    .astype(precond_dtype) for m in gg) for gg in ggs_], nus_

    def refresh(ggs_, qs_, nus_):
      out_q, out_nu = [], []
      for gg, q, nu, (_, rotated) in zip(ggs_, qs_, nus_, layouts):
        cast = lambda ms: [m.astype(_factors.compute_dtype(m.dtype)) for m in ms]
        q_new, nu = _refresh_basis(cast(gg), cast(q), nu, rotated, precision)
        out_q.append(tuple(m.astype(precond_dtype) for m in q_new))
        out_nu.append(nu)
      return out_q, out_nu

    def keep(ggs_, qs_, nus_):
      del ggs_
      return list(qs_), nus_

    branch = jnp.where(first, 0, jnp.where(count % precondition_frequency == 0, 1, 2))
    new_qs, new_nus = jax.lax.switch(
        branch, (eigh_basis, refresh, keep), new_ggs, [tuple(q) for q in qs], new_nus)
    new_nus = [v.reshape(g.shape) for v, g in zip(new_nus, grads)]
    unflat = lambda xs: jax.tree.unflatten(treedef, xs)
    return unflat(new_updates), ScaleBySoapState(
        count=numerics.safe_increment(count),
        mu=unflat(new_mus),
        nu=unflat(new_nus),
        gg=unflat(new_ggs),
        q=unflat(new_qs),
    )

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn),
      "per_leaf", "scale_by_soap",
      why="an eigenbasis of each leaf's preconditioner")


@checks.public
def soap(
    learning_rate: base.ScalarOrSchedule = 3e-3,
    b1: float = 0.95,
    b2: float = 0.95,
    shampoo_beta: float = -1.0,
    eps: float = 1e-8,
    weight_decay: base.ScalarOrSchedule = 0.01,
    precondition_frequency: int = 10,
    max_precond_dim: int = 10000,
    merge_dims: bool = False,
    precondition_1d: bool = False,
    normalize_grads: bool = False,
    correct_bias: bool = True,
    mask: Optional[Any] = None,
    mu_dtype: Optional[Any] = None,
    precond_dtype: Optional[Any] = None,
    precision: Any = _HIGHEST,
) -> base.GradientTransformationExtraArgs:
  """SOAP: `theta <- theta - lr * (soap_direction + weight_decay * theta)`.

  See `scale_by_soap` for the direction and the rule for scalars, 1-D leaves
  and large dims. Defaults are the paper's (https://arxiv.org/abs/2409.11321).
  Weight decay is decoupled, applied to the parameters before the step (AdamW's
  convention; the authors' code decays the already-updated parameters, a
  difference of order `lr^2 * weight_decay`) and also on the first update,
  whose direction is zero.

  Args:
    learning_rate: a non-negative float, scalar array or schedule.
    b1: Adam's first-moment decay.
    b2: Adam's second-moment decay.
    shampoo_beta: decay of the preconditioner statistics; negative: `b2`.
    eps: Adam's epsilon.
    weight_decay: decoupled weight decay, >= 0, or a schedule.
    precondition_frequency: steps between eigenbasis refreshes.
    max_precond_dim: the largest dim that gets a preconditioner.
    merge_dims: merge small adjacent dims.
    precondition_1d: rotate 1-D leaves too.
    normalize_grads: RMS-normalize each leaf's direction.
    correct_bias: Adam's bias correction on the step size.
    mask: which leaves to decay (tree of bools or function of params).
    mu_dtype: dtype of the first moment.
    precond_dtype: dtype of the preconditioner matrices (default float32).
    precision: matmul precision with the bases.

  Returns:
    `chain(scale_by_soap(...), add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate))`.

  Example:
    >>> import jax, jax.numpy as jnp, jopt
    >>> tx = jopt.soap(1e-2)
    >>> params = {"w": jnp.ones((4, 3))}
    >>> state = tx.init(params)
    >>> grads = jax.grad(lambda p: jnp.sum(p["w"] ** 2))(params)
    >>> updates, state = tx.update(grads, state, params)
  """
  return combine.chain(
      scale_by_soap(
          b1=b1, b2=b2, shampoo_beta=shampoo_beta, eps=eps,
          precondition_frequency=precondition_frequency, max_precond_dim=max_precond_dim,
          merge_dims=merge_dims, precondition_1d=precondition_1d,
          normalize_grads=normalize_grads, correct_bias=correct_bias, mu_dtype=mu_dtype,
          precond_dtype=precond_dtype, precision=precision,
      ),
      *_factors.optional_weight_decay(weight_decay, mask),
      scaling.scale_by_learning_rate(learning_rate),
  )
