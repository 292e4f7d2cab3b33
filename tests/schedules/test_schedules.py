"""Schedules: optax's equal optax's, extras equal their closed forms and PyTorch, bad input raises.

References: optax 0.2.8 evaluated eagerly with Python int steps (where optax is
right), closed forms in float64 NumPy, PyTorch's schedulers. Every schedule is
checked for Python int, NumPy int and jnp.int32 steps, eagerly, under `jit` and
under `vmap` over steps.
"""

import doctest
import importlib
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
from parity import assert_trajectories_match

RTOL, ATOL = 1e-5, 1e-6  # values are O(1); float32 rounding (and XLA's x/c -> x*(1/c)) only.

# (id, builder(module), last step). `module` is `jopt` or `optax`; boundaries sit well inside 0..last.
OPTAX_CASES = [
    ("constant", lambda m: m.constant_schedule(0.3), 5),
    ("polynomial", lambda m: m.polynomial_schedule(1.0, 0.1, 2, 10, 3), 16),
    ("polynomial-frac", lambda m: m.polynomial_schedule(1.0, 0.0, 0.5, 7), 10),
    ("linear", lambda m: m.linear_schedule(1.0, 0.1, 10), 14),
    ("linear-begin", lambda m: m.linear_schedule(0.0, 2.0, 6, transition_begin=4), 14),
    ("exponential", lambda m: m.exponential_decay(1.0, 7, 0.5, transition_begin=2), 20),
    ("exponential-stair-end", lambda m: m.exponential_decay(
        1.0, 4, 0.5, transition_begin=1, staircase=True, end_value=0.2), 16),
    ("exponential-up-end", lambda m: m.exponential_decay(0.1, 3, 2.0, end_value=0.5), 12),
    ("piecewise-constant", lambda m: m.piecewise_constant_schedule(1.0, {3: 0.5, 8: 0.1}), 12),
    ("piecewise-constant-none", lambda m: m.piecewise_constant_schedule(2.0), 3),
    ("piecewise-linear", lambda m: m.piecewise_interpolate_schedule(
        "linear", 1.0, {4: 0.1, 8: 0.01}), 12),
    ("piecewise-cosine", lambda m: m.piecewise_interpolate_schedule(
        "cosine", 2.0, {0: 0.5, 5: 3.0, 9: 0.1}), 12),
    ("cosine", lambda m: m.cosine_decay_schedule(1.0, 10), 13),
    ("cosine-alpha-exp", lambda m: m.cosine_decay_schedule(2.0, 9, alpha=0.1, exponent=2.0), 12),
    ("warmup-cosine", lambda m: m.warmup_cosine_decay_schedule(0.0, 1.0, 4, 14, 0.1), 18),
    ("warmup-cosine-nowarmup", lambda m: m.warmup_cosine_decay_schedule(0.5, 1.0, 0, 8), 10),
    ("warmup-cosine-exp", lambda m: m.warmup_cosine_decay_schedule(
        0.1, 2.0, 3, 11, end_value=0.2, exponent=0.7), 14),
    ("warmup-exponential", lambda m: m.warmup_exponential_decay_schedule(
        0.0, 1.0, 4, 5, 0.5, transition_begin=2, staircase=True, end_value=0.1), 24),
    ("warmup-exponential-smooth", lambda m: m.warmup_exponential_decay_schedule(
        0.2, 1.0, 3, 4, 0.8), 12),
    ("warmup-constant", lambda m: m.warmup_constant_schedule(0.1, 1.0, 5), 8),
    ("sgdr", lambda m: m.sgdr_schedule([
        dict(init_value=0.0, peak_value=1.0, warmup_steps=2, decay_steps=6),
        dict(init_value=0.1, peak_value=0.5, warmup_steps=1, decay_steps=4, end_value=0.05),
        dict(init_value=0.0, peak_value=0.25, warmup_steps=0, decay_steps=3)]), 16),
    ("cosine-onecycle", lambda m: m.cosine_onecycle_schedule(20, 1.0), 24),
    ("cosine-onecycle-args", lambda m: m.cosine_onecycle_schedule(
        15, 2.0, pct_start=0.4, div_factor=10.0, final_div_factor=100.0), 18),
    ("linear-onecycle", lambda m: m.linear_onecycle_schedule(20, 1.0), 24),
    ("linear-onecycle-args", lambda m: m.linear_onecycle_schedule(
        16, 2.0, pct_start=0.25, pct_final=0.5, div_factor=4.0, final_div_factor=8.0), 20),
    ("join", lambda m: m.join_schedules(
        [m.linear_schedule(0.0, 1.0, 5), m.cosine_decay_schedule(1.0, 6), m.constant_schedule(0.05)],
        [5, 11]), 14),
]


