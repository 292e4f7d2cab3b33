"""Complex parameters as pairs of real ones: `split_real_and_imaginary` wraps a real-valued optimizer."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jopt._src import base


class SplitRealAndImaginaryArrays(NamedTuple):
  """The real and imaginary parts of one complex leaf, as two real arrays."""

  real: jax.Array
  imaginary: jax.Array


class SplitRealAndImaginaryState(NamedTuple):
  """State of `split_real_and_imaginary`."""

  inner_state: base.OptState  # the inner transform's state, on the split (real) tree.


def _split(x: Any) -> Any:
  if jnp.iscomplexobj(x):
    return SplitRealAndImaginaryArrays(jnp.real(x), jnp.imag(x))
  return x


def _merge(x: Any) -> Any:
  if isinstance(x, SplitRealAndImaginaryArrays):
    return x.real + x.imaginary * 1j
  return x


def _is_pair(x: Any) -> bool:
  return isinstance(x, SplitRealAndImaginaryArrays)


def split_real_and_imaginary(
    inner: base.GradientTransformation,
) -> base.GradientTransformation:
  """Runs `inner` on complex leaves split into (real, imaginary) pairs, then merges them back.

  Each complex leaf :math:`z = a + ib` becomes two real leaves :math:`a, b` for
  `inner` (so e.g. Adam keeps separate second moments for the real and the
  imaginary part, instead of one for :math:`|z|^2`); the transformed pair
  :math:`(u_a, u_b)` is returned as :math:`u_a + i u_b`. Real leaves pass
  through unchanged. JAX's gradient of a real loss w.r.t. a complex parameter is
  the conjugate of PyTorch's: conjugate it before `update`
  (https://github.com/deepmind/optax/issues/196).

  Args:
    inner: the transform to apply to the real tree.

  Returns:
    A `GradientTransformation` with state `SplitRealAndImaginaryState`.
  """

  def init_fn(params):
    return SplitRealAndImaginaryState(inner.init(jax.tree.map(_split, params)))

  def update_fn(updates, state, params=None):
    new_updates, inner_state = inner.update(
        jax.tree.map(_split, updates), state.inner_state, jax.tree.map(_split, params)
    )
    return jax.tree.map(_merge, new_updates, is_leaf=_is_pair), SplitRealAndImaginaryState(
        inner_state
    )

  return base.GradientTransformation(init_fn, update_fn)
