"""Shared pieces of the PyTorch-convention transforms: real views of complex leaves, argument checks."""

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jopt._src import base
from jopt._src import checks
from jopt._src.transforms import regularization
from jopt._src.transforms import scaling


def is_zero(value: Any) -> bool:
  """Whether `value` is known at build time to be exactly zero (so its term can be left out)."""
  known = checks.concrete_value(value)
  return known is not None and known.dtype != object and bool(np.all(known == 0))


def check_betas(fn: str, betas: Sequence[Any]) -> tuple[Any, Any]:
  """`betas` as a pair `(beta1, beta2)`, each in [0, 1)."""
  if not isinstance(betas, (tuple, list)) or len(betas) != 2:
    raise ValueError(f"{fn}: `betas` must be a pair (beta1, beta2), got {betas!r}.")
  checks.check_decay(fn, "betas[0]", betas[0])
  checks.check_decay(fn, "betas[1]", betas[1])
  return betas[0], betas[1]


def _to_real(x: jax.Array) -> jax.Array:
  return jnp.stack([x.real, x.imag], axis=-1)


def _to_complex(x: jax.Array) -> jax.Array:
  return jax.lax.complex(x[..., 0], x[..., 1])


def leafwise(fn: Callable[..., tuple], updates: Any, *states: Any) -> tuple:
  """Applies `fn(g, *s) -> (u, *new_s)` leaf by leaf; returns `(updates, *states)` trees.

  Complex leaves are handled as PyTorch does (`torch.view_as_real`): `fn` sees
  the real and imaginary parts as a trailing axis of 2 and treats them as
  independent real coordinates. `None` leaves pass through. Every output leaf
  is cast to the dtype of the matching input leaf (updates to the gradient's).
  """
  g_leaves, treedef = jax.tree.flatten(updates, is_leaf=lambda x: x is None)
  s_leaves = [treedef.flatten_up_to(s) for s in states]
  n = 1 + len(states)
  outs = [[] for _ in range(n)]
  for i, g in enumerate(g_leaves):
    ins = [g] + [s[i] for s in s_leaves]
    if g is None:
      res = ins
    elif jnp.iscomplexobj(g):
      res = fn(*[_to_real(x) for x in ins])
      res = [_to_complex(r).astype(x.dtype) for r, x in zip(res, ins)]
    else:
      res = [r.astype(x.dtype) for r, x in zip(fn(*ins), ins)]
    for k in range(n):
      outs[k].append(res[k])
  return tuple(treedef.unflatten(o) for o in outs)


def negate_if(maximize: bool) -> list[base.GradientTransformation]:
  """`[scale(-1)]` for `maximize=True` (PyTorch negates the gradient before weight decay), else `[]`."""
  return [scaling.scale(-1.0)] if maximize else []


def decay_if(weight_decay: Any) -> list[base.GradientTransformation]:
  """`[add_decayed_weights(weight_decay)]`, or `[]` when it is known to be 0 (then no params are needed)."""
  return [] if is_zero(weight_decay) else [regularization.add_decayed_weights(weight_decay)]
