"""jopt.schedules: the schedules and hyperparameter injection under optax's `optax.schedules` names (re-exports only)."""

from jopt import InjectHyperparamsState
from jopt import Schedule
from jopt import constant_schedule
from jopt import cosine_decay_schedule
from jopt import cosine_onecycle_schedule
from jopt import exponential_decay
from jopt import inject_hyperparams
from jopt import join_schedules
from jopt import linear_onecycle_schedule
from jopt import linear_schedule
from jopt import piecewise_constant_schedule
from jopt import piecewise_interpolate_schedule
from jopt import polynomial_schedule
from jopt import sgdr_schedule
from jopt import warmup_constant_schedule
from jopt import warmup_cosine_decay_schedule
from jopt import warmup_exponential_decay_schedule
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
