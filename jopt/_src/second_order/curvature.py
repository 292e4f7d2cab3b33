"""Hessian-vector products and the diagonals of the Hessian and of the empirical Fisher matrix."""

import abc
from typing import Any, Protocol

import jax
from jax import flatten_util
import jax.numpy as jnp


class LossFn(Protocol):
  """A loss `loss(params, inputs, targets) -> scalar`."""

  @abc.abstractmethod
  def __call__(self, params: Any, inputs: jax.Array, targets: jax.Array) -> jax.Array:
    ...


def _flat(tree: Any) -> jax.Array:
  return flatten_util.ravel_pytree(tree)[0]


def hvp(
    loss: LossFn,
    v: jax.Array,
    params: Any,
    inputs: jax.Array,
    targets: jax.Array,
) -> jax.Array:
  """The Hessian of `loss` at `params` times a flat vector `v` (forward-over-reverse).

  .. math::
    H v = \\frac{d}{d\\epsilon} \\nabla_\\theta L(\\theta + \\epsilon v) \\Big|_{\\epsilon = 0}

  Costs about two gradient evaluations; the Hessian is never formed.

  Args:
    loss: `loss(params, inputs, targets) -> scalar`.
    v: a flat vector of the size of `ravel(params)`.
    params: the params `theta` (any pytree).
    inputs: inputs passed to `loss`.
    targets: targets passed to `loss`.

  Returns:
    `H v`, shaped like `params` (a pytree, as in optax).
  """
  _, unravel = flatten_util.ravel_pytree(params)
  grad_fn = jax.grad(lambda p: loss(p, inputs, targets))
  return jax.jvp(grad_fn, (params,), (unravel(v),))[1]


def hessian_diag(
    loss: LossFn,
    params: Any,
    inputs: jax.Array,
    targets: jax.Array,
) -> jax.Array:
  """The diagonal of the Hessian of `loss` at `params`, flattened.

  .. math::
    d_i = (H e_i)_i

  One Hessian-vector product per parameter (vectorised with `vmap`): exact,
  but `O(n)` products, so for small models.

  Args:
    loss: `loss(params, inputs, targets) -> scalar`.
    params: the params (any pytree).
    inputs: inputs passed to `loss`.
    targets: targets passed to `loss`.

  Returns:
    A flat vector of the size of `ravel(params)`.
  """
  n = _flat(params).size
  columns = jax.vmap(lambda e: _flat(hvp(loss, e, params, inputs, targets)))(jnp.eye(n))
  return jnp.diagonal(columns)


def fisher_diag(
    negative_log_likelihood: LossFn,
    params: Any,
    inputs: jax.Array,
    targets: jax.Array,
) -> jax.Array:
  """The diagonal of the observed (empirical) Fisher information at `params`, flattened.

  .. math::
    F_{ii} = \\left(\\partial_{\\theta_i} (-\\log p(y \\mid x, \\theta))\\right)^2

  Args:
    negative_log_likelihood: `nll(params, inputs, targets) -> scalar`.
    params: the params (any pytree).
    inputs: inputs passed to the function.
    targets: targets passed to the function.

  Returns:
    A flat vector of the size of `ravel(params)`: the squared gradient.
  """
  grads = jax.grad(negative_log_likelihood)(params, inputs, targets)
  return jnp.square(_flat(grads))
