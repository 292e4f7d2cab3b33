"""AdEMAMix (Adam with a fast and a slow EMA of the gradients) and its simplified, single-EMA form."""

from typing import Any, Callable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src import combine
from jopt._src.transforms import regularization
from jopt._src.transforms import scaling


class ScaleByAdemamixState(NamedTuple):
  """State of `scale_by_ademamix`."""

  count: jax.Array  # shape=(), dtype=int32: steps of the fast EMA and second moment.
  count_m2: jax.Array  # shape=(), dtype=int32: steps of the slow EMA (the schedules' input).
  m1: base.Updates  # fast EMA of the gradients, like params (mu_dtype).
  m2: base.Updates  # slow EMA of the gradients, like params (mu_dtype).
  nu: base.Updates  # EMA of |g|^2, like params (mu_dtype).


def _check_common(fn: str, b1: Any, b2: Any, eps: Any, eps_root: Any) -> None:
  checks.check_decay(fn, "b1", b1)
  checks.check_decay(fn, "b2", b2)
  checks.check_nonnegative(fn, "eps", eps)
  checks.check_nonnegative(fn, "eps_root", eps_root)


def _rms_denominator(nu_hat: jax.Array, eps: Any, eps_root: Any) -> jax.Array:
  return jnp.sqrt(nu_hat + eps_root) + eps


@checks.public
def scale_by_ademamix(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    b3: base.ScalarOrSchedule = 0.9999,
    alpha: base.ScalarOrSchedule = 6.0,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Optional[jax.typing.DTypeLike] = None,
) -> base.GradientTransformation:
  r"""Rescales updates by AdEMAMix's mixture of a fast and a slow gradient EMA.

  .. math::
    m^{(1)}_t = \beta_1 m^{(1)}_{t-1} + (1-\beta_1) g_t, \quad
    m^{(2)}_t = \beta_3 m^{(2)}_{t-1} + (1-\beta_3) g_t, \quad
    \nu_t = \beta_2 \nu_{t-1} + (1-\beta_2) |g_t|^2, \\
    u_t = \frac{m^{(1)}_t / (1-\beta_1^t) + \alpha\, m^{(2)}_t}
               {\sqrt{\nu_t / (1-\beta_2^t) + \bar\epsilon} + \epsilon}.

  The slow EMA is not bias-corrected, so it fills slowly; `b3` and `alpha` may
  be schedules of the step count (0 at the first update), the paper's warmups.

  Pagliardini et al., 2024, "The AdEMAMix Optimizer: Better, Faster, Older"
  (https://arxiv.org/abs/2409.03137).

  Args:
    b1: decay of the fast EMA, in [0, 1).
    b2: decay of the second moment, in [0, 1).
    b3: decay of the slow EMA, a float in [0, 1) or a schedule.
    alpha: weight of the slow EMA, a float or a schedule.
    eps: added to the denominator outside the square root, >= 0.
    eps_root: added inside the square root, >= 0.
    mu_dtype: dtype of the three accumulators (default: the param's). Unlike
      optax, the accumulators keep this dtype after every step.

  Returns:
    A `GradientTransformation` with state `ScaleByAdemamixState`. Updates keep
    each param's dtype.
  """
  fn = "scale_by_ademamix"
  _check_common(fn, b1, b2, eps, eps_root)
  checks.check_decay(fn, "b3", b3)
  checks.check_finite(fn, "alpha", alpha)
  mu_dtype = numerics.canonicalize_dtype(mu_dtype)

  def init_fn(params):
    return ScaleByAdemamixState(
        count=numerics.init_count(),
        count_m2=numerics.init_count(),
        m1=numerics.zeros_like(params, dtype=mu_dtype),
        m2=numerics.zeros_like(params, dtype=mu_dtype),
        nu=numerics.zeros_like(params, dtype=mu_dtype),
    )

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.m1, shapes=True)
    b3_t = numerics.resolve(b3, state.count_m2)
    alpha_t = numerics.resolve(alpha, state.count_m2)
    m1 = numerics.update_moment(updates, state.m1, b1, 1)
    m2 = numerics.update_moment(updates, state.m2, b3_t, 1)
    nu = numerics.update_moment_per_elem_norm(updates, state.nu, b2, 2)
    count = numerics.safe_increment(state.count)
    m1_hat = numerics.bias_correction(m1, b1, count)
    nu_hat = numerics.bias_correction(nu, b2, count)
    new_updates = numerics.tree_map(
        lambda g, f, s, v: ((f + alpha_t * s) / _rms_denominator(v, eps, eps_root)).astype(g.dtype),
        updates, m1_hat, m2, nu_hat,
    )
    return new_updates, ScaleByAdemamixState(
        count=count,
        count_m2=numerics.safe_increment(state.count_m2),
        m1=numerics.cast_like(m1, state.m1),
        m2=numerics.cast_like(m2, state.m2),
        nu=numerics.cast_like(nu, state.nu),
    )

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "elementwise", "scale_by_ademamix")


