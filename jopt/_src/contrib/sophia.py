"""Sophia: momentum divided by a clipped, periodically refreshed Hessian-diagonal estimate."""

from typing import Any, Callable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src.contrib import control
from jopt._src.contrib import tree_ops
from jopt._src import combine
from jopt._src.transforms import regularization
from jopt._src.transforms import scaling


class HutchinsonState(NamedTuple):
  """State of `hutchinson_estimator_diag_hessian`."""

  key: jax.Array  # the PRNG key for the next probe vector.


def hutchinson_estimator_diag_hessian(random_seed: Optional[jax.Array] = None):
  """Estimates the Hessian diagonal as `z * (H z)` for a Rademacher vector `z`.

  .. math::
    \\hat h = z \\odot \\nabla^2 f(x)\\, z, \\qquad z_i \\in \\{-1, +1\\} \\text{ uniform},
    \\qquad \\mathbb{E}[\\hat h] = \\operatorname{diag} \\nabla^2 f(x)

  Unbiased, with high variance. The Hessian-vector product is a forward-mode
  derivative of `jax.grad(obj_fn)`. Each call splits the state key once, then
  one key per leaf in tree order. Hutchinson, 1989, "A stochastic estimator of
  the trace of the influence matrix for Laplacian smoothing splines".

  Args:
    random_seed: the PRNG key of the probe vectors (default `jax.random.PRNGKey(0)`).

  Returns:
    A `GradientTransformationExtraArgs` with state `HutchinsonState`. Its
    `update(updates, state, params, obj_fn=f)` ignores `updates` and returns
    the estimate at `params`; `f(params)` must return the scalar loss.
  """
  fn = "hutchinson_estimator_diag_hessian"

  def init_fn(params):
    del params
    return HutchinsonState(key=random_seed if random_seed is not None else jax.random.PRNGKey(0))

  def update_fn(updates, state, params=None, obj_fn=None, **extra_args):
    del updates, extra_args
    checks.require_params(fn, params)
    if obj_fn is None:
      raise ValueError(
          f"{fn}: `update` needs the objective: call `update(g, state, params, "
          "obj_fn=f)` with `f(params) -> scalar loss`."
      )
    key, subkey = jax.random.split(state.key)
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(subkey, len(leaves))
    signs = [jax.random.rademacher(k, jnp.shape(p), jnp.float32) for k, p in zip(keys, leaves)]
    signs = numerics.cast(jax.tree.unflatten(treedef, signs), tree_ops.lowest_dtype(params))
    hvp = jax.jvp(jax.grad(obj_fn), (params,), (signs,))[1]
    return jax.tree.map(lambda h, z: h * z, hvp, signs), HutchinsonState(key=key)

  return base.GradientTransformationExtraArgs(init_fn, update_fn)


class SophiaState(NamedTuple):
  """State of `scale_by_sophia`."""

  count: jax.Array  # shape=(), int32.
  mu: base.Updates  # first moment, like params (dtype: mu_dtype or the param's).
  nu: base.Updates  # EMA of the Hessian-diagonal estimates, like params.
  hessian_fn_state: Any  # the state of `hessian_diagonal_fn`.


def _update_with_extra_args(tx, updates, state, params, extra_args):
  if isinstance(tx, base.GradientTransformationExtraArgs):
    return tx.update(updates, state, params, **extra_args)
  return tx.update(updates, state, params)


