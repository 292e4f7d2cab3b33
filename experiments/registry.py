"""The launchable optimizers and schedules, found by introspecting `jopt`'s exports, and their validation.

Nothing here is a hand-kept list: every function that `jopt` exports and that
looks like an optimizer (first argument `learning_rate`, returns a
`GradientTransformation`, not a `scale_by_*` building block) is launchable as
`--optimizer=<name>`, and every exported schedule factory whose arguments are
plain values (not other schedules) is launchable as `--schedule=<name>`. A
hyperparameter given by name is checked against the chosen function's
signature before anything is built.
"""

import ast
import inspect
import typing
from typing import Any, Callable, Mapping

import jopt
from jopt._src import base

# Arguments that are trees or functions, not values a flag can hold (set them from a config file).
_TREE_ARGS = ("mask", "weight_decay_mask")
_SCHEDULE_MODULE = "jopt._src.schedules."
# Filled in from the run when a schedule needs them and the user did not set them.
LR_ARGS = ("init_value", "peak_value", "value")
LENGTH_ARGS = ("decay_steps", "transition_steps")


class ConfigError(ValueError):
  """A bad experiment setting: the launcher reports it and exits with code 2."""


def _returns_transform(fn: Callable[..., Any]) -> bool:
  try:
    ret = typing.get_type_hints(fn).get("return")
  except Exception:  # pylint: disable=broad-except
    ret = inspect.signature(fn).return_annotation
  return isinstance(ret, type) and issubclass(ret, base.GradientTransformation)


def _optimizers() -> dict[str, Callable[..., Any]]:
  out = {}
  for name in jopt.__all__:
    fn = getattr(jopt, name)
    if not inspect.isfunction(fn) or name.startswith("scale_by"):
      continue
    params = list(inspect.signature(fn).parameters)
    if params and params[0] == "learning_rate" and _returns_transform(fn):
      out[name] = fn
  return out


def _takes_only_values(fn: Callable[..., Any]) -> bool:
  """True unless some argument is annotated as a schedule, a sequence of schedules or kwargs dicts."""
  for p in inspect.signature(fn).parameters.values():
    ann = str(p.annotation)
    if "Callable" in ann or "Iterable[dict" in ann or "Sequence[Callable" in ann:
      return False
  return True


def _schedules() -> dict[str, Callable[..., Any]]:
  out = {}
  for name in jopt.__all__:
    fn = getattr(jopt, name)
    if inspect.isfunction(fn) and fn.__module__.startswith(_SCHEDULE_MODULE) and _takes_only_values(fn):
      out[name] = fn
  return out


OPTIMIZERS: dict[str, Callable[..., Any]] = _optimizers()
SCHEDULES: dict[str, Callable[..., Any]] = _schedules()


def arg_names(fn: Callable[..., Any], skip: tuple[str, ...] = ()) -> list[str]:
  """The flag-settable argument names of `fn` (trees, masks and `skip` excluded)."""
  return [n for n in inspect.signature(fn).parameters if n not in _TREE_ARGS + skip]


def optimizer_hyperparams() -> dict[str, list[str]]:
  """Every optimizer hyperparameter name (not `learning_rate`) -> the optimizers that take it."""
  out: dict[str, list[str]] = {}
  for name, fn in OPTIMIZERS.items():
    for arg in arg_names(fn, skip=("learning_rate",)):
      out.setdefault(arg, []).append(name)
  return out


def schedule_args() -> dict[str, list[str]]:
  """Every schedule argument name -> the schedules that take it."""
  out: dict[str, list[str]] = {}
  for name, fn in SCHEDULES.items():
    for arg in arg_names(fn):
      out.setdefault(arg, []).append(name)
  return out


def parse_value(text: str) -> Any:
  """A flag string as a Python literal (`0.9`, `True`, `[30, 60]`, `{100: 0.1}`), else the string."""
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def _choose(kind: str, name: str, table: Mapping[str, Any]) -> Callable[..., Any]:
  if name not in table:
    raise ConfigError(f"unknown {kind} {name!r}; valid choices: {', '.join(sorted(table))}.")
  return table[name]


def _bind(kind: str, name: str, fn: Callable[..., Any], args: Mapping[str, Any]) -> None:
  valid = arg_names(fn)
  unknown = sorted(set(args) - set(valid))
  if unknown:
    raise ConfigError(
        f"{kind} {name!r} takes no argument(s) {unknown}; its arguments are: {', '.join(valid)}."
    )
  try:
    inspect.signature(fn).bind(**args)
  except TypeError as e:
    missing = [
        n for n, p in inspect.signature(fn).parameters.items()
        if p.default is inspect.Parameter.empty and n not in args
    ]
    raise ConfigError(f"{kind} {name!r}: missing required argument(s) {missing} ({e}).") from None


def build_schedule(name: str, args: Mapping[str, Any], learning_rate: float, total_steps: int):
  """`jopt.<name>(**args)`, the peak (or initial) value defaulting to `learning_rate`, the length to the run.

  `init_value` defaults to 0 for schedules that also take a `peak_value` (warmups, cycles).

  Args:
    name: an entry of `SCHEDULES`.
    args: the schedule's arguments by name (validated against its signature).
    learning_rate: the value for `init_value`/`peak_value`/`value` when not given.
    total_steps: the value for `decay_steps`/`transition_steps` when not given.

  Returns:
    The schedule (a function of the step count).

  Raises:
    ConfigError: unknown name, unknown or missing argument, or a value the schedule rejects.
  """
  fn = _choose("schedule", name, SCHEDULES)
  params = inspect.signature(fn).parameters
  full = dict(args)
  for arg in LR_ARGS:
    if arg in params and arg not in full:
      # With a peak (warmup, cyclic), `init_value` is where the warmup starts: 0 by default.
      full[arg] = 0.0 if arg == "init_value" and "peak_value" in params else learning_rate
  for arg in LENGTH_ARGS:
    if arg in params and arg not in full:
      full[arg] = total_steps
  _bind("schedule", name, fn, full)
  try:
    return fn(**full)
  except (ValueError, TypeError) as e:
    raise ConfigError(f"schedule {name!r}: {e}") from None


def build_optimizer(name: str, learning_rate: Any, args: Mapping[str, Any]) -> base.GradientTransformation:
  """`jopt.inject_hyperparams(jopt.<name>)(learning_rate, **args)`: the optimizer, its hyperparameters logged.

  Args:
    name: an entry of `OPTIMIZERS`.
    learning_rate: a float or a schedule.
    args: the optimizer's other hyperparameters by name (validated against its signature).

  Returns:
    The optimizer; `jopt.hyperparams(opt_state)` reads its learning rate each step.

  Raises:
    ConfigError: unknown name, unknown argument, or a value the optimizer rejects.
  """
  fn = _choose("optimizer", name, OPTIMIZERS)
  _bind("optimizer", name, fn, {"learning_rate": learning_rate, **args})
  try:
    return jopt.inject_hyperparams(fn)(learning_rate=learning_rate, **args)
  except (ValueError, TypeError) as e:
    raise ConfigError(f"optimizer {name!r}: {e}") from None


def takes(name: str, arg: str) -> bool:
  """Whether optimizer `name` has an argument `arg`."""
  return name in OPTIMIZERS and arg in inspect.signature(OPTIMIZERS[name]).parameters
