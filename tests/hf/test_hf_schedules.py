"""jopt.transformers schedules against Transformers' `get_*_schedule*` (torch `LambdaLR`) and `get_scheduler`."""

import inspect
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")  # test dependencies: torch (CPU) and transformers
transformers_optimization = pytest.importorskip("transformers.optimization")
from transformers.trainer_utils import SchedulerType  # noqa: E402

import jopt.transformers as jt  # noqa: E402

torch.set_num_threads(1)
HF = transformers_optimization

# (helper, kwargs): two or three draws each; every branch (types, min-lr forms) exercised.
CASES = [
    ("get_constant_schedule", {}),
    ("get_constant_schedule_with_warmup", dict(num_warmup_steps=7)),
    ("get_constant_schedule_with_warmup", dict(num_warmup_steps=0)),
    ("get_linear_schedule_with_warmup", dict(num_warmup_steps=7, num_training_steps=50)),
    ("get_linear_schedule_with_warmup", dict(num_warmup_steps=0, num_training_steps=1)),
    ("get_linear_schedule_with_warmup", dict(num_warmup_steps=60, num_training_steps=50)),
    ("get_cosine_schedule_with_warmup", dict(num_warmup_steps=7, num_training_steps=50)),
    ("get_cosine_schedule_with_warmup", dict(num_warmup_steps=3, num_training_steps=40, num_cycles=0.7)),
    ("get_cosine_with_hard_restarts_schedule_with_warmup", dict(num_warmup_steps=7, num_training_steps=50)),
    ("get_cosine_with_hard_restarts_schedule_with_warmup",
     dict(num_warmup_steps=1, num_training_steps=100, num_cycles=3)),
    ("get_cosine_with_hard_restarts_schedule_with_warmup",
     dict(num_warmup_steps=4, num_training_steps=64, num_cycles=2.5)),
    ("get_polynomial_decay_schedule_with_warmup", dict(num_warmup_steps=7, num_training_steps=50)),
    ("get_polynomial_decay_schedule_with_warmup",
     dict(num_warmup_steps=0, num_training_steps=30, lr_end=1e-4, power=2.0)),
    ("get_polynomial_decay_schedule_with_warmup",
     dict(num_warmup_steps=40, num_training_steps=30, lr_end=1e-4, power=0.5)),
    ("get_inverse_sqrt_schedule", dict(num_warmup_steps=7)),
    ("get_inverse_sqrt_schedule", dict(num_warmup_steps=0)),
    ("get_inverse_sqrt_schedule", dict(num_warmup_steps=5, timescale=13)),
    ("get_cosine_with_min_lr_schedule_with_warmup", dict(num_warmup_steps=7, num_training_steps=50, min_lr=1e-4)),
    ("get_cosine_with_min_lr_schedule_with_warmup",
     dict(num_warmup_steps=0, num_training_steps=40, num_cycles=1.0, min_lr_rate=0.1)),
    ("get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
     dict(num_warmup_steps=7, num_training_steps=50, min_lr_rate=0.1)),
    ("get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
     dict(num_warmup_steps=7, num_training_steps=50, min_lr=1e-4, warmup_lr_rate=0.2)),
    ("get_wsd_schedule", dict(num_warmup_steps=7, num_decay_steps=20, num_training_steps=50)),
    ("get_wsd_schedule", dict(num_warmup_steps=7, num_decay_steps=20, num_training_steps=50,
                              warmup_type="cosine", decay_type="1-sqrt", min_lr_ratio=0.1)),
    ("get_wsd_schedule", dict(num_warmup_steps=6, num_decay_steps=15, num_stable_steps=5,
                              warmup_type="1-sqrt", decay_type="linear", min_lr_ratio=0.05)),
    ("get_wsd_schedule", dict(num_warmup_steps=6, num_decay_steps=15, num_stable_steps=5,
                              decay_type="cosine", num_cycles=1.5)),
]
IDS = [f"{c[0]}-{i}" for i, c in enumerate(CASES)]
LR = 3e-3


def _optimizer(lr=LR, initial_lr=None):
  opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
  if initial_lr is not None:
    for group in opt.param_groups:
      group["initial_lr"] = initial_lr
  return opt


