"""Parameter-free step sizes from the distance travelled: DoG, DoWG and layer-wise DoG."""

from typing import Any, Callable, Literal, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src.contrib import tree_ops
from jopt._src import combine
from jopt._src.transforms import regularization
from jopt._src.transforms import scaling as scaling_lib

_INIT_STEP_TAGS = ("distance", "learning_rate", "heuristic")


def _scale_updates(scalar: jax.Array, updates: Any) -> Any:
  return numerics.tree_map(lambda g: (scalar * g).astype(g.dtype), updates)


def _optimizer_with_weight_decay(
    scaling: base.GradientTransformation,
    learning_rate: base.ScalarOrSchedule,
    weight_decay: Optional[jax.typing.ArrayLike],
    mask: Any,
) -> base.GradientTransformationExtraArgs:
  """`chain(add_decayed_weights (if weight_decay is not None), scaling, -learning_rate)`."""
  decay = (regularization.add_decayed_weights(weight_decay, mask) if weight_decay is not None
           else scaling_lib.identity())
  return combine.chain(decay, scaling, scaling_lib.scale_by_learning_rate(learning_rate))


# --- DoG ----------------------------------------------------------------------


class DoGState(NamedTuple):
  """State of `scale_by_dog`."""

  is_init_step: jax.Array  # shape=(), bool: True until the first update.
  init_params: base.Params  # x_0, like params.
  max_dist: jax.Array  # shape=(), lowest params dtype: max_k ||x_k - x_0|| (>= r_eps).
  sum_sq_norm_grads: jax.Array  # shape=(), lowest params dtype: sum_k ||g_k||^2.


def _check_init_step(fn: str, init_step: Any) -> tuple[str, Any]:
  if (not isinstance(init_step, (tuple, list)) or len(init_step) != 2
      or init_step[0] not in _INIT_STEP_TAGS):
    raise ValueError(
        f"{checks._name(fn)}: `init_step` must be a pair (tag, value) with tag one of "
        f"{_INIT_STEP_TAGS}, got {init_step!r}."
    )
  tag, value = init_step
  checks.check_nonnegative(fn, "init_step value", value)
  checks.check_finite(fn, "init_step value", value)
  return tag, value


@checks.public
def scale_by_dog(
    init_step: tuple[Literal["distance", "learning_rate", "heuristic"], jax.typing.ArrayLike],
    eps: jax.typing.ArrayLike = 1e-8,
) -> base.GradientTransformation:
  """Scales updates by the DoG step size `max_k ||x_k - x_0|| / sqrt(sum_k ||g_k||^2 + eps)`.

  .. math::
    \\bar r_t = \\max(r_\\epsilon, \\max_{k \\le t} \\|x_k - x_0\\|), \\quad
    G_t = \\sum_{k \\le t} \\|g_k\\|^2, \\quad
    u_t = \\frac{\\bar r_t}{\\sqrt{G_t + \\epsilon}}\\, g_t

  Norms are over the whole tree. `init_step = (tag, value)` sets the start:
  `("distance", r)`: :math:`r_\\epsilon = r`; `("heuristic", a)`:
  :math:`r_\\epsilon = a (1 + \\|x_0\\|)` (so `init` needs the real params);
  `("learning_rate", lr)`: :math:`r_\\epsilon = 0` and the first step size is
  `lr`. Ivgi et al., 2023, "DoG is SGD's Best Friend: A Parameter-Free Dynamic
  Step Size Schedule" (https://arxiv.org/abs/2302.12022).

  Args:
    init_step: `(tag, value)`, tag one of "distance", "learning_rate", "heuristic".
    eps: added to the sum of squared gradient norms, >= 0.

  Returns:
    A `GradientTransformation` with state `DoGState`; `update` needs `params`.
  """
  fn = "scale_by_dog"
  tag, value = _check_init_step(fn, init_step)
  checks.check_nonnegative(fn, "eps", eps)

  def init_fn(params):
    dtype = tree_ops.lowest_dtype(params)
    if tag == "distance":
      r_eps = value
    elif tag == "heuristic":
      r_eps = value * (1 + numerics.global_norm(params))
    else:
      r_eps = 0.0
    return DoGState(
        is_init_step=jnp.asarray(True),
        init_params=params,
        max_dist=jnp.asarray(r_eps, dtype),
        sum_sq_norm_grads=jnp.asarray(0.0, dtype),
    )

  def update_fn(updates, state, params=None):
    checks.require_params(fn, params)
    checks.check_same_structure(fn, updates, params, "params", shapes=True)
    dist = numerics.global_norm(tree_ops.sub(state.init_params, params))
    max_dist = jnp.maximum(state.max_dist, dist)
    sum_sq = state.sum_sq_norm_grads + numerics.sum_of_squares(updates)
    step = max_dist / jnp.sqrt(sum_sq + eps)
    if tag == "learning_rate":
      step = jnp.where(state.is_init_step, value, step)
    return _scale_updates(step, updates), DoGState(
        is_init_step=jnp.asarray(False),
        init_params=state.init_params,
        max_dist=max_dist.astype(state.max_dist.dtype),
        sum_sq_norm_grads=sum_sq.astype(state.sum_sq_norm_grads.dtype),
    )

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "global", "scale_by_dog")


