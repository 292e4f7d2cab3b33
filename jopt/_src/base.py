"""The transform protocol: optax's base types, re-exported so jopt objects are optax objects."""

from typing import Any, Callable, Union

import jax
from optax import EmptyState
from optax import GradientTransformation
from optax import GradientTransformationExtraArgs
from optax import OptState
from optax import Params
from optax import Schedule
from optax import Updates

Numeric = Union[float, int, jax.Array]
# A hyperparameter that may be a constant or a function of the step count.
ScalarOrSchedule = Union[float, jax.Array, Callable[[jax.Array], Any]]

__all__ = [
    "EmptyState",
    "GradientTransformation",
    "GradientTransformationExtraArgs",
    "Numeric",
    "OptState",
    "Params",
    "ScalarOrSchedule",
    "Schedule",
    "Updates",
    "init_empty_state",
]


def init_empty_state(params: Params) -> EmptyState:
  """The `init` of a stateless transform: ignores `params`, returns `EmptyState()`."""
  del params
  return EmptyState()
