"""Freezing parameters: `freeze`, `selective_transform`, and `partition` (optax's name for `multi_transform`)."""

from typing import Any, Union

import jax

from jopt._src import base
from jopt._src.transforms import masking
from jopt._src.transforms import stateless

# optax 0.2.8 renamed `multi_transform` to `partition` and keeps the old name as
# an alias; in jopt both names are the same function and the same state class.
partition = masking.multi_transform
PartitionState = masking.MultiTransformState


def freeze(mask: Union[bool, Any]) -> base.GradientTransformation:
  """Sets the updates of the masked (frozen) leaves to zero; the others pass through unchanged.

  .. math::
    u'_i = 0 \\text{ if } \\text{mask}_i \\text{ else } u_i

  Chain it after the optimizer (`chain(adam(1e-3), freeze(mask))`): the
  optimizer still keeps state for the frozen leaves. To keep no state for them,
  use `selective_transform`.

  Args:
    mask: True to freeze everything, False for nothing, or a tree of bools with
      the params' structure (or a prefix of it), True where frozen. Static: not
      a function of the params.

  Returns:
    A `GradientTransformationExtraArgs` with state `MaskedState`.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> params = {"a": jnp.zeros(1), "b": jnp.zeros(2)}
    >>> tx = jopt.chain(jopt.sgd(0.1), jopt.freeze({"a": True, "b": False}))
  """
  return masking.masked(stateless.set_to_zero(), mask)


def selective_transform(
    optimizer: base.GradientTransformation,
    *,
    freeze_mask: Union[bool, Any],
) -> base.GradientTransformation:
  """Applies `optimizer` to the trainable leaves only; frozen leaves get zero updates and no state.

  The same as `partition({"train": optimizer, "freeze": set_to_zero()}, labels)`
  with label "freeze" where `freeze_mask` is True and "train" elsewhere.

  Args:
    optimizer: the transform for the trainable leaves.
    freeze_mask: True to freeze everything, False for nothing, or a tree of
      bools with the params' structure (or a prefix of it), True where frozen.
      Static: not a function of the params.

  Returns:
    A `GradientTransformationExtraArgs` with state `PartitionState`.

  Example:
    >>> import jopt
    >>> tx = jopt.selective_transform(jopt.adam(1e-3), freeze_mask={"a": True, "b": False})
  """

  def labels(params):
    del params
    return jax.tree.map(lambda frozen: "freeze" if frozen else "train", freeze_mask)

  return partition({"train": optimizer, "freeze": stateless.set_to_zero()}, labels)
