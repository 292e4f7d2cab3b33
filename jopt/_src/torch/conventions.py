"""Shared pieces of the PyTorch-convention transforms: real views of complex leaves, argument checks."""

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src.transforms import regularization
from jopt._src.transforms import scaling


def is_zero(value: Any) -> bool:
  """Whether `value` is known at build time to be exactly zero (so its term can be left out)."""
  known = checks.concrete_value(value)
  return known is not None and known.dtype != object and bool(np.all(known == 0))


def check_betas(fn: str, betas: Sequence[Any]) -> tuple[Any, Any]:
  """`betas` as `(beta1, beta2)`, each a real number in [0, 1) (not `None`, a string or a bool)."""
  b1, b2 = checks.check_sequence(fn, "betas", betas, 2)
  checks.check_decay(fn, "betas[0]", b1, required=True)
  checks.check_decay(fn, "betas[1]", b2, required=True)
  return b1, b2


def _as_real(x: Any) -> Any:
  """`torch.view_as_real`: a complex leaf as its real and imaginary parts on a trailing axis of 2."""
  if x is not None and jnp.iscomplexobj(x):
    return jnp.stack([x.real, x.imag], axis=-1)
  return x


def _as_complex_like(x: Any, like: Any) -> Any:
  """Undoes `_as_real` where `like` is complex, in `like`'s dtype."""
  if like is not None and jnp.iscomplexobj(like):
    return jax.lax.complex(x[..., 0], x[..., 1]).astype(like.dtype)
  return x


def view_as_real(inner: base.GradientTransformation) -> base.GradientTransformation:
  """Runs `inner` on complex leaves viewed as real pairs, as `torch.optim` does.

  PyTorch's optimizers apply `torch.view_as_real` to complex params, grads and
  state: the real and imaginary parts are independent coordinates (Adam keeps a
  second moment for each, not one for `|z|^2` as jopt does). Here each complex
  leaf becomes a real leaf with a trailing axis of 2 for `inner` (its state
  lives on those views) and its update is turned back into a complex leaf.
  Real leaves and `None` pass through, so on a real tree the state is
  `inner`'s own.
  """

  def as_real(tree):
    return jax.tree.map(_as_real, tree, is_leaf=lambda x: x is None)

  def init_fn(params):
    return inner.init(as_real(params))

  def update_fn(updates, state, params=None):
    new_updates, state = inner.update(as_real(updates), state, as_real(params))
    return numerics.tree_map(_as_complex_like, new_updates, updates), state

  return base.GradientTransformation(init_fn, update_fn)


def negate_if(maximize: bool) -> list[base.GradientTransformation]:
  """`[scale(-1)]` for `maximize=True` (PyTorch negates the gradient before weight decay), else `[]`."""
  return [scaling.scale(-1.0)] if maximize else []


def decay_if(weight_decay: Any) -> list[base.GradientTransformation]:
  """`[add_decayed_weights(weight_decay)]`, or `[]` when it is known to be 0 (then no params are needed)."""
  return [] if is_zero(weight_decay) else [regularization.add_decayed_weights(weight_decay)]
