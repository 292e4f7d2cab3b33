"""The transform protocol: optax's base types, re-exported so jopt objects are optax objects."""

import types
import weakref

import jax
from collections.abc import Callable
from optax import EmptyState
from optax import GradientTransformation
from optax import GradientTransformationExtraArgs
from optax import OptState
from optax import Params
from optax import Schedule
from optax import Updates
import collections.abc
from typing import Any, Callable, Union
from typing import Any, Iterable, Mapping, NamedTuple, Optional, Protocol, Union



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
    "StatefulSchedule",
    "Updates",
    "init_empty_state",
]


def init_empty_state(params: Params) -> EmptyState:
  """The `init` of a stateless transform: ignores `params`, returns `EmptyState()`."""
  del params
  return EmptyState()


# --- declared metadata of transform factories and states ---
#
# Factories and state classes declare what generic code needs to know about them, instead of
# generic code guessing from names, closures or field sets.


def declare_callable_args(*names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
  """Declares the parameters of a factory that take functions which are not schedules (masks).

  `inject_hyperparams` passes these through unchanged instead of calling them with the step
  count, so `inject_hyperparams(adamw)(..., mask=fn)` keeps its mask.
  """

  def decorate(factory):
    factory.__jopt_callable_args__ = frozenset(names)
    return factory

  return decorate


def declared_callable_args(factory: Callable[..., Any]) -> frozenset:
  """The names a factory declared with `declare_callable_args` (none if it declared nothing)."""
  return getattr(factory, "__jopt_callable_args__", frozenset())


def declared_hyperparams(state: Any) -> dict:
  """`{name: value}` of the hyperparameters a state declares in its `jopt_hyperparams` fields.

  A state class lists them as a class attribute, e.g. `jopt_hyperparams = ("scale",)` on
  `ReduceLROnPlateauState`; `jopt.hyperparams(state)` reads them.
  """
  names = getattr(type(state), "jopt_hyperparams", ())
  return {name: getattr(state, name) for name in names}


# --- optax's callable protocols and state-type aliases ---

# A nest of arrays: what params, updates and optimizer states are made of.
ArrayTree = Union[jax.typing.ArrayLike, Iterable["ArrayTree"], Mapping[Any, "ArrayTree"]]

# A `mask` argument: a tree of bools shaped like the params (or a prefix), a
# function `params -> such a tree`, or None for "no mask".
MaskOrFn = Optional[Union[Any, collections.abc.Callable[[Params], Any]]]

# Stateless transforms whose optax state names are all `EmptyState`.
AdaptiveGradClipState = EmptyState
ClipByGlobalNormState = EmptyState
ClipState = EmptyState
NonNegativeParamsState = EmptyState
ScaleByTrustRatioState = EmptyState
ScaleState = EmptyState


class TransformInitFn(Protocol):
  """The `init` of a transform: `init(params) -> state`, the state's initial value."""

  def __call__(self, params: Params) -> OptState:
    """Returns the initial state for `params` (used for shapes and dtypes)."""


class TransformUpdateFn(Protocol):
  """The `update` of a transform: `update(updates, state, params=None) -> (updates, state)`."""

  def __call__(
      self, updates: Updates, state: OptState, params: Optional[Params] = None
  ) -> tuple[Updates, OptState]:
    """Returns the transformed updates and the next state."""


class TransformUpdateExtraArgsFn(Protocol):
  """An `update` that also takes keyword arguments (`value=loss`, ...), ignoring those it does not use."""

  def __call__(
      self,
      updates: Updates,
      state: OptState,
      params: Optional[Params] = None,
      **extra_args: Any,
  ) -> tuple[Updates, OptState]:
    """Returns the transformed updates and the next state."""


class ConditionFn(Protocol):
  """The test of `conditionally_transform` / `conditionally_mask`: `fn(step, **extra_args) -> bool scalar`."""

  def __call__(self, step: jax.typing.ArrayLike, **extra_args: Any) -> jax.typing.ArrayLike:
    """Whether to run the inner transform at `step` (an int32 scalar counting previous updates)."""


class ShouldSkipUpdateFunction(Protocol):
  """A `MultiSteps` skip test: `fn(updates, gradient_step, params) -> (should_skip, info)`."""

  def __call__(
      self,
      updates: Updates,
      gradient_step: jax.typing.ArrayLike,
      params: Optional[Params],
  ) -> tuple[jax.typing.ArrayLike, ArrayTree]:
    """A bool scalar (skip this mini-step) and a tree of diagnostics stored in the state."""


# --- declared fusion kinds: how a transform treats the leaves (read by `fused`) ---

FUSION_KINDS = ("elementwise", "global", "per_leaf", "composite", "unknown")


class FusionInfo(NamedTuple):
  """What a transform declared with `declare_fusion`."""

  kind: str  # one of FUSION_KINDS.
  name: str  # the public name, for messages.
  info: dict  # why=, children=, names=, mask=, labels=, rebuild=, forwards=.


# Keyed by the transform's `update` (by the instance for a bound method): a
# NamedTuple cannot be weakly referenced, its functions can.
_FUSION: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _fusion_key(tx: Any) -> Any:
  update = tx.update
  return update.__self__ if isinstance(update, types.MethodType) else update


def declare_fusion(tx: Any, kind: str, name: str, **info: Any) -> Any:
  """Declares how `tx` treats the leaves of the updates, for `fused`; returns `tx`.

  Kinds:
    "elementwise": each output element depends only on the same element of the
      updates, params and state, and on scalars (counts, schedules, a loss).
    "global": reductions over every element of every leaf, then elementwise
      (`clip_by_global_norm`): the same however the elements are grouped.
    "per_leaf": a statistic of each leaf (norm, factored moment, trust ratio,
      one noise key per leaf); `why=` says which. Not fusable.
    "composite": an elementwise or global combinator of `children=`; `names=`
      labels them; `mask=` or `labels=` (with `names=`) is a mask it applies;
      `rebuild=(kids, remask) -> tx` builds the same combinator over new
      children, with `remask(m)` in place of each mask `m`; `forwards=True`
      marks a one-child wrapper (`masked`) that passes a leaf kind declared on
      it to its child: a mask is structure, not a kind.
    "unknown": not fusable; `why=` says why.
  Undeclared transforms are unknown.
  """
  if kind not in FUSION_KINDS:
    raise ValueError(f"declare_fusion: `kind` must be one of {FUSION_KINDS}, got {kind!r}.")
  target = tx
  while kind != "composite":
    current = _FUSION.get(_fusion_key(target))
    if current is None or not current.info.get("forwards"):
      break
    target = current.info["children"][0]
  _FUSION[_fusion_key(target)] = FusionInfo(kind, name, info)
  return tx


def fusion_info(tx: Any) -> Optional[FusionInfo]:
  """What `tx` declared with `declare_fusion`, or None."""
  try:
    return _FUSION.get(_fusion_key(tx))
  except TypeError:  # an `update` that cannot be weakly referenced: never declared.
    return None


class StatefulSchedule(Protocol):
  """A schedule with a state (optax's protocol): `init() -> state`, `update(state, **extra) -> state`,
  `__call__(state, **extra) -> value`. `inject_hyperparams` accepts one in place of a hyperparameter."""

  def init(self) -> Any:
    """The initial schedule state."""

  def update(self, state: Any, **extra_args: Any) -> Any:
    """The next schedule state."""

  def __call__(self, state: Any, **extra_args: Any) -> jax.typing.ArrayLike:
    """The value at `state`."""