def _torch_cyclic(t, base, peak, up, down, mode, gamma=1.0):
  """PyTorch CyclicLR's documented formula (`get_lr`), literally, in float64."""
  total = up + down
  ratio = up / total
  cycle = math.floor(1 + t / total)
  x = 1.0 + t / total - cycle
  scale_factor = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
  height = (peak - base) * scale_factor
  if mode == "triangular":
    return base + height
  if mode == "triangular2":
    return base + height / (2.0 ** (cycle - 1))
  return base + height * gamma**t


def _hf_linear(t, warmup, total):
  """Hugging Face get_linear_schedule_with_warmup's multiplier (lr_lambda)."""
  if t < warmup:
    return t / max(1, warmup)
  return max(0.0, (total - t) / max(1, total - warmup))


# (id, jopt schedule, closed form t -> float64 value, last step).
EXTRA_CASES = [
    ("inverse-time", jopt.inverse_time_decay(1.0, 5, 0.5), lambda t: 1.0 / (1 + 0.5 * t / 5), 20),
    ("inverse-time-stair", jopt.inverse_time_decay(2.0, 4, 1.5, staircase=True),
     lambda t: 2.0 / (1 + 1.5 * (t // 4)), 20),
    ("step", jopt.step_decay(1.0, 4, 0.5), lambda t: 0.5 ** (t // 4), 20),
    ("step-default-gamma", jopt.step_decay(2.0, 3), lambda t: 2.0 * 0.1 ** (t // 3), 12),
    ("multistep", jopt.multistep_decay(1.0, [3, 7, 12], 0.1),
     lambda t: 0.1 ** sum(t >= m for m in (3, 7, 12)), 16),
    ("cyclic-triangular", jopt.cyclic_schedule(0.1, 1.0, 4, 6),
     lambda t: _torch_cyclic(t, 0.1, 1.0, 4, 6, "triangular"), 32),
    ("cyclic-triangular2", jopt.cyclic_schedule(0.1, 1.0, 3, mode="triangular2"),
     lambda t: _torch_cyclic(t, 0.1, 1.0, 3, 3, "triangular2"), 32),
    ("cyclic-exp-range", jopt.cyclic_schedule(0.2, 1.0, 5, 2, mode="exp_range", gamma=0.95),
     lambda t: _torch_cyclic(t, 0.2, 1.0, 5, 2, "exp_range", 0.95), 32),
    ("warmup-linear-hf", jopt.warmup_linear_decay_schedule(0.0, 2.0, 5, 15),
     lambda t: 2.0 * _hf_linear(t, 5, 15), 20),
    ("warmup-linear-ends", jopt.warmup_linear_decay_schedule(0.5, 2.0, 4, 10, end_value=0.2),
     lambda t: 0.5 + 1.5 * t / 4 if t < 4 else 2.0 + (0.2 - 2.0) * min((t - 4) / 6, 1.0), 14),
    ("warmup-linear-nowarmup", jopt.warmup_linear_decay_schedule(0.0, 1.0, 0, 8),
     lambda t: _hf_linear(t, 0, 8), 10),
]

STEP_TYPES = [int, np.int64, jnp.int32]


def _check_all_modes(sched, reference, last, lane="quick"):
  """`sched` equals `reference` (float64 values at 0..last) for every step type, eager/jit/vmap.

  The "quick" lane (fast lane) checks Python int steps eagerly and int32 steps under jit(vmap); the
  "full" lane (slow lane) every other step type and mode: NumPy and JAX integers eagerly, jit of int and
  int32 steps, vmap over int64 and int32 steps.
  """
  steps = list(range(last + 1))
  if lane == "quick":
    eager = np.array([np.asarray(sched(int(t))) for t in steps], np.float64)
    np.testing.assert_allclose(eager, reference, RTOL, ATOL, err_msg="eager int")
    got = jax.jit(jax.vmap(sched))(jnp.arange(last + 1, dtype=jnp.int32))
    np.testing.assert_allclose(got, reference, RTOL, ATOL, err_msg="jit(vmap)")
    assert np.all(np.isfinite(got))
    return
  for step_type in STEP_TYPES[1:]:
    eager = np.array([np.asarray(sched(step_type(t))) for t in steps], np.float64)
    np.testing.assert_allclose(eager, reference, RTOL, ATOL, err_msg=f"eager {step_type}")
  jitted = jax.jit(sched)
  for step_type in (int, jnp.int32):
    got = np.array([jitted(step_type(t)) for t in steps], np.float64)
    np.testing.assert_allclose(got, reference, RTOL, ATOL, err_msg=f"jit {step_type}")
  for dtype in (np.int64, np.int32):
    got = jax.vmap(sched)(np.arange(last + 1, dtype=dtype))
    np.testing.assert_allclose(got, reference, RTOL, ATOL, err_msg=f"vmap {dtype}")
    assert got.shape == (last + 1,)


LANES = ["quick", pytest.param("full", marks=pytest.mark.slow)]


@pytest.mark.parametrize("lane", LANES)
@pytest.mark.parametrize("build,last", [c[1:] for c in OPTAX_CASES], ids=[c[0] for c in OPTAX_CASES])
def test_equals_optax(build, last, lane):
  ours, theirs = build(jopt), build(optax)
  # optax evaluated eagerly on Python ints is right for these cases (its jit failures are tested below).
  reference = np.array([np.asarray(theirs(t)) for t in range(last + 1)], np.float64)
  _check_all_modes(ours, reference, last, lane)
  # Same dtype as optax for array steps (optax's constant_schedule returns the raw Python value).
  assert jnp.result_type(ours(jnp.int32(1))) == jnp.result_type(theirs(jnp.int32(1)))


@pytest.mark.parametrize("sched,closed_form,last", [c[1:] for c in EXTRA_CASES],
                         ids=[c[0] for c in EXTRA_CASES])
@pytest.mark.parametrize("lane", LANES)
def test_extras_closed_form(sched, closed_form, last, lane):
  reference = np.array([closed_form(t) for t in range(last + 1)], np.float64)
  _check_all_modes(sched, reference, last, lane)


def _torch_values(make_scheduler, steps):
  torch = importlib.import_module("torch")
  opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0, momentum=0.9)
  sched = make_scheduler(torch, opt)
  out = []
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # "scheduler.step() before optimizer.step()"
    for _ in range(steps):
      out.append(sched.get_last_lr()[0])
      opt.step()
      sched.step()
  return np.array(out)


@pytest.mark.parametrize("ours,make", [
    (jopt.step_decay(1.0, 4, 0.5),
     lambda torch, o: torch.optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.5)),
    (jopt.multistep_decay(1.0, [3, 7, 12], 0.1),
     lambda torch, o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[3, 7, 12], gamma=0.1)),
    (jopt.cyclic_schedule(0.1, 1.0, 4, 6),
     lambda torch, o: torch.optim.lr_scheduler.CyclicLR(o, 0.1, 1.0, 4, 6)),
    (jopt.cyclic_schedule(0.1, 1.0, 3, mode="triangular2"),
     lambda torch, o: torch.optim.lr_scheduler.CyclicLR(o, 0.1, 1.0, 3, mode="triangular2")),
    (jopt.cyclic_schedule(0.2, 1.0, 5, 2, mode="exp_range", gamma=0.95),
     lambda torch, o: torch.optim.lr_scheduler.CyclicLR(o, 0.2, 1.0, 5, 2, mode="exp_range",
                                                        gamma=0.95)),
    (jopt.warmup_linear_decay_schedule(0.0, 1.0, 5, 15),
     lambda torch, o: torch.optim.lr_scheduler.LambdaLR(o, lambda t: _hf_linear(t, 5, 15))),
], ids=["StepLR", "MultiStepLR", "CyclicLR-triangular", "CyclicLR-triangular2",
        "CyclicLR-exp_range", "HF-linear-warmup"])
def test_extras_equal_torch_schedulers(ours, make):
  expected = _torch_values(make, 33)
  np.testing.assert_allclose(jax.vmap(ours)(jnp.arange(33)), expected, RTOL, ATOL)


def test_optax_failures_are_fixed_under_jit():
  # polynomial with a fractional power: optax is NaN under jit at the end of the transition.
  end = 7
  ours = jax.jit(jopt.polynomial_schedule(1.0, 0.0, 0.5, end))
  assert all(np.isfinite(ours(t)) for t in range(end + 3))
  assert float(ours(end)) == 0.0 and float(ours(end + 2)) == 0.0
  # linear ends exactly at end_value under jit (optax: -1.5e-8 for 1 -> 0 over 10 steps).
  assert float(jax.jit(jopt.linear_schedule(1.0, 0.0, 10))(10)) == 0.0
  # staircase floor is exact: optax under jit is one stair late at steps 97, 194, ... for T=97.
  stair = jax.jit(jopt.exponential_decay(1.0, 97, 0.5, staircase=True))
  for t in (96, 97, 193, 194, 388):
    assert float(stair(t)) == 0.5 ** (t // 97), t


def _closure_snapshot(fn, seen=None):
  """(identity, type) of every value captured by `fn` and the functions it captures."""
  seen = set() if seen is None else seen
  out = []
  for cell in getattr(fn, "__closure__", None) or ():
    value = cell.cell_contents
    out.append((id(value), type(value)))
    for v in value if isinstance(value, (list, tuple)) else (value,):
      if callable(v) and id(v) not in seen:
        seen.add(id(v))
        out += _closure_snapshot(v, seen)
  return out


def _call_every_way(sched):
  for t in (0, 3, np.int64(5), jnp.int32(7)):
    sched(t)
  jax.jit(sched)(4)
  jax.vmap(sched)(jnp.arange(3))


ALL_SCHEDULES = [c[1](jopt) for c in OPTAX_CASES] + [c[1] for c in EXTRA_CASES]


@pytest.mark.parametrize("sched", ALL_SCHEDULES,
                         ids=[c[0] for c in OPTAX_CASES] + [c[0] for c in EXTRA_CASES])
def test_schedules_are_pure(sched):
  before = _closure_snapshot(sched)
  first = float(sched(3))
  _call_every_way(sched)
  assert _closure_snapshot(sched) == before
  assert float(sched(3)) == first


def test_purity_check_can_fail():
  # optax's cosine_decay_schedule rewrites its int `decay_steps` to a float on the first call.
  theirs = optax.cosine_decay_schedule(1.0, 10)
  before = _closure_snapshot(theirs)
  theirs(3)
  assert _closure_snapshot(theirs) != before


def test_constant_schedule_returns_arrays():
  s = jopt.constant_schedule(0.25)
  assert isinstance(s(3), jax.Array) and s(3).dtype == jnp.float32 and s(3).weak_type
  assert s(jnp.arange(4)).shape == (4,)
  np.testing.assert_array_equal(jax.vmap(s)(jnp.arange(3)), [0.25] * 3)


def test_warmup_constant_zero_warmup_is_peak():
  # differs from optax (which holds init_value forever): no warmup means the peak from step 0.
  s = jopt.warmup_constant_schedule(0.0, 1.0, 0)
  np.testing.assert_array_equal(jax.vmap(s)(jnp.arange(4)), [1.0] * 4)


def test_traced_hyperparameters():
  # Sweeps vmap over hyperparameters: schedules built from tracers must work.
  def values(peak, rate, end):
    a = jopt.warmup_cosine_decay_schedule(0.0, peak, 2, 10, end_value=end)(6)
    b = jopt.exponential_decay(peak, 3, rate, end_value=end)(9)
    return a, b

  peaks, rates, ends = jnp.array([1.0, 2.0, 0.0]), jnp.array([0.5, 0.9, 2.0]), jnp.array([0.1, 0.2, 0.3])
  a, b = jax.vmap(values)(peaks, rates, ends)
  for i in range(3):
    args = (float(peaks[i]), float(rates[i]), float(ends[i]))
    ra = optax.warmup_cosine_decay_schedule(0.0, args[0], 2, 10, end_value=args[2])(6)
    rb = optax.exponential_decay(args[0], 3, args[1], end_value=args[2])(9)
    np.testing.assert_allclose([a[i], b[i]], [ra, rb], RTOL, ATOL)


def test_first_update_uses_step_zero():
  sched = jopt.warmup_linear_decay_schedule(0.1, 1.0, 3, 8)
  tx = jopt.sgd(sched)
  params = {"w": jnp.ones(3)}
  state = tx.init(params)
  grads = {"w": jnp.full(3, 2.0)}
  for t in range(5):
    updates, state = tx.update(grads, state, params)
    np.testing.assert_allclose(updates["w"], -2.0 * float(sched(t)) * np.ones(3), rtol=1e-6)
  # ... which is optax's convention too: the same trajectory as optax with optax's schedule.
  assert_trajectories_match(
      jopt.adam(jopt.warmup_cosine_decay_schedule(0.0, 1e-2, 2, 6)),
      optax.adam(optax.warmup_cosine_decay_schedule(0.0, 1e-2, 2, 6)))


def test_scale_learning_rate():
  assert jopt.scale_learning_rate(0.1, 256, 1024) == pytest.approx(0.4)
  assert jopt.scale_learning_rate(0.1, 256, 64, rule="linear") == pytest.approx(0.025)
  assert jopt.scale_learning_rate(1e-3, 256, 1024, rule="sqrt") == pytest.approx(2e-3)
  assert jopt.scale_learning_rate(1e-3, 100, 50, rule="sqrt") == pytest.approx(1e-3 * math.sqrt(0.5))
  scaled = jopt.scale_learning_rate(jopt.step_decay(0.1, 2), 128, 512)
  np.testing.assert_allclose(jax.vmap(scaled)(jnp.arange(5)), [0.4, 0.4, 0.04, 0.04, 0.004], 1e-6)


# optax documents a constant schedule for `transition_steps <= 0` (and `decay_rate == 0`), and a
# negative `transition_begin` falling back to 0: jopt gives the same values (configs reach it with
# `warmup_steps=0`); these used to raise.
OPTAX_DEFINED = [
    ("polynomial_schedule", (10.0, 20.0, 1, -1)), ("polynomial_schedule", (10.0, 20.0, 2, 0)),
    ("polynomial_schedule", (1.0, 0.0, 2, 5, -3)), ("linear_schedule", (1.0, 0.0, 0)),
    ("linear_schedule", (1.0, 0.0, -4, 2)), ("linear_schedule", (1.0, 0.0, 10, -2)),
    ("exponential_decay", (1.0, 0, 0.5)), ("exponential_decay", (1.0, -1, 2.0, 0, True)),
    ("exponential_decay", (1.0, 10, 0.0)), ("exponential_decay", (1.0, 2, 0.0, 0, True, 0.1)),
    ("exponential_decay", (1.0, 10, 0.5, -1)), ("exponential_decay", (1.0, 4, 0.5, -3, True, 0.2)),
    ("warmup_exponential_decay_schedule", (0.0, 1.0, 5, 0, 0.5)),
    ("warmup_exponential_decay_schedule", (0.0, 1.0, 5, 4, 0.0)),
    ("warmup_exponential_decay_schedule", (0.0, 1.0, 5, 4, 0.5, -2)),
]


@pytest.mark.parametrize("name,args", OPTAX_DEFINED)
def test_optax_defined_degenerate_arguments_match_optax(name, args, caplog):
  steps = jnp.arange(16)
  with caplog.at_level("INFO", logger="jopt"):
    ours = getattr(jopt, name)(*args)
  theirs = getattr(optax, name)(*args)
  for fn in (lambda s, t: s(t), lambda s, t: jax.jit(s)(t)):
    got = np.array([float(fn(ours, t)) for t in steps])
    want = np.array([float(fn(theirs, t)) for t in steps])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
  assert caplog.records, "jopt logs the fallback as optax does"


BAD_INPUT = [
    (lambda: jopt.polynomial_schedule(1.0, 0.0, -1, 5), "polynomial_schedule.*`power`"),
    (lambda: jopt.exponential_decay(1.0, 10, -0.5), "exponential_decay.*`decay_rate`"),
    (lambda: jopt.cosine_decay_schedule(1.0, 0), "cosine_decay_schedule.*`decay_steps`"),
    (lambda: jopt.cosine_decay_schedule(1.0, 10, exponent=-1.0), "cosine_decay_schedule.*`exponent`"),
    (lambda: jopt.piecewise_constant_schedule(1.0, {5: -0.1}), "piecewise_constant_schedule.*scales"),
    (lambda: jopt.piecewise_constant_schedule(1.0, {-5: 0.1}), "piecewise_constant_schedule.*boundar"),
    (lambda: jopt.piecewise_interpolate_schedule("quadratic", 1.0), "`interpolate_type`"),
    (lambda: jopt.piecewise_interpolate_schedule("linear", 1.0, {3: -1.0}), "piecewise_interpolate"),
    (lambda: jopt.warmup_cosine_decay_schedule(0.0, 1.0, 10, 10), "warmup_cosine.*`decay_steps`"),
    (lambda: jopt.warmup_cosine_decay_schedule(0.0, 1.0, -1, 10), "warmup_cosine.*`warmup_steps`"),
    (lambda: jopt.warmup_exponential_decay_schedule(0.0, 1.0, -5, 10, 0.5),
     "warmup_exponential_decay_schedule.*`warmup_steps`"),
    (lambda: jopt.warmup_constant_schedule(0.0, 1.0, -3), "warmup_constant_schedule.*`warmup_steps`"),
    (lambda: jopt.warmup_linear_decay_schedule(0.0, 1.0, 8, 4), "warmup_linear.*`decay_steps`"),
    (lambda: jopt.sgdr_schedule([dict(init_value=0.0, peak_value=1.0, warmup_steps=5,
                                      decay_steps=2)]), r"sgdr_schedule.*cosine_kwargs\[0\]"),
    (lambda: jopt.sgdr_schedule([]), "sgdr_schedule.*`cosine_kwargs`"),
    (lambda: jopt.cosine_onecycle_schedule(0, 1.0), "cosine_onecycle_schedule.*`transition_steps`"),
    (lambda: jopt.cosine_onecycle_schedule(10, 1.0, pct_start=1.0), "cosine_onecycle.*`pct_start`"),
    (lambda: jopt.cosine_onecycle_schedule(10, 1.0, div_factor=0.0), "`div_factor`"),
    (lambda: jopt.linear_onecycle_schedule(10, 1.0, pct_start=0.9, pct_final=0.5), "`pct_final`"),
    (lambda: jopt.linear_onecycle_schedule(10, 1.0, pct_final=1.0), "`pct_final`"),
    (lambda: jopt.linear_onecycle_schedule(1, 1.0), "linear_onecycle_schedule.*too short"),
    (lambda: jopt.linear_onecycle_schedule(10, 1.0, final_div_factor=-1.0), "`final_div_factor`"),
    (lambda: jopt.join_schedules([jopt.constant_schedule(1.0)] * 3, [5, 5]),
     "join_schedules.*`boundaries`.*increasing"),
    (lambda: jopt.join_schedules([jopt.constant_schedule(1.0)] * 3, [8, 5]),
     "join_schedules.*`boundaries`.*increasing"),
    (lambda: jopt.join_schedules([jopt.constant_schedule(1.0)] * 2, [5, 8]),
     "join_schedules.*`boundaries`.*entries"),
    (lambda: jopt.join_schedules([jopt.constant_schedule(1.0)] * 2, [-1]), "join_schedules.*`boundaries`"),
    (lambda: jopt.inverse_time_decay(1.0, 0, 0.5), "inverse_time_decay.*`decay_steps`"),
    (lambda: jopt.inverse_time_decay(1.0, 10, -0.5), "inverse_time_decay.*`decay_rate`"),
    (lambda: jopt.step_decay(1.0, 0), "step_decay.*`step_size`"),
    (lambda: jopt.step_decay(1.0, 10, gamma=-0.1), "step_decay.*`gamma`"),
    (lambda: jopt.multistep_decay(1.0, [10, 5]), "multistep_decay.*`milestones`.*increasing"),
    (lambda: jopt.multistep_decay(1.0, [5, 5]), "multistep_decay.*`milestones`.*increasing"),
    (lambda: jopt.multistep_decay(1.0, [-5, 5]), "multistep_decay.*`milestones`"),
    (lambda: jopt.cyclic_schedule(0.1, 1.0, 0), "cyclic_schedule.*`step_size_up`"),
    (lambda: jopt.cyclic_schedule(0.1, 1.0, 5, -1), "cyclic_schedule.*`step_size_down`"),
    (lambda: jopt.cyclic_schedule(0.1, 1.0, mode="sawtooth"), "cyclic_schedule.*`mode`"),
    (lambda: jopt.cyclic_schedule(0.1, 1.0, mode="exp_range", gamma=0.0), "cyclic_schedule.*`gamma`"),
    (lambda: jopt.scale_learning_rate(0.1, 0, 256), "scale_learning_rate.*`base_batch_size`"),
    (lambda: jopt.scale_learning_rate(0.1, 256, 2.5), "scale_learning_rate.*`batch_size`"),
    (lambda: jopt.scale_learning_rate(0.1, 256, 512, rule="cubic"), "scale_learning_rate.*`rule`"),
    (lambda: jopt.scale_learning_rate(-0.1, 256, 512), "scale_learning_rate.*`base_lr`"),
]


@pytest.mark.parametrize("build,match", BAD_INPUT, ids=[str(i) for i in range(len(BAD_INPUT))])
def test_bad_input_raises_at_build_time(build, match):
  with pytest.raises(ValueError, match=match):
    build()


def test_docstring_examples():
  modules = ["batch_scaling", "cosine", "cyclic", "exponential", "join", "onecycle", "piecewise",
             "polynomial", "step_decay", "warmup"]
  for name in modules:
    module = importlib.import_module(f"jopt._src.schedules.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, name


def test_none_interpolate_type_raises_what_optax_raises():
  """`piecewise_interpolate_schedule(None, ...)`: optax raises ValueError; jopt's `None` check
  raises an error that is a ValueError and a TypeError (code catching either works)."""
  with pytest.raises(ValueError):
    optax.piecewise_interpolate_schedule(None, 13.0, {})
  for kind in (ValueError, TypeError):
    with pytest.raises(kind, match="piecewise_interpolate_schedule: `interpolate_type` must not be None"):
      jopt.piecewise_interpolate_schedule(None, 13.0, {})
