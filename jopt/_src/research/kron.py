"""PSGD Kron: a Kronecker-factored preconditioner fitted by preconditioned stochastic gradient descent (Li, 2015-2024)."""

from typing import Any, Callable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src.research import _factors
from jopt._src import combine
from jopt._src.transforms import scaling

MEMORY_SAVE_MODES = (None, "one_diag", "all_diag")
_BALANCE_PROBABILITY = 0.01  # rescale the factors of a leaf about every 100 preconditioner updates


class ScaleByKronState(NamedTuple):
  """State of `scale_by_kron`."""

  count: jax.Array  # shape=(), int32.
  mu: Optional[base.Updates]  # momentum like params (mu_dtype or the param's); None if b1 == 0.
  preconditioners: base.Updates  # per leaf: tuple of factors Q_i, (d_i, d_i) upper-triangular or (d_i,) diagonal.
  update_counter: jax.Array  # shape=(), int32: steps since the last preconditioner update.


@checks.public
def precond_update_prob_schedule(
    max_prob: float = 1.0, min_prob: float = 0.03, decay: float = 0.001, flat_start: float = 500
) -> base.Schedule:
  """The probability of a preconditioner update at step `n`: flat, then an exponential anneal.

  `clip(max_prob * exp(-decay * (n - flat_start)), min_prob, max_prob)`: 1.0
  for the first 500 steps, then down to 0.03 by about step 4000 with the
  defaults (psgd-jax's schedule).

  Args:
    max_prob: the probability during the flat start.
    min_prob: the floor.
    decay: the exponential rate after `flat_start`.
    flat_start: steps at `max_prob`.

  Returns:
    A schedule `n -> probability`.
  """
  checks.check_range("precond_update_prob_schedule", "max_prob", max_prob, 0.0, 1.0, low_inclusive=False)
  checks.check_range("precond_update_prob_schedule", "min_prob", min_prob, 0.0, 1.0, low_inclusive=False)
  checks.check_nonnegative("precond_update_prob_schedule", "decay", decay)
  checks.check_nonnegative("precond_update_prob_schedule", "flat_start", flat_start)

  def schedule(n):
    p = max_prob * jnp.exp(-decay * (jnp.asarray(n, jnp.float32) - flat_start))
    return jnp.minimum(jnp.maximum(p, min_prob), max_prob)

  return schedule


def _diagonal_dims(shape, max_size_triangular, min_ndim_triangular, memory_save_mode):
  """Which dims of a leaf get a diagonal factor (the rest: upper-triangular)."""
  diag = [False] * len(shape)
  if memory_save_mode == "all_diag":
    diag = [True] * len(shape)
  elif memory_save_mode == "one_diag" and shape:
    diag[int(np.argsort(shape)[::-1][0])] = True
  return tuple(
      d or size == 1 or size > max_size_triangular or len(shape) < min_ndim_triangular
      for d, size in zip(diag, shape)
  )


def _mul_factor(x, q, axis, diag, conj=False):
  """`Q x` along `axis` (`Q^H x` with `conj`); a diagonal `q` scales the axis."""
  q = jnp.conj(q) if conj else q
  if diag:
    shape = [1] * x.ndim
    shape[axis] = -1
    return x * q.reshape(shape)
  return _factors.mode_dot(x, [None] * axis + [q], 0 if conj else 1)


def _solve_factor(x, q, axis, diag):
  """`x` times `Q^{-1}` from the right along `axis` (`out_b = sum_a x_a inv(Q)[a, b]`)."""
  if diag:
    shape = [1] * x.ndim
    shape[axis] = -1
    return x / q.reshape(shape)
  dtype = jnp.promote_types(x.dtype, q.dtype)
  moved = jnp.moveaxis(x.astype(dtype), axis, -1)
  flat = moved.reshape(-1, moved.shape[-1])
  out = jax.lax.linalg.triangular_solve(q.astype(dtype), flat, left_side=False, lower=False)
  return jnp.moveaxis(out.reshape(moved.shape), -1, axis)


