"""jopt.torch schedules against torch.optim.lr_scheduler's `get_last_lr()` and ReduceLROnPlateau against torch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jopt
import jopt.torch as jt

torch = pytest.importorskip("torch")  # a test dependency: `pip install torch==2.13.0` (CPU)
torch.set_num_threads(1)  # tiny tensors: one thread is ~10x faster on a shared 2-core machine
S = torch.optim.lr_scheduler
STEPS = 200
LR = 0.1


def _opt(lr=LR):
  return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr, momentum=0.9)


def _torch_values(make, lr=LR):
  """`get_last_lr()` after k = 0 .. STEPS-1 scheduler steps (optimizer.step() first, as PyTorch asks)."""
  opt = _opt(lr)
  sched = make(opt)
  out = []
  for _ in range(STEPS):
    out.append(sched.get_last_lr()[0])
    opt.step()
    sched.step()
  return np.asarray(out)


CASES = {
    "step": (lambda o: S.StepLR(o, step_size=17, gamma=0.7), jt.step_lr(LR, step_size=17, gamma=0.7)),
    "multistep": (lambda o: S.MultiStepLR(o, milestones=[10, 50, 50, 120], gamma=0.5),
                  jt.multi_step_lr(LR, milestones=[10, 50, 50, 120], gamma=0.5)),
    "exponential": (lambda o: S.ExponentialLR(o, gamma=0.97), jt.exponential_lr(LR, gamma=0.97)),
    "cosine": (lambda o: S.CosineAnnealingLR(o, T_max=60), jt.cosine_annealing_lr(LR, T_max=60)),
    "cosine_eta_min": (lambda o: S.CosineAnnealingLR(o, T_max=45, eta_min=1e-3),
                       jt.cosine_annealing_lr(LR, T_max=45, eta_min=1e-3)),
    "warm_restarts": (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=30),
                      jt.cosine_annealing_warm_restarts(LR, T_0=30)),
    "warm_restarts_mult": (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=7, T_mult=2, eta_min=1e-4),
                           jt.cosine_annealing_warm_restarts(LR, T_0=7, T_mult=2, eta_min=1e-4)),
    "one_cycle_cos": (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=200, cycle_momentum=False),
                      jt.one_cycle_lr(1.0, total_steps=200)),
    "one_cycle_linear": (lambda o: S.OneCycleLR(o, max_lr=0.5, epochs=10, steps_per_epoch=20, pct_start=0.25,
                                                anneal_strategy="linear", cycle_momentum=False),
                         jt.one_cycle_lr(0.5, epochs=10, steps_per_epoch=20, pct_start=0.25,
                                         anneal_strategy="linear")),
    "one_cycle_three_phase": (lambda o: S.OneCycleLR(o, max_lr=2.0, total_steps=250, three_phase=True,
                                                     div_factor=10.0, cycle_momentum=False),
                              jt.one_cycle_lr(2.0, total_steps=250, three_phase=True, div_factor=10.0)),
    "linear": (lambda o: S.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=40),
               jt.linear_lr(LR, start_factor=0.1, end_factor=0.9, total_iters=40)),
    "linear_default": (lambda o: S.LinearLR(o), jt.linear_lr(LR)),
    "constant": (lambda o: S.ConstantLR(o, factor=0.25, total_iters=30), jt.constant_lr(LR, 0.25, 30)),
    "cyclic_triangular": (lambda o: S.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=15, cycle_momentum=False),
                          jt.cyclic_lr(0.01, 0.1, step_size_up=15)),
    "cyclic_triangular2": (lambda o: S.CyclicLR(o, 0.01, 0.1, step_size_up=10, step_size_down=25,
                                                mode="triangular2", cycle_momentum=False),
                           jt.cyclic_lr(0.01, 0.1, step_size_up=10, step_size_down=25, mode="triangular2")),
    "cyclic_exp_range": (lambda o: S.CyclicLR(o, 0.01, 0.1, step_size_up=12, mode="exp_range", gamma=0.99,
                                              cycle_momentum=False),
                         jt.cyclic_lr(0.01, 0.1, step_size_up=12, mode="exp_range", gamma=0.99)),
    "polynomial": (lambda o: S.PolynomialLR(o, total_iters=150, power=2.0), jt.polynomial_lr(LR, 150, 2.0)),
    "polynomial_sqrt": (lambda o: S.PolynomialLR(o, total_iters=90, power=0.5), jt.polynomial_lr(LR, 90, 0.5)),
    "sequential_warmup_cosine": (
        lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.01, total_iters=20),
                                     S.CosineAnnealingLR(o, T_max=180)], milestones=[20]),
        jt.sequential_lr([jt.linear_lr(LR, start_factor=0.01, total_iters=20),
                          jt.cosine_annealing_lr(LR, T_max=180)], milestones=[20])),
    "sequential_three": (
        lambda o: S.SequentialLR(o, [S.ConstantLR(o, factor=0.5, total_iters=100), S.ExponentialLR(o, gamma=0.95),
                                     S.StepLR(o, step_size=10, gamma=0.5)], milestones=[30, 90]),
        jt.sequential_lr([jt.constant_lr(LR, 0.5, 100), jt.exponential_lr(LR, 0.95),
                          jt.step_lr(LR, 10, 0.5)], milestones=[30, 90])),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_schedule_matches_get_last_lr(name):
  make, ours = CASES[name]
  ref = _torch_values(make)
  got = np.asarray(jax.jit(jax.vmap(ours))(jnp.arange(STEPS)))
  assert got.dtype == np.float32
  # float32 closed forms vs PyTorch's float64 recursions: relative 1e-5, absolute 1e-6 of the peak rate.
  np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6 * ref.max(), err_msg=name)
  # The same values eagerly, from Python ints.
  np.testing.assert_allclose(float(ours(7)), ref[7], rtol=1e-5)


def test_per_epoch_holds_the_rate_for_an_epoch():
  sched = jt.per_epoch(jt.step_lr(LR, step_size=3, gamma=0.5), steps_per_epoch=4)
  ref = np.repeat(_torch_values(lambda o: S.StepLR(o, step_size=3, gamma=0.5))[:50], 4)
  np.testing.assert_allclose(np.asarray(jax.vmap(sched)(jnp.arange(200))), ref, rtol=1e-6)


def test_bad_arguments():
  with pytest.raises(ValueError, match="step_lr.*step_size"):
    jt.step_lr(0.1, step_size=0)
  with pytest.raises(ValueError, match="one_cycle_lr"):
    jt.one_cycle_lr(1.0)
  with pytest.raises(ValueError, match="sequential_lr.*milestones"):
    jt.sequential_lr([jt.step_lr(0.1, 1)], milestones=[3])
  with pytest.raises(ValueError, match="reduce_lr_on_plateau.*mode"):
    jt.reduce_lr_on_plateau(0.1, mode="lowest")
  tx = jt.reduce_lr_on_plateau(0.1)
  with pytest.raises(ValueError, match="value=loss"):
    tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


# --- ReduceLROnPlateau --------------------------------------------------------------------------

def _metrics(seed, n=STEPS):
  rng = np.random.default_rng(seed)
  t = np.arange(n)
  # a loss that improves, plateaus with noise, improves again
  curve = np.where(t < 60, 2.0 - t / 40, 0.5) - np.where(t > 140, (t - 140) / 200, 0)
  return (curve + 0.05 * rng.normal(size=n)).astype(np.float32)


PLATEAU_CASES = [
    dict(),
    dict(mode="min", factor=0.5, patience=3, threshold=1e-2, cooldown=4, min_lr=0.02),
    dict(mode="min", factor=0.3, patience=2, threshold=0.05, threshold_mode="abs", eps=0.02),
    dict(mode="max", factor=0.5, patience=5, threshold=1e-3),
    dict(mode="max", factor=0.8, patience=1, threshold=0.01, threshold_mode="abs", cooldown=2),
]


@pytest.mark.parametrize("kwargs", PLATEAU_CASES, ids=range(len(PLATEAU_CASES)))
def test_plateau_lr_sequence_matches_torch(kwargs):
  metrics = _metrics(seed=len(kwargs))
  opt = _opt()
  sched = S.ReduceLROnPlateau(opt, **kwargs)
  ref = []
  for m in metrics:
    ref.append(opt.param_groups[0]["lr"])  # the rate this update uses
    opt.step()
    sched.step(float(m))
  tx = jt.reduce_lr_on_plateau(LR, **kwargs)

  @jax.jit
  def run(metrics):
    def step(s, m):
      u, s = tx.update(jnp.ones([]), s, value=m)
      return s, u * LR  # a unit update comes back scaled by lr_now / LR: the applied rate
    return jax.lax.scan(step, tx.init(jnp.zeros([])), metrics)[1]

  got = np.asarray(run(jnp.asarray(metrics)))
  # float32 lr * factor repeated vs PyTorch's float64: 1.2e-6 relative after 40 reductions.
  np.testing.assert_allclose(got, ref, rtol=1e-5)
  assert len(set(ref)) > 1 or kwargs == {}, "the case should reduce the rate at least once"


def test_plateau_steps_per_epoch_uses_the_epoch_mean():
  metrics = _metrics(seed=5, n=240)
  opt = _opt()
  sched = S.ReduceLROnPlateau(opt, factor=0.5, patience=1, threshold=1e-2)
  ref = []
  for epoch in metrics.reshape(-1, 6):
    ref += [opt.param_groups[0]["lr"]] * 6
    opt.step()
    sched.step(float(epoch.astype(np.float64).mean()))
  tx = jt.reduce_lr_on_plateau(LR, factor=0.5, patience=1, threshold=1e-2, steps_per_epoch=6)
  s, got = tx.init(jnp.zeros([])), []
  step = jax.jit(lambda s, m: tx.update(jnp.ones([]), s, value=m))
  for m in metrics:
    u, s = step(s, m)
    got.append(float(u) * LR)
  assert len(set(ref)) > 2
  np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_plateau_after_sgd_matches_torch_training():
  # chain(sgd, reduce_lr_on_plateau) on least squares == torch SGD + ReduceLROnPlateau.step(loss).
  rng = np.random.default_rng(0)
  a = rng.normal(size=(32, 5)).astype(np.float32)
  b = (a @ rng.normal(size=5) + 0.3 * rng.normal(size=32)).astype(np.float32)
  w0 = np.zeros(5, np.float32)
  kwargs = dict(factor=0.5, patience=2, threshold=1e-3, cooldown=1)
  tx = jopt.chain(jt.sgd(lr=0.05, momentum=0.9), jt.reduce_lr_on_plateau(0.05, **kwargs))
  loss_fn = lambda w: jnp.mean((a @ w - b) ** 2)

  @jax.jit
  def run(w):
    def step(carry, _):
      w, s = carry
      loss, g = jax.value_and_grad(loss_fn)(w)
      u, s = tx.update(g, s, w, value=loss)
      return (jopt.apply_updates(w, u), s), s[-1].lr
    return jax.lax.scan(step, (w, tx.init(w)), None, length=80)

  (w, _), lrs = run(jnp.asarray(w0))
  tw = torch.tensor(w0, requires_grad=True)
  opt = torch.optim.SGD([tw], lr=0.05, momentum=0.9, foreach=False)
  sched = S.ReduceLROnPlateau(opt, **kwargs)
  ta, tb = torch.tensor(a), torch.tensor(b)
  ref_lrs = []
  for _ in range(80):
    opt.zero_grad()
    loss = ((ta @ tw - tb) ** 2).mean()
    loss.backward()
    opt.step()
    sched.step(loss.item())
    ref_lrs.append(opt.param_groups[0]["lr"])
  assert len(set(ref_lrs)) > 1
  np.testing.assert_allclose(np.asarray(lrs), ref_lrs, rtol=1e-5)
  np.testing.assert_allclose(np.asarray(w), tw.detach().numpy(), rtol=1e-5, atol=1e-6)