@checks.public
def ademamix(
    learning_rate: base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    b3: base.ScalarOrSchedule = 0.9999,
    alpha: base.ScalarOrSchedule = 5.0,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Optional[Any] = None,
    weight_decay: jax.typing.ArrayLike = 0.0,
    mask: Optional[Union[Any, Callable[[base.Params], Any]]] = None,
) -> base.GradientTransformation:
  r"""AdEMAMix: AdamW whose numerator mixes a fast and a slow EMA of the gradients.

  .. math::
    \theta_t = \theta_{t-1} - \eta_t \left(u_t + \lambda \theta_{t-1}\right)

  with `u_t` from :func:`scale_by_ademamix` and :math:`\lambda` = `weight_decay`
  (decoupled, multiplied by the learning rate as in PyTorch's AdamW). Best for
  long runs: small `b3` (e.g. 0.999) suits short ones.

  Pagliardini et al., 2024, "The AdEMAMix Optimizer: Better, Faster, Older"
  (https://arxiv.org/abs/2409.03137).

  Args:
    learning_rate: a float or a schedule of the step count.
    b1: decay of the fast EMA, in [0, 1).
    b2: decay of the second moment, in [0, 1).
    b3: decay of the slow EMA, a float or a schedule.
    alpha: weight of the slow EMA, a float or a schedule.
    eps: added to the denominator outside the square root.
    eps_root: added inside the square root.
    mu_dtype: dtype of the accumulators (default: the param's).
    weight_decay: decoupled weight decay strength.
    mask: which leaves to decay: a tree of bools or a function of the params.

  Returns:
    `chain(scale_by_ademamix(...), add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate))`.

  Example:
    >>> import jax.numpy as jnp
    >>> from jopt.contrib import ademamix
    >>> tx = ademamix(1e-2)
    >>> state = tx.init(jnp.ones(3))
  """
  return combine.chain(
      scale_by_ademamix(
          b1=b1, b2=b2, b3=b3, alpha=alpha, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype
      ),
      regularization.add_decayed_weights(weight_decay, mask),
      scaling.scale_by_learning_rate(learning_rate),
  )


class ScaleBySimplifiedAdEMAMixState(NamedTuple):
  """State of `scale_by_simplified_ademamix`."""

  t: jax.Array  # shape=(), dtype=int32: the number of updates so far.
  m: base.Updates  # accumulated (undamped) gradient sum, like params.
  n: base.Updates  # EMA of |g|^2, like params (real).


