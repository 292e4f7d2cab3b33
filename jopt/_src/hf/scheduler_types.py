"""`lr_scheduler`: Transformers' `get_scheduler` by `TrainingArguments.lr_scheduler_type` name."""

import inspect
from typing import Optional

from jopt._src import base
from jopt._src import checks
from jopt._src.hf import min_lr_schedules
from jopt._src.hf import warmup_schedules

_BY_TYPE = {
    "linear": warmup_schedules.get_linear_schedule_with_warmup,
    "cosine": warmup_schedules.get_cosine_schedule_with_warmup,
    "cosine_with_restarts": warmup_schedules.get_cosine_with_hard_restarts_schedule_with_warmup,
    "polynomial": warmup_schedules.get_polynomial_decay_schedule_with_warmup,
    "constant": warmup_schedules.get_constant_schedule,
    "constant_with_warmup": warmup_schedules.get_constant_schedule_with_warmup,
    "inverse_sqrt": warmup_schedules.get_inverse_sqrt_schedule,
    "cosine_with_min_lr": min_lr_schedules.get_cosine_with_min_lr_schedule_with_warmup,
    "cosine_warmup_with_min_lr": min_lr_schedules.get_cosine_with_min_lr_schedule_with_warmup_lr_rate,
    "warmup_stable_decay": min_lr_schedules.get_wsd_schedule,
}
_METRIC_DRIVEN = ("reduce_lr_on_plateau", "greedy")


@checks.public
def lr_scheduler(
    name: str,
    learning_rate: float,
    num_warmup_steps: Optional[int] = None,
    num_training_steps: Optional[int] = None,
    scheduler_specific_kwargs: Optional[dict] = None,
) -> base.Schedule:
  """`transformers.get_scheduler` by `lr_scheduler_type` name, with the base learning rate instead of an optimizer.

  The names are `TrainingArguments.lr_scheduler_type` values (`SchedulerType`):
  "linear", "cosine", "cosine_with_restarts", "polynomial", "constant",
  "constant_with_warmup", "inverse_sqrt", "cosine_with_min_lr",
  "cosine_warmup_with_min_lr", "warmup_stable_decay"; `lr_scheduler_kwargs`
  go in `scheduler_specific_kwargs`. As in Transformers, "constant" ignores
  the step counts and extra arguments, "constant_with_warmup" the extra
  arguments, and a missing `num_warmup_steps` / `num_training_steps` that the
  schedule needs raises. "reduce_lr_on_plateau" and "greedy" follow a metric,
  not the step: they raise here (use `jopt.torch.reduce_lr_on_plateau` or
  `jopt.reduce_on_plateau`).

  Args:
    name: the scheduler type (a string or a `transformers.SchedulerType`).
    learning_rate: the base learning rate (`TrainingArguments.learning_rate`).
    num_warmup_steps: warmup steps (`TrainingArguments.get_warmup_steps(...)`).
    num_training_steps: total optimizer steps (`max_steps`).
    scheduler_specific_kwargs: the schedule's other arguments.

  Returns:
    A schedule `count -> lr` (float32).

  Example:
    >>> import jopt
    >>> s = jopt.transformers.lr_scheduler("linear", 1e-3, num_warmup_steps=10,
    ...                                    num_training_steps=100)
    >>> tx = jopt.torch.adamw(lr=s, weight_decay=0.0)
  """
  fn = "jopt.transformers.lr_scheduler"
  key = getattr(name, "value", name)
  if key in _METRIC_DRIVEN:
    raise ValueError(
        f"{checks._name(fn)}: {key!r} follows a metric, not the step count, so it is not a schedule; "
        "use "
        "`jopt.torch.reduce_lr_on_plateau` (PyTorch's ReduceLROnPlateau) or "
        "`jopt.reduce_on_plateau`.")
  if not isinstance(key, str) or key not in _BY_TYPE:
    error = ValueError if isinstance(key, str) else TypeError
    raise error(f"{checks._name(fn)}: `name` {name!r} is not a valid SchedulerType, please select "
                f"one of {list(_BY_TYPE) + list(_METRIC_DRIVEN)}.")
  factory = _BY_TYPE[key]
  if scheduler_specific_kwargs is not None and not isinstance(scheduler_specific_kwargs, dict):
    raise TypeError(f"{checks._name(fn)}: `scheduler_specific_kwargs` must be a dict of the "
                    f"schedule's other arguments or None, got {scheduler_specific_kwargs!r}.")
  if key == "constant":
    return factory(learning_rate)
  kwargs = dict(scheduler_specific_kwargs or {})
  known = set(inspect.signature(factory).parameters) - {
      "learning_rate", "num_warmup_steps", "num_training_steps"}
  unknown = sorted(set(kwargs) - known, key=str)
  if unknown and key != "constant_with_warmup":  # Transformers drops them for that one
    raise TypeError(f"{checks._name(fn)}: `scheduler_specific_kwargs` has {unknown!r}, which "
                    f"{factory.__name__} does not take; it takes {sorted(known)}.")
  if num_warmup_steps is None:
    raise ValueError(f"{checks._name(fn)}: {key} requires `num_warmup_steps`, please provide that "
                     "argument.")
  if key == "constant_with_warmup":
    return factory(learning_rate, num_warmup_steps=num_warmup_steps)
  if key == "inverse_sqrt":
    return factory(learning_rate, num_warmup_steps=num_warmup_steps, **kwargs)
  if key == "warmup_stable_decay":
    return factory(learning_rate, num_warmup_steps=num_warmup_steps,
                   num_training_steps=num_training_steps, **kwargs)
  if num_training_steps is None:
    raise ValueError(f"{checks._name(fn)}: {key} requires `num_training_steps`, please provide that "
                     "argument.")
  return factory(learning_rate, num_warmup_steps=num_warmup_steps,
                 num_training_steps=num_training_steps, **kwargs)
