"""Layer-wise (per-leaf) scaling: trust ratios (LARS, LAMB), parameter-scale steps (Adafactor) and NovoGrad."""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics




def _floored_sqrt(sum_sq: jax.Array, floor: Any) -> jax.Array:
  """`max(sqrt(sum_sq), floor)`, with a finite gradient at `sum_sq = 0` (sqrt's is infinite there)."""
  positive = sum_sq > 0
  root = jnp.where(positive, jnp.sqrt(jnp.where(positive, sum_sq, 1.0)), 0.0)
  return jnp.where(root <= floor, jnp.asarray(floor, root.dtype), root)


def _block_norm(x: jax.Array, min_norm: Any) -> jax.Array:
  """`max(||x||_2, min_norm)` for one leaf (all its elements together)."""
  return _floored_sqrt(numerics.leaf_sum_of_squares(x), min_norm)


def _block_rms(x: jax.Array, min_rms: Any) -> jax.Array:
  """`max(rms(x), min_rms)` for one leaf."""
  return _floored_sqrt(numerics.leaf_sum_of_squares(x) / max(x.size, 1), min_rms)


def _needs_params(fn: str, updates: Any, params: Any) -> None:
  checks.require_params(fn, params)
  checks.check_same_structure(fn, updates, params, "params", shapes=True)


@checks.public
def scale_by_trust_ratio(
    min_norm: jax.typing.ArrayLike = 0.0,
    trust_coefficient: jax.typing.ArrayLike = 1.0,
    eps: jax.typing.ArrayLike = 0.0,
) -> base.GradientTransformation:
  """Scales each leaf's update by its trust ratio `||theta|| / ||u||`.

  .. math::
    u \\leftarrow u \\cdot \\frac{k\\, \\max(\\|\\theta\\|, n_{min})}{\\max(\\|u\\|, n_{min}) + \\epsilon}

  per leaf, with ratio 1 where either norm is 0 (a leaf that would otherwise
  never move). Used by LARS (You et al., 2017, https://arxiv.org/abs/1708.03888)
  and LAMB (You et al., 2020, https://arxiv.org/abs/1904.00962).

  Args:
    min_norm: floor of both norms, >= 0.
    trust_coefficient: the multiplier `k`, >= 0.
    eps: added to the update norm in the denominator, >= 0.

  Returns:
    A stateless `GradientTransformation` that needs `params`. Updates keep each
    param's dtype.
  """
  fn = "scale_by_trust_ratio"
  checks.check_nonnegative(fn, "min_norm", min_norm)
  checks.check_nonnegative(fn, "trust_coefficient", trust_coefficient)
  checks.check_nonnegative(fn, "eps", eps)

  def scale_leaf(u, p):
    param_norm = _block_norm(p, min_norm)
    update_norm = _block_norm(u, min_norm)
    ratio = trust_coefficient * param_norm / (update_norm + eps)
    zero = jnp.logical_or(param_norm == 0.0, update_norm == 0.0)
    ratio = jnp.where(zero, jnp.ones([], ratio.dtype), ratio)
    return (u * ratio).astype(u.dtype)

  def update_fn(updates, state, params=None):
    _needs_params(fn, updates, params)
    return numerics.tree_map(scale_leaf, updates, params), state

  return base.declare_fusion(
      base.GradientTransformation(base.init_empty_state, update_fn),
      "per_leaf", "scale_by_trust_ratio",
      why="the norms of each leaf and its parameter")


@checks.public
def scale_by_param_block_rms(min_scale: jax.typing.ArrayLike = 1e-3) -> base.GradientTransformation:
  """Scales each leaf's update by the rms of its parameter: `u <- u * max(rms(theta), min_scale)`.

  Adafactor's relative step size (Shazeer & Stern, 2018,
  https://arxiv.org/abs/1804.04235, section 8).

  Args:
    min_scale: floor of the rms, >= 0.

  Returns:
    A stateless `GradientTransformation` that needs `params`.
  """
  checks.check_nonnegative("scale_by_param_block_rms", "min_scale", min_scale)

  def update_fn(updates, state, params=None):
    _needs_params("scale_by_param_block_rms", updates, params)
    updates = numerics.tree_map(
        lambda u, p: (u * _block_rms(p, min_scale)).astype(u.dtype), updates, params
    )
    return updates, state

  return base.declare_fusion(
      base.GradientTransformation(base.init_empty_state, update_fn),
      "per_leaf", "scale_by_param_block_rms",
      why="the RMS of each parameter leaf")


