"""SM3: Adagrad-like scaling with one accumulator per row, column, ... instead of per coordinate."""

import functools
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src import combine
from jopt._src.transforms import scaling


class ScaleBySM3State(NamedTuple):
  """State of `scale_by_sm3`."""

  mu: base.Updates  # per leaf, a list with one vector per axis (shape (dim_i,)): the cover maxima.
  nu: base.Updates  # EMA of the scaled updates, like params.


def _axis_accumulators(p: jax.Array) -> list:
  # A scalar leaf is one cover of one coordinate.
  if p.ndim == 0:
    return [jnp.zeros((), p.dtype)]
  return [jnp.zeros((p.shape[i],), p.dtype) for i in range(p.ndim)]


def _min_over_covers(g: jax.Array, mus: list) -> jax.Array:
  """`min_r mu(r)` over the covers containing each coordinate: the row, the column, ..."""
  if g.ndim < 2:
    return mus[0]
  shaped = [jnp.reshape(mu, [1] * i + [g.shape[i]] + [1] * (g.ndim - i - 1)) for i, mu in enumerate(mus)]
  return functools.reduce(jnp.minimum, shaped)


def _max_per_axis(accum: jax.Array) -> list:
  if accum.ndim < 2:
    return [accum]
  axes = range(accum.ndim)
  return [jnp.max(accum, axis=tuple(j for j in axes if j != i)) for i in axes]


@checks.public
def scale_by_sm3(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 1.0,
    eps: jax.typing.ArrayLike = 1e-8,
) -> base.GradientTransformation:
  """SM3-II's scaling: each coordinate divided by the root of the smallest cover accumulator.

  For a leaf with axes :math:`1..k` the covers are its rows along each axis,
  one accumulator :math:`\\mu_i` per axis index. Per step,

  .. math::
    \\nu'_t(x) = c\\, g_t(x)^2 + \\beta_2 \\min_i \\mu_{i,t-1}(x_i), \\quad
    \\mu_{i,t}(j) = \\max_{x: x_i = j} \\nu'_t(x), \\quad
    u_t = \\beta_1 u_{t-1} + (1-\\beta_1) \\frac{g_t}{\\sqrt{\\nu'_t + \\epsilon}}

  with :math:`c = 1 - \\beta_2` (1 when :math:`\\beta_2 = 1`, plain sums) and
  :math:`0/0 = 0`. Vectors and scalars keep a full accumulator (Adagrad). The
  state takes `sum(shape)` numbers per leaf instead of `prod(shape)`. Anil et
  al., 2019 (https://arxiv.org/abs/1901.11150).

  Args:
    b1: :math:`\\beta_1`, the momentum of the scaled updates, in [0, 1).
    b2: :math:`\\beta_2`, the decay of the accumulators, in [0, 1].
    eps: :math:`\\epsilon`, >= 0.

  Returns:
    A `GradientTransformation` with state `ScaleBySM3State` (real params only).

  Differs from optax: scalar leaves work (optax raises `IndexError`).
  """
  fn = "scale_by_sm3"
  checks.check_decay(fn, "b1", b1)
  checks.check_range(fn, "b2", b2, 0.0, 1.0)
  checks.check_nonnegative(fn, "eps", eps)
  known_b2 = checks.concrete_value(b2)
  if known_b2 is not None:
    grad_weight = 1.0 if float(known_b2) == 1.0 else 1.0 - b2
  else:
    grad_weight = jnp.where(b2 == 1.0, 1.0, 1.0 - b2)

  def init_fn(params):
    for leaf in jax.tree.leaves(params):
      if jnp.iscomplexobj(leaf):
        raise ValueError(f"{fn}: complex parameters are not supported.")
    return ScaleBySM3State(
        mu=jax.tree.map(_axis_accumulators, params),
        nu=numerics.zeros_like(params),
    )

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.nu, shapes=True)
    accum = numerics.tree_map(
        lambda g, mus: grad_weight * g**2 + b2 * _min_over_covers(g, mus), updates, state.mu
    )
    scaled = numerics.tree_map(
        lambda g, a: g * jnp.where(a > 0, jax.lax.rsqrt(a + eps), 0.0), updates, accum
    )
    nu = numerics.cast_like(numerics.update_moment(scaled, state.nu, b1, 1), state.nu)
    # `accum` leads the map, so each leaf's list of axis accumulators arrives whole.
    mu = numerics.tree_map(
        lambda a, mus: [m.astype(mus[0].dtype) for m in _max_per_axis(a)], accum, state.mu
    )
    return nu, ScaleBySM3State(mu=mu, nu=nu)

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "per_leaf", "scale_by_sm3",
      why="accumulators along each axis of each leaf")


@checks.public
def sm3(
    learning_rate: jax.typing.ArrayLike, momentum: Optional[jax.typing.ArrayLike] = 0.9
) -> base.GradientTransformationExtraArgs:
  """The SM3 optimizer: `chain(scale_by_sm3(momentum), scale(-learning_rate))`.

  A memory-efficient Adagrad for large embedding and attention matrices (see
  `scale_by_sm3`). Anil et al., 2019 (https://arxiv.org/abs/1901.11150).

  Args:
    learning_rate: the step size, >= 0 (a number: SM3's accumulators already
      decay the step).
    momentum: the momentum of the scaled updates in [0, 1); None means none (0).

  Returns:
    A `GradientTransformationExtraArgs`.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> tx = jopt.sm3(0.1)
    >>> params = {"emb": jnp.ones((4, 3))}
    >>> state = tx.init(params)
    >>> updates, state = tx.update({"emb": jnp.ones((4, 3))}, state)

  Differs from optax: `momentum=None` is no momentum (optax raises `TypeError`).
  """
  if callable(learning_rate):
    raise TypeError("sm3: `learning_rate` must be a number, not a schedule.")
  checks.check_nonnegative("sm3", "learning_rate", learning_rate)
  checks.check_decay("sm3", "momentum", momentum)  # named here, not as `scale_by_sm3`'s `b1`
  return combine.chain(
      scale_by_sm3(0.0 if momentum is None else momentum),
      scaling.scale(-learning_rate),
  )