@checks.public
def scale_by_simplified_ademamix(
    b1: jax.typing.ArrayLike = 0.99,
    b2: jax.typing.ArrayLike = 0.95,
    alpha: base.ScalarOrSchedule = 0.0,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
) -> base.GradientTransformation:
  r"""Rescales updates by simplified AdEMAMix: one momentum sum plus a weighted current gradient.

  .. math::
    m_t = \beta_1 m_{t-1} + g_t, \quad
    n_t = \beta_2 n_{t-1} + (1-\beta_2) |g_t|^2, \quad
    u_t = \frac{m_t + \alpha g_t}{\sqrt{n_t / (1-\beta_2^t) + \bar\epsilon} + \epsilon}.

  `m` is a sum, not an average (no `1 - b1` factor, no bias correction);
  `alpha` may be a schedule of the step count. `alpha = 0` is Adam with a
  rescaled learning rate and `b1`.

  Morwani et al., 2025, "Connections between Schedule-Free Optimizers,
  AdEMAMix, and Accelerated SGD Variants" (https://arxiv.org/abs/2502.02431).

  Args:
    b1: decay of the momentum sum, in [0, 1).
    b2: decay of the second moment, in [0, 1).
    alpha: weight of the current gradient, a float or a schedule.
    eps: added to the denominator outside the square root, >= 0.
    eps_root: added inside the square root, >= 0.

  Returns:
    A `GradientTransformation` with state `ScaleBySimplifiedAdEMAMixState`.
    Updates keep each param's dtype.
  """
  fn = "scale_by_simplified_ademamix"
  _check_common(fn, b1, b2, eps, eps_root)
  checks.check_finite(fn, "alpha", alpha)

  def init_fn(params):
    return ScaleBySimplifiedAdEMAMixState(
        t=numerics.init_count(),
        m=numerics.zeros_like(params),
        n=numerics.real_full_like(params, 0),
    )

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.m, shapes=True)
    alpha_t = numerics.resolve(alpha, state.t)
    m = numerics.tree_map(lambda g, m: g + b1 * m, updates, state.m)
    n = numerics.update_moment_per_elem_norm(updates, state.n, b2, 2)
    t = numerics.safe_increment(state.t)
    n_hat = numerics.bias_correction(n, b2, t)
    new_updates = numerics.tree_map(
        lambda g, m, v: ((m + alpha_t * g) / _rms_denominator(v, eps, eps_root)).astype(g.dtype),
        updates, m, n_hat,
    )
    return new_updates, ScaleBySimplifiedAdEMAMixState(
        t=t, m=numerics.cast_like(m, state.m), n=numerics.cast_like(n, state.n)
    )

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn),
      "elementwise", "scale_by_simplified_ademamix")


@checks.public
def simplified_ademamix(
    learning_rate: base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.99,
    b2: jax.typing.ArrayLike = 0.95,
    alpha: base.ScalarOrSchedule = 0.0,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    mask: Optional[Union[Any, Callable[[base.Params], Any]]] = None,
) -> base.GradientTransformation:
  r"""Simplified AdEMAMix: one momentum buffer, no slow EMA, no `alpha` schedule needed.

  .. math::
    \theta_t = \theta_{t-1} - \eta_t \left(u_t + \lambda \theta_{t-1}\right)

  with `u_t` from :func:`scale_by_simplified_ademamix` and :math:`\lambda` =
  `weight_decay` (decoupled, multiplied by the learning rate).

  Morwani et al., 2025, "Connections between Schedule-Free Optimizers,
  AdEMAMix, and Accelerated SGD Variants" (https://arxiv.org/abs/2502.02431).

  Args:
    learning_rate: a float or a schedule of the step count.
    b1: decay of the momentum sum, in [0, 1).
    b2: decay of the second moment, in [0, 1).
    alpha: weight of the current gradient, a float or a schedule.
    eps: added to the denominator outside the square root.
    eps_root: added inside the square root.
    weight_decay: decoupled weight decay strength.
    mask: which leaves to decay: a tree of bools or a function of the params.

  Returns:
    `chain(scale_by_simplified_ademamix(...), add_decayed_weights(weight_decay,
    mask), scale_by_learning_rate(learning_rate))`.

  Example:
    >>> import jax.numpy as jnp
    >>> from jopt.contrib import simplified_ademamix
    >>> tx = simplified_ademamix(1e-2)
    >>> state = tx.init(jnp.ones(3))
  """
  return combine.chain(
      scale_by_simplified_ademamix(b1=b1, b2=b2, alpha=alpha, eps=eps, eps_root=eps_root),
      regularization.add_decayed_weights(weight_decay, mask),
      scaling.scale_by_learning_rate(learning_rate),
  )
