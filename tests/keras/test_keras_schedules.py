"""jopt.keras schedules against Keras 3's `keras.optimizers.schedules`, at small and very large steps."""

import inspect
import math
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import jax.numpy as jnp
import numpy as np
import pytest

keras = pytest.importorskip("keras")  # a test dependency: `pip install keras==3.15.1`
if keras.backend.backend() != "jax":
  pytest.skip("jopt.keras is tested against Keras's JAX backend (KERAS_BACKEND=jax)",
              allow_module_level=True)

import jopt.keras as jk

KS = keras.optimizers.schedules
EPS32 = float(np.finfo(np.float32).eps)

# (jopt name, Keras class, kwargs, period): two or three draws each, every flag both ways.
CASES = [
    ("exponential_decay", "ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.9), 7),
    ("exponential_decay", "ExponentialDecay",
     dict(initial_learning_rate=0.3, decay_steps=97, decay_rate=0.5, staircase=True), 97),
    ("inverse_time_decay", "InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.5), 7),
    ("inverse_time_decay", "InverseTimeDecay",
     dict(initial_learning_rate=0.2, decay_steps=13, decay_rate=2.0, staircase=True), 13),
    ("piecewise_constant_decay", "PiecewiseConstantDecay",
     dict(boundaries=[5, 10, 20], values=[1.0, 0.5, 0.1, 0.01]), math.inf),
    ("piecewise_constant_decay", "PiecewiseConstantDecay",
     dict(boundaries=[0, 2.5, 100_000_000], values=[0.3, 0.2, 0.1, 0.05]), math.inf),
    ("polynomial_decay", "PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=7), 7),
    ("polynomial_decay", "PolynomialDecay",
     dict(initial_learning_rate=0.1, decay_steps=10, end_learning_rate=0.01, power=0.5), 10),
    ("polynomial_decay", "PolynomialDecay",
     dict(initial_learning_rate=0.1, decay_steps=7, end_learning_rate=0.01, power=2.0, cycle=True), 7),
    ("cosine_decay", "CosineDecay", dict(initial_learning_rate=0.1, decay_steps=50), 50),
    ("cosine_decay", "CosineDecay", dict(initial_learning_rate=0.1, decay_steps=40, alpha=0.1), 40),
    ("cosine_decay", "CosineDecay",
     dict(initial_learning_rate=0.0, decay_steps=40, alpha=0.05, warmup_target=0.2, warmup_steps=15), 40),
    ("cosine_decay_restarts", "CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=10), 10),
    ("cosine_decay_restarts", "CosineDecayRestarts",
     dict(initial_learning_rate=0.1, first_decay_steps=13, t_mul=1.0, m_mul=0.9, alpha=0.1), 13),
    ("cosine_decay_restarts", "CosineDecayRestarts",
     dict(initial_learning_rate=0.2, first_decay_steps=3, t_mul=1.5, m_mul=0.5, alpha=0.05), 3),
]
IDS = [f"{c[0]}-{i}" for i, c in enumerate(CASES)]

SMALL = np.arange(0, 160)
rng = np.random.default_rng(0)
LARGE = np.array(sorted(set(
    [10**k for k in range(3, 10)] + [2**24 - 1, 2**24 + 1, 2**31 - 1]
    + [int(x) for x in rng.integers(0, 2**31 - 1, 30)])))


def keras_values(keras_schedule, steps):
  """Keras's values on a vector of steps (vmapped where Keras's `cond` needs a scalar predicate)."""
  steps = jnp.asarray(steps, jnp.int32)
  try:
    return np.asarray(keras_schedule(steps), np.float64)
  except Exception:  # CosineDecay with warmup: `ops.cond` on a vector predicate
    return np.asarray(jax.vmap(keras_schedule)(steps), np.float64)


def ours_all_ways(schedule, steps):
  """jopt's values as Python ints, as JAX int32 scalars, and under `jit`."""
  py = np.array([float(schedule(int(s))) for s in steps[:40]])
  jx = np.array([float(schedule(jnp.int32(s))) for s in steps[:40]])
  jitted = np.asarray(jax.jit(jax.vmap(schedule))(jnp.asarray(steps, jnp.int32)), np.float64)
  return py, jx, jitted


def _float32_quotients(steps, period):
  """`step / period` as Keras's float32 math may compute it: divided, or times the reciprocal."""
  s32 = steps.astype(np.float32)
  return s32 / np.float32(period), s32 * (np.float32(1) / np.float32(period))


def exact_reference(name, kw, steps):
  """Keras's formula in float64 with exact whole periods, and the steps where Keras's float32
  quotient can give another whole number of periods (at exact multiples, or above 2**24).

  Returns `(values, ambiguous)`; the values are used only at ambiguous steps.
  """
  s = steps.astype(np.int64)
  sf = s.astype(np.float64)
  amb = np.zeros(len(s), bool)
  if name in ("exponential_decay", "inverse_time_decay") and kw.get("staircase"):
    t = kw["decay_steps"]
    p = s // t
    for q in _float32_quotients(steps, t):
      amb |= np.floor(q) != p
    lr0, r = kw["initial_learning_rate"], kw["decay_rate"]
    values = lr0 * r**p if name == "exponential_decay" else lr0 / (1 + r * p)
    return values, amb
  if name == "polynomial_decay" and kw.get("cycle"):
    t = kw["decay_steps"]
    mult = np.where(s == 0, 1, -(-s // t))
    for q in _float32_quotients(steps, t):
      amb |= np.where(s == 0, 1, np.ceil(q)) != mult
    lr0, end = kw["initial_learning_rate"], kw.get("end_learning_rate", 1e-4)
    return (lr0 - end) * (1 - sf / (t * mult)) ** kw.get("power", 1.0) + end, amb
  if name == "cosine_decay_restarts":
    t0, t_mul = kw["first_decay_steps"], kw.get("t_mul", 2.0)
    if t_mul == 1.0:
      i = s // t0
      start = i * t0
      for q in _float32_quotients(steps, t0):
        amb |= np.floor(q) != i
    else:
      i = np.floor(np.log1p(sf / t0 * (t_mul - 1)) / np.log(t_mul))
      start = t0 * (t_mul**i - 1) / (t_mul - 1)
      i = np.where(sf < start, i - 1, i)
      start = t0 * (t_mul**i - 1) / (t_mul - 1)
      for q in _float32_quotients(steps, t0):
        ik = np.floor(np.log(1 - q * (np.float32(1) - np.float32(t_mul))) / np.log(np.float32(t_mul)))
        amb |= ik != i
    frac = (sf - start) / (t0 * t_mul**i)
    lr0, alpha, m_mul = kw["initial_learning_rate"], kw.get("alpha", 0.0), kw.get("m_mul", 1.0)
    return lr0 * ((1 - alpha) * m_mul**i * 0.5 * (1 + np.cos(np.pi * frac)) + alpha), amb
  return np.zeros(len(s)), amb


@pytest.mark.parametrize("name,cls,kw,period", CASES, ids=IDS)
def test_matches_keras(name, cls, kw, period):
  ours = getattr(jk, name)(**kw)
  ref = getattr(KS, cls)(**kw)
  scale = max(abs(kw.get("initial_learning_rate", 0.0)), abs(kw.get("warmup_target") or 0.0),
              max(map(abs, kw.get("values", [0.0]))))
  for steps in (SMALL, LARGE):
    expected = keras_values(ref, steps)
    # Keras computes in float32 with `step` cast to float32: the phase within a period is
    # known to `eps32 * step / period`, which bounds the difference (the derivative of
    # every shape in the phase is at most pi/2 times the scale).
    atol = scale * (2e-7 + 2.0 * EPS32 * steps / period)
    # Where Keras's float32 `step / period` can round to another whole number of periods,
    # jopt (exact integer periods) is compared with Keras's formula in exact arithmetic.
    exact, ambiguous = exact_reference(name, kw, steps)
    if exact.any():  # the test's own reference agrees with Keras wherever Keras is unambiguous
      ok = np.abs(exact - expected) <= atol + 1e-5 * np.abs(expected)
      assert (ok | ambiguous).all(), list(zip(steps[~(ok | ambiguous)], exact[~(ok | ambiguous)]))[:5]
      assert steps is LARGE or ambiguous.mean() < 0.1  # only exact multiples below 2**24
    expected = np.where(ambiguous, exact, expected)
    for how, got in zip(("python int", "jax int", "jit"), ours_all_ways(ours, steps)):
      n = len(got)
      bad = ~(np.abs(got - expected[:n]) <= atol[:n] + 1e-5 * np.abs(expected[:n]))
      assert not bad.any(), (
          f"{name} {kw} ({how}): step, jopt, keras = "
          f"{list(zip(steps[:n][bad], got[bad], expected[:n][bad]))[:5]}")


def test_keras_jit_differs_from_keras_eager_and_jopt_follows_eager():
  """Documented Keras behaviours (keras 3.15.1, JAX backend): under `jit` its float math changes.

  * PolynomialDecay(cycle=True) at exact multiples `k * decay_steps`: eager gives
    `end_learning_rate` (period k), jit gives the start of period k + 1 for some k.
  * PolynomialDecay(power=0.5) past `decay_steps`: eager gives `end_learning_rate`,
    jit gives NaN (`1 - step * (1/decay_steps)` < 0 to a fractional power).
  jopt gives Keras's eager values eagerly and under jit.
  """
  for kw, steps in (
      (dict(initial_learning_rate=0.1, decay_steps=7, end_learning_rate=0.01, cycle=True),
       [7, 14, 21, 28, 35, 42, 49]),
      (dict(initial_learning_rate=0.1, decay_steps=7, end_learning_rate=0.01, power=0.5),
       [7, 8, 20])):
    ref = KS.PolynomialDecay(**kw)
    ref_jit = jax.jit(ref)
    eager = np.array([float(ref(jnp.int32(s))) for s in steps])
    jitted = np.array([float(ref_jit(jnp.int32(s))) for s in steps])
    assert not np.allclose(eager, jitted, equal_nan=False), kw  # Keras's own difference
    ours = jk.polynomial_decay(**kw)
    ours_jit = jax.jit(ours)
    np.testing.assert_allclose([float(ours_jit(jnp.int32(s))) for s in steps], eager, rtol=1e-6)
    np.testing.assert_allclose([float(ours(s)) for s in steps], eager, rtol=1e-6)


def test_used_as_learning_rate_reads_keras_iterations():
  """The schedule inside an optimizer: count 0 is Keras's `iterations` 0."""
  kw = dict(initial_learning_rate=0.5, decay_steps=3, decay_rate=0.5, staircase=True)
  opt = keras.optimizers.SGD(learning_rate=KS.ExponentialDecay(**kw))
  var = keras.Variable(np.zeros(1, np.float32))
  tx = jk.sgd(learning_rate=jk.exponential_decay(**kw))
  p = jnp.zeros(1)
  state = tx.init(p)
  for _ in range(8):
    opt.apply_gradients([(np.ones(1, np.float32), var)])
    u, state = tx.update(jnp.ones(1), state, p)
    p = p + u
    np.testing.assert_allclose(np.asarray(p), np.asarray(var.value), rtol=1e-6)


@pytest.mark.parametrize("name,cls", sorted({(c[0], c[1]) for c in CASES}))
def test_signature_is_keras(name, cls):
  theirs = inspect.signature(getattr(KS, cls).__init__)
  expected = [(p.name, p.default) for p in theirs.parameters.values() if p.name != "self"]
  ours = [(p.name, p.default) for p in inspect.signature(getattr(jk, name)).parameters.values()]
  assert ours == expected
  assert getattr(jk, cls) is getattr(jk, name)


BAD = [
    ("exponential_decay", "ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=0, decay_rate=0.5),
     "decay_steps"),
    ("inverse_time_decay", "InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=-1, decay_rate=0.5),
     "decay_steps"),
    ("polynomial_decay", "PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=0), "decay_steps"),
    ("cosine_decay", "CosineDecay", dict(initial_learning_rate=0.1, decay_steps=0), "decay_steps"),
    ("cosine_decay_restarts", "CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=0),
     "first_decay_steps"),
    ("piecewise_constant_decay", "PiecewiseConstantDecay", dict(boundaries=[1, 2], values=[1.0, 0.5]),
     "boundaries"),
]


@pytest.mark.parametrize("name,cls,kw,arg", BAD, ids=[b[0] for b in BAD])
def test_keras_rejects_so_does_jopt(name, cls, kw, arg):
  with pytest.raises(ValueError):
    getattr(KS, cls)(**kw)
  with pytest.raises(ValueError, match=rf"jopt\.keras\.{name}.*`{arg}`"):
    getattr(jk, name)(**kw)


def test_cosine_decay_restarts_closed_form():
  """SGDR restarts land on their steps: periods 10, 20, 40 start at 0, 10, 30, 70."""
  s = jk.cosine_decay_restarts(1.0, 10, t_mul=2.0, m_mul=0.5)
  values = np.asarray(jax.jit(jax.vmap(s))(jnp.array([0, 5, 10, 20, 30, 70, 69])))
  expected = [1.0, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125 * 0.5 * (1 + math.cos(math.pi * 39 / 40)) * 2]
  np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-7)


def test_docstring_examples():
  import doctest
  import importlib
  for name in ("adam_family", "optimizers", "learning_rate_schedules", "base_optimizer", "update_rules"):
    module = importlib.import_module(f"jopt._src.keras.{name}")
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0, name
