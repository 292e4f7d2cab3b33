"""jopt.torch optimizers against real torch.optim: 50-step trajectories, a digits MLP, and the y = 2x snippets."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jopt
import jopt.torch as jt

torch = pytest.importorskip("torch")  # a test dependency: `pip install torch==2.13.0` (CPU)
torch.set_num_threads(1)  # tiny tensors: one thread is ~10x faster on a shared 2-core machine

TORCH_CLASS = {
    "sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop",
    "adagrad": "Adagrad", "adadelta": "Adadelta", "adamax": "Adamax",
    "nadam": "NAdam", "radam": "RAdam", "asgd": "ASGD",
}

# (name, kwargs): the same kwargs build both optimizers.
CASES = [
    ("sgd", dict(lr=0.1)),
    ("sgd", dict(lr=0.05, momentum=0.9)),
    ("sgd", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("sgd", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("sgd", dict(lr=0.02, momentum=0.5, maximize=True)),
    ("adam", dict(lr=1e-2)),
    ("adam", dict(lr=1e-2, weight_decay=0.1, amsgrad=True)),
    ("adam", dict(lr=3e-2, betas=(0.8, 0.99), eps=1e-6, maximize=True)),
    ("adam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True)),
    ("adamw", dict(lr=1e-2)),
    ("adamw", dict(lr=1e-2, weight_decay=0.1, amsgrad=True, maximize=True)),
    ("rmsprop", dict(lr=1e-2)),
    ("rmsprop", dict(lr=1e-2, centered=True, momentum=0.9)),
    ("rmsprop", dict(lr=1e-2, alpha=0.9, weight_decay=0.1, momentum=0.5)),
    ("rmsprop", dict(lr=1e-2, centered=True, eps=1e-3, maximize=True)),
    ("adagrad", dict(lr=0.1)),
    ("adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.05, initial_accumulator_value=0.1)),
    ("adagrad", dict(lr=0.1, eps=1e-3, maximize=True)),
    ("adadelta", dict()),
    ("adadelta", dict(lr=0.5, rho=0.95, weight_decay=0.1, maximize=True)),
    ("adamax", dict()),
    ("adamax", dict(lr=1e-2, betas=(0.8, 0.9), weight_decay=0.1)),
    ("nadam", dict()),
    ("nadam", dict(lr=1e-2, weight_decay=0.1)),
    ("nadam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True)),
    ("nadam", dict(lr=1e-2, betas=(0.8, 0.99), momentum_decay=1e-2, maximize=True)),
    ("radam", dict(lr=1e-2)),
    ("radam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True)),
    ("radam", dict(lr=1e-2, betas=(0.9, 0.99), weight_decay=0.1, maximize=True)),
    ("asgd", dict()),
    ("asgd", dict(lr=0.05, lambd=1e-2, alpha=0.5, t0=10, weight_decay=0.1)),
    ("asgd", dict(lr=0.05, t0=5, maximize=True)),
]

STEPS = 50
SHAPES = {"w": (4, 5), "b": (5,), "s": ()}


def _data(seed):
  rng = np.random.default_rng(seed)
  params = {k: rng.normal(size=s).astype(np.float32) for k, s in SHAPES.items()}
  grads = {k: rng.normal(size=(STEPS,) + s).astype(np.float32) for k, s in SHAPES.items()}
  return params, grads


def jopt_trajectory(tx, params, grads):
  """Params after each step, the whole loop jitted as one `lax.scan`."""

  @jax.jit
  def run(params, grads):
    def step(carry, g):
      p, s = carry
      u, s = tx.update(g, s, p)
      p = jopt.apply_updates(p, u)
      return (p, s), p

    (_, state), ps = jax.lax.scan(step, (params, tx.init(params)), grads)
    return ps, state

  return run(jax.tree.map(jnp.asarray, params), jax.tree.map(jnp.asarray, grads))


def torch_trajectory(name, kwargs, params, grads, with_state=False):
  tp = {k: torch.tensor(v) for k, v in params.items()}
  opt = getattr(torch.optim, TORCH_CLASS[name])(list(tp.values()), foreach=False, **kwargs)
  out = {k: [] for k in params}
  for t in range(STEPS):
    for k, p in tp.items():
      p.grad = torch.tensor(grads[k][t])
    opt.step()
    for k, p in tp.items():
      out[k].append(p.detach().numpy().copy())
  out = {k: np.stack(v) for k, v in out.items()}
  return (out, opt, tp) if with_state else out


def _lanes(cases):
  """The first draw of each optimizer in the fast lane, the other draws in the slow lane."""
  seen, out = set(), []
  for i, (n, kw) in enumerate(cases):
    out.append(pytest.param(n, kw, id=f"{n}-{i}", marks=[pytest.mark.slow] if n in seen else []))
    seen.add(n)
  return out


@pytest.mark.parametrize("name,kwargs", _lanes(CASES))
def test_trajectory_matches_torch(name, kwargs):
  params, grads = _data(seed=len(kwargs))
  ours, _ = jopt_trajectory(getattr(jt, name)(**kwargs), params, grads)
  ref = torch_trajectory(name, kwargs, params, grads)
  for k in params:
    for t in range(STEPS):
      np.testing.assert_allclose(
          np.asarray(ours[k][t]), ref[k][t], rtol=1e-5, atol=1e-6,
          err_msg=f"{name}{kwargs}: param {k!r} at step {t + 1}")


def test_asgd_averaged_params_match_torch():
  kwargs = dict(lr=0.05, lambd=1e-2, alpha=0.5, t0=10)
  params, grads = _data(seed=7)
  _, state = jopt_trajectory(jt.asgd(**kwargs), params, grads)
  _, opt, tp = torch_trajectory("asgd", kwargs, params, grads, with_state=True)
  ax = state[-1].ax
  for k, p in tp.items():
    np.testing.assert_allclose(np.asarray(ax[k]), opt.state[p]["ax"].numpy(), rtol=1e-5, atol=1e-6)


def test_radam_rho_is_accurate():
  # float64 reference of rho_t = rho_inf - 2 t b^t / (1 - b^t), where float32 cancels.
  for b2 in (0.9, 0.99, 0.999, 0.9999):
    t = np.arange(1, 20001, dtype=np.float64)
    ref = 2 / (1 - b2) - 1 - 2 * t * b2**t / (1 - b2**t)
    from jopt._src.numerics import radam_rho
    ours = np.asarray(radam_rho(b2, jnp.asarray(t, jnp.float32)))
    np.testing.assert_allclose(ours, ref, rtol=2e-6, atol=2e-6 * (2 / (1 - b2)) * 1e-2)
    # The threshold step (first t with rho_t > 5) is the same.
    assert np.argmax(ours > 5) == np.argmax(ref > 5)


COMPLEX_CASES = [
    ("adam", dict(lr=1e-2, amsgrad=True)), ("rmsprop", dict(centered=True)),
    ("adam", dict(lr=1e-2)), ("rmsprop", dict(lr=1e-2)), ("adagrad", dict(lr=0.1)), ("adadelta", dict()),
    ("adamax", dict()), ("nadam", dict()), ("radam", dict(lr=1e-2)),
    ("sgd", dict(lr=0.1, momentum=0.9, dampening=0.2)), ("asgd", dict(lr=0.05, t0=5)),
]


@pytest.mark.parametrize("name,kwargs", COMPLEX_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(COMPLEX_CASES)])
def test_complex_params_match_torch_view_as_real(name, kwargs):
  # PyTorch treats the real and imaginary parts as separate coordinates (jopt's own blocks use |g|^2).
  rng = np.random.default_rng(3)
  p0 = (rng.normal(size=6) + 1j * rng.normal(size=6)).astype(np.complex64)
  gs = (rng.normal(size=(20, 6)) + 1j * rng.normal(size=(20, 6))).astype(np.complex64)
  tx = getattr(jt, name)(**kwargs)
  step = jax.jit(lambda g, s, p: tx.update(g, s, p))
  p, s = jnp.asarray(p0), tx.init(jnp.asarray(p0))
  tp = torch.tensor(p0)
  opt = getattr(torch.optim, TORCH_CLASS[name])([tp], foreach=False, **kwargs)
  for g in gs:
    u, s = step(jnp.asarray(g), s, p)
    p = jopt.apply_updates(p, u)
    tp.grad = torch.tensor(g)
    opt.step()
  assert p.dtype == jnp.complex64
  np.testing.assert_allclose(np.asarray(p), tp.numpy(), rtol=1e-5, atol=1e-6)


def test_state_classes_are_jopts_or_named_apart():
  # A class name in jopt.torch that jopt also exports is jopt's class (the state of jopt's block).
  for name in jt.__all__:
    ours = getattr(jt, name)
    if isinstance(ours, type) and hasattr(jopt, name):
      assert getattr(jopt, name) is ours, name
  params = {"w": jnp.ones(3)}
  assert type(jt.scale_by_adam().init(params)) is jopt.ScaleByAdamState
  assert type(jt.scale_by_adam(amsgrad=True).init(params)) is jt.TorchScaleByAmsgradState
  assert type(jt.scale_by_rmsprop().init(params)) is jopt.ScaleByRmsState
  assert type(jt.scale_by_rmsprop(centered=True).init(params)) is jopt.ScaleByRStdDevState


@pytest.mark.parametrize("name,kwargs,ours_lr,make_sched", [
    ("adam", dict(lr=0.05, weight_decay=0.1), jt.step_lr(0.05, step_size=7, gamma=0.5),
     lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5)),
    # ASGD's eta uses the previous step's rate: the schedule enters non-linearly.
    ("asgd", dict(lr=0.2, lambd=0.05, t0=3), jt.exponential_lr(0.2, gamma=0.9),
     lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)),
    ("adagrad", dict(lr=0.3, lr_decay=0.05), jt.cosine_annealing_lr(0.3, T_max=20),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20)),
], ids=["adam-step_lr", "asgd-exponential_lr", "adagrad-cosine"])
def test_schedule_lr_matches_torch_scheduler(name, kwargs, ours_lr, make_sched):
  # lr as a jopt.torch schedule == torch optimizer + scheduler stepped after each update.
  params, grads = _data(seed=11)
  ours, _ = jopt_trajectory(getattr(jt, name)(**dict(kwargs, lr=ours_lr)), params, grads)
  tp = {k: torch.tensor(v) for k, v in params.items()}
  opt = getattr(torch.optim, TORCH_CLASS[name])(list(tp.values()), foreach=False, **kwargs)
  sched = make_sched(opt)
  for t in range(STEPS):
    for k, p in tp.items():
      p.grad = torch.tensor(grads[k][t])
    opt.step()
    sched.step()
    for k in params:
      np.testing.assert_allclose(np.asarray(ours[k][t]), tp[k].numpy(), rtol=1e-5, atol=1e-6,
                                 err_msg=f"{name}: param {k!r} at step {t + 1}")


# --- a real loss: a small MLP on scikit-learn digits -----------------------------------------

def _digits():
  from sklearn.datasets import load_digits
  x, y = load_digits(return_X_y=True)
  return (x[:512] / 16.0).astype(np.float32), y[:512].astype(np.int32)


def _mlp_init(seed):
  k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
  return {
      "w1": np.asarray(jax.random.normal(k1, (64, 32)) * 0.2, np.float32), "b1": np.zeros(32, np.float32),
      "w2": np.asarray(jax.random.normal(k2, (32, 10)) * 0.2, np.float32), "b2": np.zeros(10, np.float32),
  }


def _jax_loss(p, x, y):
  h = jnp.tanh(x @ p["w1"] + p["b1"])
  logits = h @ p["w2"] + p["b2"]
  return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(y.shape[0]), y])


@pytest.mark.parametrize("name,kwargs", [  # full training runs: one in the fast lane
    ("sgd", dict(lr=0.5, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    pytest.param("adam", dict(lr=1e-2, weight_decay=1e-3), marks=pytest.mark.slow),
    pytest.param("rmsprop", dict(lr=1e-3, centered=True, momentum=0.5), marks=pytest.mark.slow),
])
def test_digits_mlp_matches_torch(name, kwargs):
  x, y = _digits()
  p0 = _mlp_init(0)
  tx = getattr(jt, name)(**kwargs)

  @jax.jit
  def train(p):
    def step(carry, _):
      p, s = carry
      loss, g = jax.value_and_grad(_jax_loss)(p, x, y)
      u, s = tx.update(g, s, p)
      return (jopt.apply_updates(p, u), s), loss
    (p, _), losses = jax.lax.scan(step, (p, tx.init(p)), None, length=100)
    return p, losses

  ours, losses = train(jax.tree.map(jnp.asarray, p0))
  tp = {k: torch.tensor(v, requires_grad=True) for k, v in p0.items()}
  opt = getattr(torch.optim, TORCH_CLASS[name])(list(tp.values()), foreach=False, **kwargs)
  tx_, ty_ = torch.tensor(x), torch.tensor(y, dtype=torch.long)
  for _ in range(100):
    opt.zero_grad()
    h = torch.tanh(tx_ @ tp["w1"] + tp["b1"])
    loss = torch.nn.functional.cross_entropy(h @ tp["w2"] + tp["b2"], ty_)
    loss.backward()
    opt.step()
  assert float(losses[-1]) < float(losses[0])  # it trained
  for k in p0:
    np.testing.assert_allclose(np.asarray(ours[k]), tp[k].detach().numpy(), rtol=0, atol=1e-4)


# --- the source material's y = 2x snippets -----------------------------------------------------

X_LINEAR = np.array([1.0, 2.0, 3.0, 4.0], np.float32)  # data chosen here; targets y = 2x


def _torch_linear(make_opt):
  x = torch.tensor(X_LINEAR)
  y = 2 * x
  theta = torch.tensor(0.0, requires_grad=True)
  opt = make_opt([theta])
  for _ in range(100):
    loss = ((theta * x - y) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
  return float(theta.detach())


def _jopt_linear(tx):
  x = jnp.asarray(X_LINEAR)
  loss = lambda th: jnp.mean((th * x - 2 * x) ** 2)
  theta, state = jnp.zeros([]), tx.init(jnp.zeros([]))
  for _ in range(100):
    u, state = tx.update(jax.grad(loss)(theta), state, theta)
    theta = jopt.apply_updates(theta, u)
  return float(theta)


@pytest.mark.parametrize("label,make_torch,ours", [
    ("sgd", lambda p: torch.optim.SGD(p, lr=0.01), jt.sgd(lr=0.01)),
    ("momentum", lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9), jt.sgd(lr=0.01, momentum=0.9)),
    ("rmsprop", lambda p: torch.optim.RMSprop(p, lr=0.01), jt.rmsprop(lr=0.01)),
    ("adam", lambda p: torch.optim.Adam(p, lr=0.01), jt.adam(lr=0.01)),
])
def test_linear_regression_snippets(label, make_torch, ours):
  ref = _torch_linear(make_torch)
  got = _jopt_linear(ours)
  np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6, err_msg=label)


def test_does_not_import_torch_and_is_a_namespace():
  import subprocess, sys
  code = "import sys, jopt; jopt.torch.adam; assert 'torch' not in sys.modules; print('ok')"
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
  assert out.stdout.strip() == "ok", out.stderr
  assert "adam" not in [n for n in jopt.__all__ if n.startswith("torch")]
  assert jt.adam is not jopt.adam


def test_bad_arguments_raise_at_build_time():
  with pytest.raises(ValueError, match="jopt.torch.sgd.*Nesterov"):
    jt.sgd(lr=0.1, nesterov=True)
  with pytest.raises(ValueError, match="betas"):
    jt.adam(betas=(0.9, 1.0))
  with pytest.raises(ValueError, match="jopt.torch.adam.*lr"):
    jt.adam(lr=-1.0)
  with pytest.raises(ValueError, match="params"):
    tx = jt.asgd()
    tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


def test_abstract_init_and_bf16():
  params = {"w": jnp.ones((3, 2), jnp.bfloat16)}
  for name, _ in CASES[::3]:
    tx = getattr(jt, name)()
    jax.eval_shape(tx.init, params)
    u, _ = tx.update(params, tx.init(params), params)
    assert u["w"].dtype == jnp.bfloat16, name
