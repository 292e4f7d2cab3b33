"""jopt.transformers.adafactor against `transformers.optimization.Adafactor` on torch CPU tensors, step by step."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")  # test dependencies: torch (CPU) and transformers
transformers_optimization = pytest.importorskip("transformers.optimization")

import jopt  # noqa: E402
import jopt.transformers as jt  # noqa: E402

torch.set_num_threads(1)
HfAdafactor = transformers_optimization.Adafactor

# 3-d (last two axes factored), matrix, vector and scalar leaves.
SHAPES = {"w3": (2, 3, 4), "w": (4, 5), "b": (5,), "s": ()}
STEPS = 30

# Every flag both ways, two or three draws of the numbers.
CASES = [
    dict(),
    dict(warmup_init=True, beta1=0.9, weight_decay=0.1),
    dict(scale_parameter=False, beta1=0.5, clip_threshold=0.5, decay_rate=-0.5, eps=(1e-20, 1e-2)),
    dict(lr=1e-2, relative_step=False),
    dict(lr=3e-2, relative_step=False, scale_parameter=False, beta1=0.8, weight_decay=0.05),
    dict(lr=2e-2, relative_step=False, weight_decay=0.02, schedule=True),
]


def _data(seed):
  rng = np.random.default_rng(seed)
  params = {k: rng.normal(size=s).astype(np.float32) for k, s in SHAPES.items()}
  grads = [{k: rng.normal(size=s).astype(np.float32) for k, s in SHAPES.items()}
           for _ in range(STEPS)]
  return params, grads


def _decay(step):
  return 1.0 / (1.0 + 0.1 * step)


def torch_trajectory(kwargs, params, grads):
  kwargs = dict(kwargs)
  schedule = kwargs.pop("schedule", False)
  tensors = {k: torch.nn.Parameter(torch.tensor(v)) for k, v in params.items()}
  opt = HfAdafactor(list(tensors.values()), **kwargs)
  sched = torch.optim.lr_scheduler.LambdaLR(opt, _decay) if schedule else None
  out = []
  for g in grads:
    for k, t in tensors.items():
      t.grad = torch.tensor(g[k])
    opt.step()
    if sched is not None:
      sched.step()
    out.append({k: t.detach().numpy().copy() for k, t in tensors.items()})
  return out


def jopt_trajectory(kwargs, params, grads, mode):
  kwargs = dict(kwargs)
  if kwargs.pop("schedule", False):
    base = kwargs["lr"]
    kwargs["lr"] = lambda count: base * _decay(count)
  tx = jt.adafactor(**kwargs)
  step = jax.jit(tx.update) if mode == "jit" else tx.update
  state, p, out = tx.init(params), params, []
  for g in grads:
    updates, state = step(g, state, p)
    p = jopt.apply_updates(p, updates)
    out.append(p)
  return out


@pytest.mark.parametrize("kwargs", CASES, ids=[str(i) for i in range(len(CASES))])
def test_matches_transformers(kwargs):
  params, grads = _data(len(kwargs))
  expected = torch_trajectory(kwargs, params, grads)
  modes = ("jit", "eager") if kwargs in (CASES[1], CASES[4]) else ("jit",)
  for mode in modes:
    got = jopt_trajectory(kwargs, params, grads, mode)
    for t, (a, e) in enumerate(zip(got, expected)):
      for k in SHAPES:
        np.testing.assert_allclose(np.asarray(a[k]), e[k], rtol=1e-5, atol=1e-6,
                                   err_msg=f"{kwargs} {mode}: {k} at step {t}")


def test_bf16_params_keep_their_dtype():
  params = {"w": jnp.ones((3, 4), jnp.bfloat16), "b": jnp.ones(4, jnp.bfloat16)}
  tx = jt.adafactor(beta1=0.9)
  updates, state = tx.update(jax.tree.map(jnp.ones_like, params), tx.init(params), params)
  assert all(u.dtype == jnp.bfloat16 for u in jax.tree.leaves(updates))
  assert all(m.dtype == jnp.float32 for m in jax.tree.leaves(state.exp_avg))


def test_signature_is_transformers():
  theirs = [(p.name, p.default) for p in inspect.signature(HfAdafactor.__init__).parameters.values()
            if p.name not in ("self", "params")]
  ours = [(p.name, p.default) for p in inspect.signature(jt.adafactor).parameters.values()]
  assert ours == theirs
  assert jt.Adafactor is jt.adafactor


@pytest.mark.parametrize("kwargs,match", [
    (dict(lr=1e-3), "lr.*relative_step"),
    (dict(relative_step=False, warmup_init=True), "warmup_init"),
])
def test_transformers_rejects_so_does_jopt(kwargs, match):
  with pytest.raises(ValueError):
    HfAdafactor([torch.nn.Parameter(torch.zeros(2))], **kwargs)
  with pytest.raises(ValueError, match=rf"jopt\.transformers\.adafactor.*{match}"):
    jt.adafactor(**kwargs)


def test_missing_lr_is_a_build_time_error():
  # Transformers accepts this and fails inside `step()` (None * float).
  with pytest.raises(ValueError, match=r"jopt\.transformers\.adafactor.*`lr`"):
    jt.adafactor(relative_step=False)