@checks.public
def dog(
    learning_rate: base.ScalarOrSchedule = 1.0,
    init_step: tuple[
        Literal["distance", "learning_rate", "heuristic"], jax.typing.ArrayLike
    ] = ("heuristic", 1e-6),
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: Optional[jax.typing.ArrayLike] = None,
    mask: Optional[Union[Any, Callable[[base.Params], Any]]] = None,
) -> base.GradientTransformationExtraArgs:
  """Distance over Gradients (DoG): SGD with the parameter-free step size of `scale_by_dog`.

  .. math::
    x_{t+1} = x_t - \\eta\\, \\frac{\\bar r_t}{\\sqrt{G_t + \\epsilon}}\\, (g_t + \\lambda x_t)

  with :math:`\\bar r_t`, :math:`G_t` as in `scale_by_dog` and :math:`\\lambda`
  the optional `weight_decay` (added to the gradient first). The authors
  recommend averaging the iterates. Ivgi et al., 2023
  (https://arxiv.org/abs/2302.12022).

  Args:
    learning_rate: a multiplier on the DoG step (constant or schedule), >= 0.
    init_step: `(tag, value)`: see `scale_by_dog`; the default heuristic uses
      `1e-6 * (1 + ||x_0||)` (1e-4 is suggested for models with batch norm).
    eps: added to the sum of squared gradient norms.
    weight_decay: optional L2 weight decay added to the gradients.
    mask: which leaves get weight decay (tree of bools or a function of params).

  Returns:
    A `GradientTransformationExtraArgs`; `init` needs the real params.
  """
  return _optimizer_with_weight_decay(
      scale_by_dog(init_step, eps), learning_rate, weight_decay, mask
  )


# --- DoWG ---------------------------------------------------------------------


class DoWGState(NamedTuple):
  """State of `scale_by_dowg`."""

  init_params: base.Params  # x_0, like params.
  weighted_sq_norm_grads: jax.Array  # shape=(), lowest params dtype: sum_k rbar_k^2 ||g_k||^2.
  estim_sq_dist: jax.Array  # shape=(), lowest params dtype: rbar_t^2.


@checks.public
def scale_by_dowg(
    init_estim_sq_dist: Optional[jax.typing.ArrayLike] = None,
    eps: jax.typing.ArrayLike = 1e-4,
) -> base.GradientTransformation:
  """Scales updates by the DoWG step size (distance over weighted gradients).

  .. math::
    \\bar r_t^2 = \\max(\\bar r_{t-1}^2, \\|x_t - x_0\\|^2), \\quad
    v_t = v_{t-1} + \\bar r_t^2 \\|g_t\\|^2, \\quad
    u_t = \\frac{\\bar r_t^2}{\\sqrt{v_t} + \\epsilon}\\, g_t

  with :math:`\\bar r_0^2` = `init_estim_sq_dist` (default `eps`). Khaled et al.,
  2023, "DoWG Unleashed: An Efficient Universal Parameter-Free Gradient Descent
  Method" (https://arxiv.org/abs/2305.16284).

  Args:
    init_estim_sq_dist: initial guess of the squared distance to the solution, >= 0.
    eps: added to the denominator; the default initial guess, >= 0.

  Returns:
    A `GradientTransformation` with state `DoWGState`; `update` needs `params`.
  """
  fn = "scale_by_dowg"
  checks.check_nonnegative(fn, "init_estim_sq_dist", init_estim_sq_dist)
  checks.check_nonnegative(fn, "eps", eps)
  init_sq_dist = eps if init_estim_sq_dist is None else init_estim_sq_dist

  def init_fn(params):
    dtype = tree_ops.lowest_dtype(params)
    return DoWGState(
        init_params=params,
        weighted_sq_norm_grads=jnp.asarray(0.0, dtype),
        estim_sq_dist=jnp.asarray(init_sq_dist, dtype),
    )

  def update_fn(updates, state, params=None):
    checks.require_params(fn, params)
    checks.check_same_structure(fn, updates, params, "params", shapes=True)
    sq_dist = numerics.sum_of_squares(tree_ops.sub(state.init_params, params))
    estim_sq_dist = jnp.maximum(state.estim_sq_dist, sq_dist)
    weighted = estim_sq_dist * numerics.sum_of_squares(updates) + state.weighted_sq_norm_grads
    step = estim_sq_dist / (jnp.sqrt(weighted) + eps)
    return _scale_updates(step, updates), state._replace(
        estim_sq_dist=estim_sq_dist.astype(state.estim_sq_dist.dtype),
        weighted_sq_norm_grads=weighted.astype(state.weighted_sq_norm_grads.dtype),
    )

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "global", "scale_by_dowg")