def hf_lambda(name, kwargs, lr=LR):
  """Transformers' `lr_lambda` of the `LambdaLR` that `name(optimizer, **kwargs)` builds."""
  return getattr(HF, name)(_optimizer(lr), **kwargs).lr_lambdas[0]


def _steps(kwargs):
  end = max(kwargs.get("num_training_steps", 0), kwargs.get("num_warmup_steps", 0), 30) + 25
  return np.array(list(range(end)) + [10**6 + 3, 10**9 + 7, 2**31 - 100])


@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_matches_transformers(name, kwargs):
  lam = hf_lambda(name, kwargs)
  steps = _steps(kwargs)
  expected = np.array([LR * lam(int(s)) for s in steps])
  ours = getattr(jt, name)(LR, **kwargs)
  py = np.array([float(ours(int(s))) for s in steps[:30]])
  jx = np.array([float(ours(jnp.int32(s))) for s in steps[:30]])
  jitted = np.asarray(jax.jit(jax.vmap(ours))(jnp.asarray(steps, jnp.int32)))
  for how, got in (("python int", py), ("jax int", jx), ("jit", jitted)):
    np.testing.assert_allclose(got, expected[:len(got)], rtol=1e-5, atol=1e-6 * LR,
                               err_msg=f"{name} {kwargs} ({how})")


@pytest.mark.parametrize("last_epoch", [-1, 4])
def test_count_zero_is_the_first_optimizer_step(last_epoch):
  """The lr torch uses at each `optimizer.step()` (then `scheduler.step()`) is `schedule(count)`."""
  kwargs = dict(num_warmup_steps=5, num_training_steps=20)
  opt = _optimizer(initial_lr=LR if last_epoch >= 0 else None)
  sched = HF.get_cosine_schedule_with_warmup(opt, **kwargs, last_epoch=last_epoch)
  ours = jt.get_cosine_schedule_with_warmup(LR, **kwargs, last_epoch=last_epoch)
  for count in range(25):
    used = opt.param_groups[0]["lr"]
    opt.step()
    sched.step()
    np.testing.assert_allclose(float(ours(count)), used, rtol=1e-6, atol=1e-7 * LR, err_msg=str(count))