def _norm_lower_bound(a):
  """A cheap lower bound of the spectral norm of a Hermitian PSD `a` (within about sqrt(2) of it).

  `||a x|| / ||x||` for `x = a r`, `r` the row of `a` with the largest energy
  (Li's `norm_lower_bound`; for a Hermitian matrix its row and column variants
  coincide, so only the row one is computed).
  """
  max_abs = jnp.max(jnp.abs(a))
  a = a / jnp.where(max_abs > 0, max_abs, 1).astype(max_abs.dtype)
  j = jnp.argmax(jnp.sum(jnp.real(a * jnp.conj(a)), axis=1))
  x = a @ jnp.conj(jax.lax.dynamic_index_in_dim(a, j, 0, keepdims=False))
  x_norm = jnp.linalg.norm(x)
  x = x / jnp.where(x_norm > 0, x_norm, 1).astype(x_norm.dtype)
  return max_abs * jnp.linalg.norm(jnp.conj(a).T @ x)


def _add_tiny(x):
  return x + jnp.finfo(x.dtype).tiny


def _update_factors(qs, diag, g, v, lr):
  """One PSGD step on the factors of one leaf from the (damped) gradient `g` and probe `v`.

  With `A = Q g` (all factors applied) and `B^H = v^H Q^{-1}`, each factor
  moves down the gradient of the whitening criterion:
  `Q_i <- Q_i - lr * triu(A A^H - B B^H)_i / ||A A^H + B B^H||_i Q_i`, the
  contractions taken over every other dim (diagonals for diagonal factors).
  """
  a = g
  conj_b = jnp.conj(v)
  for axis, (q, dg) in enumerate(zip(qs, diag)):
    a = _mul_factor(a, q, axis, dg)
    conj_b = _solve_factor(conj_b, q, axis, dg)
  new = []
  for axis, (q, dg) in enumerate(zip(qs, diag)):
    others = tuple(i for i in range(g.ndim) if i != axis)
    if dg:
      t1 = jnp.sum(numerics.abs_sq(a), axis=others)
      t2 = jnp.sum(numerics.abs_sq(conj_b), axis=others)
      step = lr * (t1 - t2) * q / _add_tiny(jnp.max(jnp.abs(t1 + t2)))
    else:
      t1 = _factors.gram(a, axis)
      t2 = _factors.gram(jnp.conj(conj_b), axis)
      step = jnp.triu(lr * (t1 - t2)) / _add_tiny(_norm_lower_bound(t1 + t2)) @ q
    new.append(q - step)
  return tuple(new)


def _balance(qs):
  """Rescales a leaf's factors to equal max-abs (their geometric mean); the product is unchanged."""
  if len(qs) < 2:
    return qs
  norms = jnp.stack([jnp.max(jnp.abs(q)).astype(jnp.float32) for q in qs])
  gmean = jnp.prod(norms) ** (1.0 / len(qs))
  return tuple(q * (gmean / n).astype(q.dtype) for q, n in zip(qs, norms))


def _precondition(qs, diag, g):
  """`P g` with `P = Q^H Q` factor by factor."""
  for axis, (q, dg) in enumerate(zip(qs, diag)):
    g = _mul_factor(_mul_factor(g, q, axis, dg), q, axis, dg, conj=True)
  return g


