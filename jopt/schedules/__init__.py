"""jopt.schedules: the schedules and hyperparameter injection under optax's `optax.schedules` names (re-exports only)."""

from jopt._src.wrappers.hyperparams import InjectHyperparamsState
from jopt._src.base import Schedule
from jopt._src.schedules.polynomial import constant_schedule
from jopt._src.schedules.cosine import cosine_decay_schedule
from jopt._src.schedules.onecycle import cosine_onecycle_schedule
from jopt._src.schedules.exponential import exponential_decay
from jopt._src.wrappers.hyperparams import inject_hyperparams
from jopt._src.schedules.join import join_schedules
from jopt._src.schedules.onecycle import linear_onecycle_schedule
from jopt._src.schedules.polynomial import linear_schedule
from jopt._src.schedules.piecewise import piecewise_constant_schedule
from jopt._src.schedules.piecewise import piecewise_interpolate_schedule
from jopt._src.schedules.polynomial import polynomial_schedule
from jopt._src.schedules.cyclic import sgdr_schedule
from jopt._src.schedules.warmup import warmup_constant_schedule
from jopt._src.schedules.warmup import warmup_cosine_decay_schedule
from jopt._src.schedules.warmup import warmup_exponential_decay_schedule
from jopt._src.base import StatefulSchedule
from jopt._src.wrappers.hyperparams import InjectStatefulHyperparamsState
from jopt._src.wrappers.hyperparams import WrappedSchedule
from jopt._src.wrappers.hyperparams import inject_stateful_hyperparams

__all__ = [
    "InjectHyperparamsState",
    "InjectStatefulHyperparamsState",
    "Schedule",
    "StatefulSchedule",
    "WrappedSchedule",
    "constant_schedule",
    "cosine_decay_schedule",
    "cosine_onecycle_schedule",
    "exponential_decay",
    "inject_hyperparams",
    "inject_stateful_hyperparams",
    "join_schedules",
    "linear_onecycle_schedule",
    "linear_schedule",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "polynomial_schedule",
    "sgdr_schedule",
    "warmup_constant_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
]