@checks.public
def scale_by_sophia(
    b1: jax.typing.ArrayLike = 0.965,
    b2: jax.typing.ArrayLike = 0.99,
    eps: jax.typing.ArrayLike = 1e-8,
    gamma: jax.typing.ArrayLike = 0.01,
    clip_threshold: Optional[jax.typing.ArrayLike] = 1.0,
    update_interval: jax.typing.ArrayLike = 10,
    hessian_diagonal_fn: Union[
        base.GradientTransformation,
        base.GradientTransformationExtraArgs,
    ] = hutchinson_estimator_diag_hessian(),
    mu_dtype: Optional[Any] = None,
    verbose: bool = False,
    print_win_rate_every_n_steps: jax.typing.ArrayLike = 0,
) -> base.GradientTransformationExtraArgs:
  """Rescales updates by Sophia: bias-corrected momentum over a clipped Hessian diagonal.

  .. math::
    m_t = \\beta_1 m_{t-1} + (1 - \\beta_1) g_t, \\quad
    u_t = \\operatorname{clip}\\Big(\\frac{m_t / (1 - \\beta_1^t)}{\\max(\\gamma h_{t-1}, \\epsilon)},
    -\\rho, \\rho\\Big), \\\\
    h_t = \\beta_2 h_{t-1} + (1 - \\beta_2) \\hat h_t \\ \\text{ if } (t - 1) \\bmod k = 0
    \\text{ else } h_{t-1}

  where :math:`\\hat h_t` comes from `hessian_diagonal_fn` (Hutchinson's
  estimator by default, so `update` needs `obj_fn=f`; every extra keyword
  argument of `update` is passed on to it), :math:`\\rho` = `clip_threshold`
  and :math:`k` = `update_interval`. The update at step `t` uses the Hessian
  estimate from before it; the first update is `clip(m_1 / eps)`. Liu et al.,
  2023, "Sophia: A Scalable Stochastic Second-order Optimizer for Language Model
  Pre-training" (https://arxiv.org/abs/2305.14342).

  Args:
    b1: decay of the first moment, in [0, 1).
    b2: decay of the Hessian-diagonal EMA, in [0, 1) (effectively
      `1 - (1 - b2) / update_interval` per step).
    eps: floor of the denominator, >= 0.
    gamma: scale of the Hessian diagonal in the denominator, >= 0.
    clip_threshold: the update is clipped to [-clip_threshold, clip_threshold];
      `None` disables clipping.
    update_interval: steps between Hessian-diagonal refreshes, >= 1.
    hessian_diagonal_fn: a transform returning the Hessian-diagonal estimate.
      Under `pmap`, it must average the estimate over devices itself.
    mu_dtype: dtype of the first moment (default: the param's).
    verbose: print the win rate (the fraction of unclipped coordinates; the
      authors suggest keeping it in [0.1, 0.5] by tuning `gamma`).
    print_win_rate_every_n_steps: print it every this many steps (0: never).

  Returns:
    A `GradientTransformationExtraArgs` with state `SophiaState`; `update`
    needs `params`.
  """
  fn = "scale_by_sophia"
  checks.check_decay(fn, "b1", b1)
  checks.check_decay(fn, "b2", b2)
  checks.check_nonnegative(fn, "eps", eps)
  checks.check_nonnegative(fn, "gamma", gamma)
  checks.check_nonnegative(fn, "clip_threshold", clip_threshold, finite=False)
  checks.check_range(fn, "update_interval", update_interval, 1)
  checks.check_nonnegative(fn, "print_win_rate_every_n_steps", print_win_rate_every_n_steps)
  if not (hasattr(hessian_diagonal_fn, "init") and hasattr(hessian_diagonal_fn, "update")):
    raise TypeError(
        f"{fn}: `hessian_diagonal_fn` must be a GradientTransformation, got "
        f"{type(hessian_diagonal_fn).__name__}."
    )
  mu_dtype = numerics.canonicalize_dtype(mu_dtype)

  def init_fn(params):
    return SophiaState(
        count=numerics.init_count(),
        mu=numerics.zeros_like(params, dtype=mu_dtype),
        nu=numerics.zeros_like(params),
        hessian_fn_state=hessian_diagonal_fn.init(params),
    )

  def print_win_rate(updates, count):
    unclipped = sum(jnp.sum(jnp.abs(u) < clip_threshold) for u in jax.tree.leaves(updates))
    win_rate = unclipped / sum(jnp.size(u) for u in jax.tree.leaves(updates))
    every = jnp.maximum(jnp.asarray(print_win_rate_every_n_steps), 1)
    due = jnp.logical_and(jnp.asarray(print_win_rate_every_n_steps) > 0, count % every == 0)
    control.cond(
        due, lambda: jax.debug.print("Sophia optimizer win rate: {}", win_rate), lambda: None
    )

  def update_fn(updates, state, params=None, **hess_fn_kwargs):
    checks.require_params(fn, params)
    checks.check_same_structure(fn, updates, state.mu, shapes=True)
    count = numerics.safe_increment(state.count)
    grads = updates
    mu = numerics.update_moment(grads, state.mu, b1, 1)
    mu_hat = numerics.bias_correction(mu, b1, count)
    new_updates = numerics.tree_map(
        lambda m, h, g: (m / jnp.maximum(gamma * h, eps)).astype(g.dtype), mu_hat, state.nu, grads
    )
    if clip_threshold is not None:
      if verbose:
        print_win_rate(new_updates, count)
      new_updates = numerics.tree_map(
          lambda u: jnp.clip(u, -clip_threshold, clip_threshold), new_updates
      )

    def refresh(hess_state, nu):
      diag, hess_state = _update_with_extra_args(
          hessian_diagonal_fn, grads, hess_state, params, hess_fn_kwargs
      )
      nu = numerics.cast_like(numerics.update_moment(diag, nu, b2, 1), nu)
      return hess_state, nu

    hess_state, nu = control.cond(
        state.count % update_interval == 0, refresh, lambda h, n: (h, n),
        state.hessian_fn_state, state.nu,
    )
    mu = numerics.cast(mu, mu_dtype) if mu_dtype else numerics.cast_like(mu, state.mu)
    return new_updates, SophiaState(count=count, mu=mu, nu=nu, hessian_fn_state=hess_state)

  return base.GradientTransformationExtraArgs(init_fn, update_fn)


