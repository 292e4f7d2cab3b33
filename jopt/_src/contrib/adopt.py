"""ADOPT: Adam with the second moment of the previous step and the first moment of normalized gradients."""

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src import combine
from jopt._src.transforms import adam
from jopt._src.transforms import scaling


def _default_clip_value(count: jax.Array) -> jax.Array:
  return count**0.25


@checks.public
def scale_by_adopt(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.9999,
    eps: jax.typing.ArrayLike = 1e-6,
    mu_dtype: Optional[jax.typing.DTypeLike] = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = _default_clip_value,
) -> base.GradientTransformation:
  r"""Rescales updates by the ADOPT rule.

  Unlike Adam, the gradient is normalized by the second moment of the
  *previous* step before it enters the first moment, which removes the
  correlation between the two that makes Adam diverge for some `b2`:

  .. math::
    \tilde g_t = \mathrm{clip}\big(g_t / \max(\sqrt{v_{t-1}}, \epsilon), \pm c(t-1)\big), \quad
    m_t = \beta_1 m_{t-1} + (1-\beta_1) \tilde g_t, \quad
    v_t = \beta_2 v_{t-1} + (1-\beta_2) |g_t|^2, \quad u_t = m_t.

  At the first step (`t = 1`) only `v_1 = |g_1|^2` is set and `m_1 = m_0 = 0`
  (so the first update is zero). With `nesterov`,
  :math:`u_t = \beta_1 m_t + (1-\beta_1) \tilde g_t`. The clip bound is
  `c(t-1) = clip_value_fn(t - 1)` (default `(t-1)^{1/4}`).

  Taniguchi et al., 2024, "ADOPT: Modified Adam Can Converge with Any beta2 with
  the Optimal Rate" (https://arxiv.org/abs/2411.02853).

  Args:
    b1: decay of the first moment, in [0, 1).
    b2: decay of the second moment, in [0, 1).
    eps: floor of the normalizer `sqrt(v)`, >= 0.
    mu_dtype: dtype of the first moment (default: the param's).
    nesterov: use the Nesterov form of the first moment.
    use_clipping: clip the normalized gradient to `[-c, c]`.
    clip_value_fn: the clip bound as a function of the step count (0-based).

  Returns:
    A `GradientTransformation` with state `ScaleByAdamState` (`count`, `mu`, `nu`).
    Updates keep each param's dtype.
  """
  fn = "scale_by_adopt"
  checks.check_decay(fn, "b1", b1)
  checks.check_decay(fn, "b2", b2)
  checks.check_nonnegative(fn, "eps", eps)
  checks.check_bool(fn, "nesterov", nesterov)
  checks.check_bool(fn, "use_clipping", use_clipping)
  if use_clipping and not callable(clip_value_fn):
    raise ValueError(
        f"{checks._name(fn)}: `clip_value_fn` must be a function of the step count, got {clip_value_fn!r}."
    )
  mu_dtype = numerics.canonicalize_dtype(mu_dtype)

  def init_fn(params):
    return adam.ScaleByAdamState(
        count=numerics.init_count(),
        mu=numerics.zeros_like(params, dtype=mu_dtype),
        nu=numerics.zeros_like(params),
    )

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.mu, shapes=True)
    started = state.count > 0
    # The first step only fills the second moment: v_1 = |g_1|^2 and m_1 = m_0.
    b1_ = jnp.where(started, b1, 1)
    b2_ = jnp.where(started, b2, 0)
    nu = numerics.update_moment_per_elem_norm(updates, state.nu, b2_, 2)

    def normalize(g, v):
      g = g / jnp.maximum(jnp.sqrt(v), eps)
      if use_clipping:
        bound = clip_value_fn(state.count)
        g = jnp.clip(g, -bound, bound)
      return g

    normalized = numerics.tree_map(normalize, updates, state.nu)
    mu = numerics.update_moment(normalized, state.mu, b1_, 1)
    direction = numerics.update_moment(normalized, mu, b1_, 1) if nesterov else mu
    new_updates = numerics.cast_like(direction, updates)
    mu = numerics.cast(mu, mu_dtype) if mu_dtype else numerics.cast_like(mu, state.mu)
    nu = numerics.cast_like(nu, state.nu)
    return new_updates, adam.ScaleByAdamState(
        count=numerics.safe_increment(state.count), mu=mu, nu=nu
    )

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "elementwise", "scale_by_adopt")


@checks.public
def adopt(
    learning_rate: base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.9999,
    eps: jax.typing.ArrayLike = 1e-6,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jnp.ndarray], jnp.ndarray] = _default_clip_value,
) -> base.GradientTransformationExtraArgs:
  r"""ADOPT: `scale_by_adopt` followed by the learning rate.

  .. math::
    \theta_t = \theta_{t-1} - \eta_t m_t

  with `m_t` the first moment of clipped, normalized gradients described in
  :func:`scale_by_adopt`. ADOPT converges for any `b2`, where Adam needs `b2`
  chosen for the problem; the first update is zero.

  Taniguchi et al., 2024, "ADOPT: Modified Adam Can Converge with Any beta2 with
  the Optimal Rate" (https://arxiv.org/abs/2411.02853).

  Args:
    learning_rate: a float or a schedule of the step count.
    b1: decay of the first moment, in [0, 1).
    b2: decay of the second moment, in [0, 1).
    eps: floor of the normalizer `sqrt(v)`, >= 0.
    mu_dtype: dtype of the first moment (default: the param's).
    nesterov: use the Nesterov form of the first moment.
    use_clipping: clip the normalized gradient (recommended from scratch).
    clip_value_fn: the clip bound as a function of the step count (0-based).

  Returns:
    A `GradientTransformationExtraArgs`: `chain(scale_by_adopt(...),
    scale_by_learning_rate(learning_rate))`.

  Example:
    >>> import jax.numpy as jnp
    >>> from jopt.contrib import adopt
    >>> tx = adopt(3e-3)
    >>> state = tx.init(jnp.ones(3))
  """
  return combine.chain(
      scale_by_adopt(
          b1=b1,
          b2=b2,
          eps=eps,
          mu_dtype=mu_dtype,
          nesterov=nesterov,
          use_clipping=use_clipping,
          clip_value_fn=clip_value_fn,
      ),
      scaling.scale_by_learning_rate(learning_rate),
  )
