"""`apply_every`: sum updates over `k` steps and emit the sum on every `k`-th step, zeros otherwise."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics


class ApplyEvery(NamedTuple):
  """State of `apply_every`."""

  count: jax.Array  # shape=(), int32: steps since the last emission, in [0, k).
  grad_acc: base.Updates  # the sum of updates since the last emission, params' shapes.


@checks.public
def apply_every(k: jax.typing.ArrayLike = 1) -> base.GradientTransformation:
  """Accumulates updates and emits their sum every `k` steps.

  .. math::
    a_t = u_t + [t \\bmod k \\ne 0]\\, a_{t-1}, \\qquad
    u'_t = [t \\bmod k = k - 1]\\, a_t \\qquad (t = 0, 1, \\dots)

  Transforms before it in a chain still update their state every step, so a
  chain with `apply_every(2)` on half batches is not the same as one step on
  full batches; `MultiSteps` is.

  Differs from optax: the reset and the masking select (`where`) instead of
  multiplying by 0, so one non-finite update is dropped at the next emission
  instead of turning every later update into NaN (`0 * NaN = NaN`). Finite
  updates give optax's numbers.

  Args:
    k: the emission period, >= 1 (a Python or array integer).

  Returns:
    A `GradientTransformation` with state `ApplyEvery`.
  """
  checks.check_range("apply_every", "k", k, 1, None, finite=True)

  def init_fn(params):
    return ApplyEvery(count=numerics.init_count(), grad_acc=numerics.zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure("apply_every", updates, state.grad_acc, shapes=True)
    phase = state.count % k
    keep = phase != 0
    grad_acc = jax.tree.map(
        lambda g, a: jnp.where(keep, a + g, g).astype(a.dtype), updates, state.grad_acc
    )
    emit = phase == k - 1
    out = jax.tree.map(
        lambda a, g: jnp.where(emit, a, jnp.zeros_like(a)).astype(g.dtype), grad_acc, updates
    )
    count = numerics.safe_increment(state.count) % k
    return out, ApplyEvery(count=count.astype(jnp.int32), grad_acc=grad_acc)

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn), "elementwise", "apply_every")