@checks.public
def scale_by_param_block_norm(min_scale: jax.typing.ArrayLike = 1e-3) -> base.GradientTransformation:
  """Scales each leaf's update by the l2 norm of its parameter: `u <- u * max(||theta||, min_scale)`.

  Args:
    min_scale: floor of the norm, >= 0.

  Returns:
    A stateless `GradientTransformation` that needs `params`.
  """
  checks.check_nonnegative("scale_by_param_block_norm", "min_scale", min_scale)

  def update_fn(updates, state, params=None):
    _needs_params("scale_by_param_block_norm", updates, params)
    updates = numerics.tree_map(
        lambda u, p: (u * _block_norm(p, min_scale)).astype(u.dtype), updates, params
    )
    return updates, state

  return base.declare_fusion(
      base.GradientTransformation(base.init_empty_state, update_fn),
      "per_leaf", "scale_by_param_block_norm",
      why="the norm of each parameter leaf")


class ScaleByNovogradState(NamedTuple):
  """State of `scale_by_novograd`."""

  count: jax.Array  # shape=(), dtype=int32.
  mu: base.Updates  # first moment, like params (dtype: mu_dtype or the param's).
  nu: base.Updates  # one scalar per leaf: EMA of ||g||^2 (the param's real dtype).


@checks.public
def scale_by_novograd(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.25,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    mu_dtype: Optional[Any] = None,
) -> base.GradientTransformation:
  """NovoGrad: Adam-like moments with one second moment per leaf (layer).

  .. math::
    v_t = \\beta_2 v_{t-1} + (1-\\beta_2) \\|g_t\\|^2 \\ (v_1 = \\|g_1\\|^2), \\quad
    m_t = \\beta_1 m_{t-1} + \\frac{g_t}{\\sqrt{v_t + \\epsilon_{root}} + \\epsilon} + \\lambda \\theta_t,
    \\quad u_t = m_t

  with :math:`m_0 = 0` and the norm taken over each leaf. Ginsburg et al.,
  2019, "Stochastic Gradient Methods with Layer-wise Adaptive Moments for
  Training of Deep Networks" (https://arxiv.org/abs/1905.11286).

  The first step is selected with a scalar `where` per leaf, not `lax.cond`, so
  eager use does not recompile every step (optax's does).

  Args:
    b1: decay of the first moment, in [0, 1).
    b2: decay of the per-leaf second moment, in [0, 1).
    eps: added to the denominator, >= 0.
    eps_root: added inside the square root, >= 0.
    weight_decay: the coefficient :math:`\\lambda`, >= 0, or a schedule
      `count -> value` (jopt extension). Nonzero needs `params`.
    mu_dtype: dtype of the first moment (default: the param's).

  Returns:
    A `GradientTransformation` with state `ScaleByNovogradState`. Updates keep
    each param's dtype.
  """
  fn = "scale_by_novograd"
  checks.check_decay(fn, "b1", b1)
  checks.check_decay(fn, "b2", b2)
  checks.check_nonnegative(fn, "eps", eps)
  checks.check_nonnegative(fn, "eps_root", eps_root)
  checks.check_nonnegative(fn, "weight_decay", weight_decay)
  mu_dtype = numerics.canonicalize_dtype(mu_dtype)
  no_decay = isinstance(weight_decay, (int, float)) and weight_decay == 0

  def init_fn(params):
    return ScaleByNovogradState(
        count=numerics.init_count(),
        mu=numerics.zeros_like(params, dtype=mu_dtype),
        nu=numerics.real_full_like(jax.tree.map(lambda p: jnp.zeros([], p.dtype), params), 0.0),
    )

  def update_fn(updates, state, params=None):
    checks.check_same_structure(fn, updates, state.mu, shapes=True)
    if not no_decay:
      _needs_params(fn, updates, params)
    count = numerics.safe_increment(state.count)
    first = count == 1
    wd = numerics.resolve(weight_decay, state.count)

    def new_nu(g, n):
      sq = numerics.leaf_sum_of_squares(g).astype(n.dtype)
      return jnp.where(first, sq, (1 - b2) * sq + b2 * n).astype(n.dtype)

    nu = numerics.tree_map(new_nu, updates, state.nu)

    def new_mu(g, m, n, p):
      step = g / (jnp.sqrt(n + eps_root) + eps)
      if p is not None:
        step = step + wd * p
      return b1 * m + step

    if no_decay:
      mu = numerics.tree_map(lambda g, m, n: new_mu(g, m, n, None), updates, state.mu, nu)
    else:
      mu = numerics.tree_map(new_mu, updates, state.mu, nu, params)
    mu = numerics.cast_like(mu, state.mu)
    new_updates = numerics.cast_like(mu, updates)
    return new_updates, ScaleByNovogradState(count=count, mu=mu, nu=nu)

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn),
      "per_leaf", "scale_by_novograd",
      why="a second moment of each leaf's gradient norm")