@checks.public
def scale_by_kron(
    b1: float = 0.9,
    preconditioner_update_probability: Union[float, Callable[[jax.Array], Any]] = (
        precond_update_prob_schedule()),
    max_size_triangular: int = 8192,
    min_ndim_triangular: int = 2,
    memory_save_mode: Optional[str] = None,
    momentum_into_precond_update: bool = True,
    precond_lr: float = 0.1,
    precond_init_scale: float = 1.0,
    mu_dtype: Optional[Any] = None,
    precond_dtype: Optional[Any] = None,
    precond_update_precision: Optional[str] = "tensorfloat32",
    precond_grads_precision: Optional[str] = None,
    key: Union[int, jax.Array] = 5318008,
) -> base.GradientTransformation:
  """Preconditions updates with PSGD Kron: `P = Q^H Q`, `Q` a Kronecker product of factors.

  Per leaf, with momentum `m_t` (bias-corrected EMA of the gradient, `b1 > 0`):

  .. math::
    h = m_t + \\sqrt{\\epsilon_{f32}}\\, \\overline{|m_t|}\\, v, \\quad v \\sim N(0, I), \\quad
    A = Q h, \\quad B^H = v^H Q^{-1}, \\\\
    Q_i \\leftarrow Q_i - \\eta_Q \\frac{\\mathrm{triu}(A A^H - B B^H)_i}
    {\\lVert A A^H + B B^H \\rVert_i} Q_i, \\qquad
    u = \\frac{P m_t}{\\max(1, \\mathrm{rms}(P m_t) / 1.1)}

  The factor update (Li's gradient-whitening criterion, `E[h^H P h + v^H P^{-1} v]`)
  drives `P` towards `E[h h^H]^{-1/2}`. It runs when the step counter since the
  last one reaches `1 / preconditioner_update_probability` (a schedule of the
  step count), under `lax.cond`; the random probe `v` and the occasional
  balancing of the factors (probability 0.01 per update) come from
  `fold_in(key, count)`, so the transform is deterministic, jittable and
  vmappable. Li, 2015, "Preconditioned Stochastic Gradient Descent"
  (https://arxiv.org/abs/1512.04202); Li, 2018, "Preconditioner on Matrix Lie
  Group for SGD" (https://arxiv.org/abs/1809.10232); this follows psgd-jax's
  `scale_by_kron` (https://github.com/evanatyourservice/psgd_jax) step by step.

  Factors: a dim gets a diagonal factor (a vector) if its size is 1 or
  > `max_size_triangular`, if the leaf has fewer than `min_ndim_triangular`
  dims (so 1-D leaves are diagonal: Adam-like memory), or by
  `memory_save_mode` (`"one_diag"`: the largest dim, `"all_diag"`: all);
  otherwise an upper-triangular `(d, d)` factor. Scalars have one scalar
  factor (stored with shape `(1,)`). Factors start at
  `precond_init_scale ** (1 / ndim)` times the identity.

  Args:
    b1: momentum decay, in [0, 1); 0 disables momentum (no `mu` state).
    preconditioner_update_probability: a probability in (0, 1] or a schedule of
      the step count (default: `precond_update_prob_schedule()`).
    max_size_triangular: the largest dim with a triangular factor.
    min_ndim_triangular: leaves with fewer dims get diagonal factors only.
    memory_save_mode: None, `"one_diag"` or `"all_diag"`.
    momentum_into_precond_update: fit the preconditioner to the momentum (True)
      or to the raw gradient.
    precond_lr: the factors' step size, >= 0.
    precond_init_scale: the initial scale of `P`'s square root, > 0.
    mu_dtype: dtype of the momentum (default: the param's).
    precond_dtype: dtype of the factors (default float32).
    precond_update_precision: `jax.default_matmul_precision` of the factor
      update (`"bfloat16"`, `"tensorfloat32"`, `"float32"` or None).
    precond_grads_precision: the same for preconditioning the update.
    key: an int seed or a PRNG key for the probes.

  Returns:
    A `GradientTransformation` with state `ScaleByKronState`. Updates keep each
    param's dtype.
  """
  fn = "scale_by_kron"
  checks.check_decay(fn, "b1", b1)
  checks.check_key(fn, "key", key)
  if not callable(preconditioner_update_probability):
    checks.check_range(fn, "preconditioner_update_probability",
                       preconditioner_update_probability, 0.0, 1.0, low_inclusive=False)
  checks.check_positive_int(fn, "max_size_triangular", max_size_triangular)
  checks.check_int(fn, "min_ndim_triangular", min_ndim_triangular, 0)
  if memory_save_mode not in MEMORY_SAVE_MODES:
    raise ValueError(
        f"{fn}: `memory_save_mode` must be one of {MEMORY_SAVE_MODES}, got {memory_save_mode!r}.")
  checks.check_nonnegative(fn, "precond_lr", precond_lr)
  checks.check_range(fn, "precond_init_scale", precond_init_scale, 0.0, None, low_inclusive=False)
  checks.check_finite(fn, "precond_init_scale", precond_init_scale)
  mu_dtype = numerics.canonicalize_dtype(mu_dtype)
  precond_dtype = numerics.canonicalize_dtype(precond_dtype) or jnp.dtype(jnp.float32)
  use_mu = checks.concrete_value(b1) is None or float(b1) > 0

  def layout(x):
    shape = tuple(jnp.shape(x)) or (1,)
    return shape, _diagonal_dims(shape, max_size_triangular, min_ndim_triangular, memory_save_mode)

  def init_leaf(p):
    shape, diag = layout(p)
    scale = precond_init_scale ** (1.0 / len(shape))
    return tuple(
        scale * (jnp.ones(d, precond_dtype) if dg else jnp.eye(d, dtype=precond_dtype))
        for d, dg in zip(shape, diag))

  def init_fn(params):
    return ScaleByKronState(
        count=numerics.init_count(),
        mu=numerics.zeros_like(params, dtype=mu_dtype) if use_mu else None,
        preconditioners=jax.tree.map(init_leaf, params),
        update_counter=numerics.init_count(),
    )

  def update_fn(updates, state, params=None):
    del params
    grads, treedef = jax.tree.flatten(updates)
    qs = _factors.flatten_per_leaf(fn, treedef, state.preconditioners, "state")
    count = numerics.safe_increment(state.count)
    base_key = jax.random.PRNGKey(key) if isinstance(key, (int, np.integer)) else key
    step_key = jax.random.fold_in(base_key, state.count)
    prob = numerics.resolve(preconditioner_update_probability, count)

    mu = None
    moms = grads
    if use_mu:
      mu = numerics.update_moment(updates, state.mu, b1, 1)
      moms = treedef.flatten_up_to(numerics.bias_correction(mu, b1, count))
    layouts = [layout(g) for g in grads]
    as_internal = lambda xs: [x.reshape(shape) for x, (shape, _) in zip(xs, layouts)]

    def update_preconditioners(k, qs_):
      with jax.default_matmul_precision(precond_update_precision):
        fit = as_internal(moms if momentum_into_precond_update else grads)
        k, sub = jax.random.split(k)
        qs_ = jax.lax.cond(
            jax.random.uniform(sub) < _BALANCE_PROBABILITY,
            lambda q: [_balance(x) for x in q], lambda q: q, qs_)
        k, sub = jax.random.split(k)
        probe_keys = jax.random.split(sub, len(fit))
        probes = [jax.random.normal(pk, h.shape, h.dtype) for pk, h in zip(probe_keys, fit)]
        damp = jnp.sqrt(jnp.finfo(jnp.float32).eps)
        fit = [h + damp.astype(h.dtype) * jnp.mean(jnp.abs(h)) * v for h, v in zip(fit, probes)]
        new = [_update_factors(q, diag, h, v, precond_lr)
               for q, (_, diag), h, v in zip(qs_, layouts, fit, probes)]
        return [tuple(x.astype(precond_dtype) for x in q) for q in new]

    counter = numerics.safe_increment(state.update_counter)
    do_update = counter >= 1 / prob
    counter = jnp.where(do_update, 0, counter).astype(state.update_counter.dtype)
    _, sub = jax.random.split(step_key)
    qs = jax.lax.cond(
        do_update, update_preconditioners, lambda _, q: q, sub, [tuple(q) for q in qs])

    with jax.default_matmul_precision(precond_grads_precision):
      pre = [_precondition(q, diag, m) for q, (_, diag), m in zip(qs, layouts, as_internal(moms))]
    out = []
    for u, g in zip(pre, grads):
      rms = jnp.sqrt(jnp.mean(numerics.abs_sq(u)))
      out.append((u / jnp.maximum(1.0, rms / 1.1)).reshape(g.shape).astype(g.dtype))

    unflat = lambda xs: jax.tree.unflatten(treedef, xs)
    new_mu = numerics.cast_like(mu, state.mu) if use_mu else None
    return unflat(out), ScaleByKronState(
        count=count, mu=new_mu, preconditioners=unflat(qs), update_counter=counter)

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn),
      "per_leaf", "scale_by_kron",
      why="a Kronecker-factored preconditioner of each leaf")