@checks.public
def dowg(
    learning_rate: base.ScalarOrSchedule = 1.0,
    init_estim_sq_dist: Optional[jax.typing.ArrayLike] = None,
    eps: jax.typing.ArrayLike = 1e-4,
    weight_decay: Optional[jax.typing.ArrayLike] = None,
    mask: Optional[Union[Any, Callable[[base.Params], Any]]] = None,
) -> base.GradientTransformationExtraArgs:
  """Distance over Weighted Gradients (DoWG): SGD with the step size of `scale_by_dowg`.

  .. math::
    x_{t+1} = x_t - \\eta\\, \\frac{\\bar r_t^2}{\\sqrt{v_t} + \\epsilon}\\, (g_t + \\lambda x_t)

  Khaled et al., 2023 (https://arxiv.org/abs/2305.16284).

  Args:
    learning_rate: a multiplier on the DoWG step (constant or schedule), >= 0.
    init_estim_sq_dist: initial guess of the squared distance to the solution
      (default `eps`).
    eps: added to the denominator.
    weight_decay: optional L2 weight decay added to the gradients.
    mask: which leaves get weight decay (tree of bools or a function of params).

  Returns:
    A `GradientTransformationExtraArgs`; `init` needs the real params.
  """
  return _optimizer_with_weight_decay(
      scale_by_dowg(init_estim_sq_dist, eps), learning_rate, weight_decay, mask
  )


# --- Layer-wise DoG -----------------------------------------------------------


class ScaleByDistanceOverGradientsState(NamedTuple):
  """State of `scale_by_distance_over_gradients`: per-leaf statistics."""

  max_dist: base.OptState  # per leaf, shape=(): max_k ||x_k - x_0|| of that leaf.
  grad_sum_of_squares: base.OptState  # per leaf, shape=(), float32: sum_k ||g_k||^2.
  init_params: base.OptState  # x_0 in `param_dtype`.


@checks.public
def scale_by_distance_over_gradients(
    reps_rel=1e-6, eps=1e-8, param_dtype=jnp.float32, global_scale=1.0
) -> base.GradientTransformation:
  """Layer-wise DoG (LDoG): the DoG step size computed separately for every leaf.

  For each leaf :math:`\\ell`:

  .. math::
    \\bar r^\\ell_t = \\max(r^\\ell_\\epsilon, \\max_{k \\le t} \\|x^\\ell_k - x^\\ell_0\\|), \\quad
    u^\\ell_t = s\\, \\frac{\\bar r^\\ell_t}{\\sqrt{\\sum_{k \\le t} \\|g^\\ell_k\\|^2 + \\epsilon}}\\, g^\\ell_t

  with :math:`r^\\ell_\\epsilon` = `reps_rel * (1 + ||x^l_0||)` and :math:`s` =
  `global_scale` (-1 turns it into a descent step). Ivgi et al., 2023
  (https://arxiv.org/abs/2302.12022). Differs from optax: the per-leaf sum of
  squares is a scalar, so a scalar leaf gets a scalar update (optax returns
  shape (1,)).

  Args:
    reps_rel: relative initial distance (1e-6; 1e-4 with batch norm), >= 0.
    eps: added to the sum of squared gradient norms, >= 0.
    param_dtype: dtype in which the initial params are stored.
    global_scale: a factor on every update, typically 1.0 or -1.0.

  Returns:
    A `GradientTransformation` with state `ScaleByDistanceOverGradientsState`;
    `update` needs `params`.
  """
  fn = "scale_by_distance_over_gradients"
  checks.check_nonnegative(fn, "reps_rel", reps_rel, required=True)
  checks.check_nonnegative(fn, "eps", eps, required=True)
  checks.check_range(fn, "global_scale", global_scale, finite=True, required=True)
  leaf_norm = lambda x: jnp.sqrt(jnp.sum(numerics.abs_sq(x)))

  def init_fn(params):
    return ScaleByDistanceOverGradientsState(
        max_dist=jax.tree.map(lambda x: reps_rel * (1 + leaf_norm(x)), params),
        grad_sum_of_squares=jax.tree.map(lambda x: jnp.zeros([], jnp.float32), params),
        init_params=numerics.cast(params, param_dtype),
    )

  def update_fn(updates, state, params=None):
    checks.require_params(fn, params)
    checks.check_same_structure(fn, updates, params, "params", shapes=True)
    max_dist = jax.tree.map(
        lambda d, x, x0: jnp.maximum(d, leaf_norm(x - x0)), state.max_dist, params,
        state.init_params,
    )
    g_sos = jax.tree.map(
        lambda s, g: s + jnp.sum(numerics.abs_sq(g)), state.grad_sum_of_squares, updates
    )
    new_updates = jax.tree.map(
        lambda g, d, s: (global_scale * (d / jnp.sqrt(s + eps)) * g).astype(g.dtype),
        updates, max_dist, g_sos,
    )
    return new_updates, ScaleByDistanceOverGradientsState(max_dist, g_sos, state.init_params)

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn),
      "per_leaf", "scale_by_distance_over_gradients",
      why="the distance and gradient norms of each leaf")