@checks.public
def sophia(
    learning_rate: base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.965,
    b2: jax.typing.ArrayLike = 0.99,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 1e-4,
    weight_decay_mask: Optional[Union[Any, Callable[[base.Params], Any]]] = None,
    gamma: jax.typing.ArrayLike = 0.01,
    clip_threshold: Optional[jax.typing.ArrayLike] = 1.0,
    update_interval: jax.typing.ArrayLike = 10,
    hessian_diagonal_fn: Union[
        base.GradientTransformation,
        base.GradientTransformationExtraArgs,
    ] = hutchinson_estimator_diag_hessian(),
    mu_dtype: Optional[Any] = None,
    verbose: bool = False,
    print_win_rate_every_n_steps: jax.typing.ArrayLike = 0,
) -> base.GradientTransformationExtraArgs:
  """The Sophia optimizer: `scale_by_sophia`, decoupled weight decay, learning rate.

  .. math::
    x_{t+1} = x_t - \\eta_t (u_t + \\lambda x_t)

  with :math:`u_t` from `scale_by_sophia`. With the default Hutchinson estimator
  call `update(grads, state, params, obj_fn=f)`, `f(params) -> scalar loss` on
  the current batch (e.g. `lambda p: loss_fn(p, batch)`). The probe vectors are
  Rademacher (the paper's reference uses Gaussian ones). Liu et al., 2023
  (https://arxiv.org/abs/2305.14342); Levanter
  (https://github.com/stanford-crfm/levanter).

  Args:
    learning_rate: constant or schedule, >= 0.
    b1: decay of the first moment.
    b2: decay of the Hessian-diagonal EMA.
    eps: floor of the denominator.
    weight_decay: decoupled weight decay (multiplied by the learning rate).
    weight_decay_mask: which leaves get weight decay (tree of bools or function).
    gamma: scale of the Hessian diagonal in the denominator.
    clip_threshold: clip bound of the scaled update (`None`: no clipping).
    update_interval: steps between Hessian-diagonal refreshes.
    hessian_diagonal_fn: a transform returning the Hessian-diagonal estimate.
    mu_dtype: dtype of the first moment.
    verbose: print the win rate.
    print_win_rate_every_n_steps: print it every this many steps (0: never).

  Returns:
    A `GradientTransformationExtraArgs`.
  """
  return combine.chain(
      scale_by_sophia(
          b1=b1, b2=b2, eps=eps, gamma=gamma, clip_threshold=clip_threshold,
          update_interval=update_interval, hessian_diagonal_fn=hessian_diagonal_fn,
          mu_dtype=mu_dtype, verbose=verbose,
          print_win_rate_every_n_steps=print_win_rate_every_n_steps,
      ),
      regularization.add_decayed_weights(weight_decay, weight_decay_mask),
      scaling.scale_by_learning_rate(learning_rate),
  )