@checks.public
def kron(
    learning_rate: base.ScalarOrSchedule = 0.001,
    b1: float = 0.9,
    weight_decay: base.ScalarOrSchedule = 0.0,
    weight_decay_mask: Optional[Any] = None,
    preconditioner_update_probability: Union[float, Callable[[jax.Array], Any]] = (
        precond_update_prob_schedule()),
    max_size_triangular: int = 8192,
    min_ndim_triangular: int = 2,
    memory_save_mode: Optional[str] = None,
    momentum_into_precond_update: bool = True,
    precond_lr: float = 0.1,
    precond_init_scale: float = 1.0,
    mu_dtype: Optional[Any] = None,
    precond_dtype: Optional[Any] = None,
    precond_update_precision: Optional[str] = "tensorfloat32",
    precond_grads_precision: Optional[str] = None,
    key: Union[int, jax.Array] = 5318008,
) -> base.GradientTransformationExtraArgs:
  """PSGD Kron: `theta <- theta - lr * (kron_direction + weight_decay * theta)`.

  See `scale_by_kron` for the preconditioner and its rule for scalars, 1-D
  leaves and large dims. Argument names follow psgd-jax / kron_torch
  (`precond_lr`, `precond_init_scale` as in kron_torch). Weight decay is
  decoupled and left out when it is a known 0 (then `params` are not needed).

  Args:
    learning_rate: a non-negative float, scalar array or schedule.
    b1: momentum decay.
    weight_decay: decoupled weight decay, >= 0, or a schedule.
    weight_decay_mask: which leaves to decay (tree of bools or function of params).
    preconditioner_update_probability: a probability or a schedule.
    max_size_triangular: the largest dim with a triangular factor.
    min_ndim_triangular: leaves with fewer dims get diagonal factors only.
    memory_save_mode: None, `"one_diag"` or `"all_diag"`.
    momentum_into_precond_update: fit the preconditioner to the momentum.
    precond_lr: the factors' step size.
    precond_init_scale: the initial scale of the preconditioner.
    mu_dtype: dtype of the momentum.
    precond_dtype: dtype of the factors.
    precond_update_precision: matmul precision of the factor update.
    precond_grads_precision: matmul precision of preconditioning.
    key: an int seed or a PRNG key for the probes.

  Returns:
    `chain(scale_by_kron(...), add_decayed_weights(weight_decay,
    weight_decay_mask), scale_by_learning_rate(learning_rate))`.

  Example:
    >>> import jax, jax.numpy as jnp, jopt
    >>> tx = jopt.kron(1e-3)
    >>> params = {"w": jnp.ones((4, 3))}
    >>> state = tx.init(params)
    >>> grads = jax.grad(lambda p: jnp.sum(p["w"] ** 2))(params)
    >>> updates, state = tx.update(grads, state)
  """
  return combine.chain(
      scale_by_kron(
          b1=b1, preconditioner_update_probability=preconditioner_update_probability,
          max_size_triangular=max_size_triangular, min_ndim_triangular=min_ndim_triangular,
          memory_save_mode=memory_save_mode,
          momentum_into_precond_update=momentum_into_precond_update, precond_lr=precond_lr,
          precond_init_scale=precond_init_scale, mu_dtype=mu_dtype, precond_dtype=precond_dtype,
          precond_update_precision=precond_update_precision,
          precond_grads_precision=precond_grads_precision, key=key,
      ),
      *_factors.optional_weight_decay(weight_decay, weight_decay_mask),
      scaling.scale_by_learning_rate(learning_rate),
  )