def test_hard_restarts_land_on_their_steps():
  """Every step of a grid of (warmup, total, cycles): the exact phase equals Transformers' float64 one."""
  for w, n, c in [(0, 12, 3), (2, 98, 4), (5, 105, 10), (1, 64, 7)]:
    lam = hf_lambda("get_cosine_with_hard_restarts_schedule_with_warmup",
                    dict(num_warmup_steps=w, num_training_steps=n, num_cycles=c), lr=1.0)
    ours = jt.get_cosine_with_hard_restarts_schedule_with_warmup(1.0, w, n, c)
    steps = np.arange(n + 3)
    got = np.asarray(jax.jit(jax.vmap(ours))(jnp.asarray(steps)))
    np.testing.assert_allclose(got, [lam(int(s)) for s in steps], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", [t.value for t in SchedulerType])
def test_lr_scheduler_names(kind):
  """`lr_scheduler(name, ...)` is `transformers.get_scheduler(name, ...)` for every `SchedulerType`."""
  specific = {"cosine_with_min_lr": dict(min_lr_rate=0.1),
              "cosine_warmup_with_min_lr": dict(min_lr=1e-5),
              "cosine_with_restarts": dict(num_cycles=2),
              "warmup_stable_decay": dict(num_decay_steps=10)}.get(kind)
  args = dict(num_warmup_steps=4, num_training_steps=40, scheduler_specific_kwargs=specific)
  if kind in ("reduce_lr_on_plateau", "greedy"):
    with pytest.raises(ValueError, match="metric"):
      jt.lr_scheduler(kind, LR, **args)
    return
  opt = _optimizer()
  sched = HF.get_scheduler(kind, opt, **args)
  ours = jt.lr_scheduler(SchedulerType(kind), LR, **args)
  for count in range(45):
    np.testing.assert_allclose(float(ours(count)), opt.param_groups[0]["lr"], rtol=1e-5,
                               atol=1e-6 * LR, err_msg=f"{kind} {count}")
    opt.step()
    sched.step()


def test_lr_scheduler_missing_arguments_raise_as_in_transformers():
  for kind, kwargs in [("linear", dict(num_training_steps=10)), ("cosine", dict(num_warmup_steps=2)),
                       ("inverse_sqrt", {})]:
    with pytest.raises(ValueError):
      HF.get_scheduler(kind, _optimizer(), **kwargs)
    with pytest.raises(ValueError, match="jopt.transformers.lr_scheduler.*requires"):
      jt.lr_scheduler(kind, LR, **kwargs)
  with pytest.raises(ValueError, match="not a valid SchedulerType"):
    jt.lr_scheduler("linear_warmup", LR, 1, 10)


@pytest.mark.parametrize("name", sorted({c[0] for c in CASES}))
def test_signature_is_transformers_with_learning_rate(name):
  theirs = list(inspect.signature(getattr(HF, name)).parameters.values())
  assert theirs[0].name == "optimizer"
  expected = [("learning_rate", inspect.Parameter.empty)] + [(p.name, p.default) for p in theirs[1:]]
  ours = [(p.name, p.default) for p in inspect.signature(getattr(jt, name)).parameters.values()]
  assert ours == expected


def test_lr_scheduler_signature():
  theirs = list(inspect.signature(HF.get_scheduler).parameters.values())
  ours = list(inspect.signature(jt.lr_scheduler).parameters.values())
  assert [p.name for p in ours] == ["name", "learning_rate"] + [p.name for p in theirs[2:]]
  assert [p.default for p in ours[2:]] == [p.default for p in theirs[2:]]


BAD = [
    ("get_polynomial_decay_schedule_with_warmup", dict(num_warmup_steps=2, num_training_steps=10, lr_end=LR),
     "lr_end"),
    ("get_cosine_with_min_lr_schedule_with_warmup",
     dict(num_warmup_steps=2, num_training_steps=10, min_lr=1e-5, min_lr_rate=0.1), "min_lr"),
    ("get_cosine_with_min_lr_schedule_with_warmup", dict(num_warmup_steps=2, num_training_steps=10),
     "min_lr"),
    ("get_wsd_schedule", dict(num_warmup_steps=2, num_decay_steps=3), "num_training_steps"),
    ("get_wsd_schedule", dict(num_warmup_steps=2, num_decay_steps=3, num_training_steps=9,
                              warmup_type="exp"), "warmup_type"),
    ("get_wsd_schedule", dict(num_warmup_steps=2, num_decay_steps=3, num_training_steps=9,
                              decay_type="exp"), "decay_type"),
]


@pytest.mark.parametrize("name,kwargs,arg", BAD, ids=[f"{b[0]}-{b[2]}" for b in BAD])
def test_transformers_rejects_so_does_jopt(name, kwargs, arg):
  with pytest.raises(ValueError):
    getattr(HF, name)(_optimizer(), **kwargs)
  with pytest.raises(ValueError, match=rf"jopt\.transformers\.{name}.*`{arg}`"):
    getattr(jt, name)(LR, **kwargs)


def test_wsd_both_lengths_warns_and_uses_stable_steps():
  kwargs = dict(num_warmup_steps=2, num_decay_steps=3, num_training_steps=100, num_stable_steps=4)
  with pytest.warns(UserWarning):
    HF.get_wsd_schedule(_optimizer(), **kwargs)
  with pytest.warns(UserWarning, match="num_stable_steps"):
    ours = jt.get_wsd_schedule(LR, **kwargs)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    lam = hf_lambda("get_wsd_schedule", kwargs)
  np.testing.assert_allclose([float(ours(s)) for s in range(12)], [LR * lam(s) for s in range(12)],
                             rtol=1e-5, atol=1e-9)


def test_docstring_examples():
  import doctest
  import importlib
  for name in ("warmup_schedules", "min_lr_schedules", "scheduler_types", "fairseq_adafactor", "lambdas"):
    module = importlib.import_module(f"jopt._src.hf.{name}")
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0, name
