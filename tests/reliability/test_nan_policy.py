"""`make_train_step(nan_policy=...)`: "ignore", "skip" and "raise" under jit, pmap and a mesh (4 devices).

The reference is an optax loop on one device: the same loss and optimizer, with the non-finite step's
update left out ("skip", "raise") or applied ("ignore").
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
from jopt._src.train import nan_policy as nan_lib
from jopt._src.train import trainer as trainer_lib

BATCH = 8  # divisible by the 4 simulated devices


def loss_fn(params, batch):
  """Squared error plus `mean(sqrt(|s * w0|))`: `s = 0` gives a finite loss with a NaN gradient."""
  pred = batch["x"] @ params["w"] + params["b"]
  return jnp.mean((pred - batch["y"]) ** 2) + jnp.mean(jnp.sqrt(jnp.abs(batch["s"] * params["w"][0])))


def make_batch(seed, kind="good"):
  r = np.random.default_rng(seed)
  batch = {"x": r.normal(size=(BATCH, 3)).astype(np.float32), "y": r.normal(size=BATCH).astype(np.float32),
           "s": np.ones(BATCH, np.float32)}
  if kind == "nan_loss":
    batch["y"][2] = np.nan
  elif kind == "nan_grad":
    batch["s"][:] = 0.0  # sqrt(0): the loss is finite, its gradient is 0 * inf = NaN
  return batch


PARAMS = {"w": jnp.array([0.5, -1.0, 2.0]), "b": jnp.array(0.1)}
KINDS = ["good", "nan_loss", "good", "good"]


def optax_reference(kinds, skip):
  """Params after an optax adam loop over `kinds`, leaving out non-finite steps when `skip`."""
  tx = optax.adam(1e-2)
  params, state = PARAMS, tx.init(PARAMS)
  for i, kind in enumerate(kinds):
    loss, grads = jax.value_and_grad(loss_fn)(params, make_batch(i, kind))
    finite = np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
    if skip and not finite:
      continue
    updates, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, updates)
  return params


def run(trainer, kinds):
  state = trainer.init(PARAMS)
  flags = []
  for i, kind in enumerate(kinds):
    state, metrics = trainer.step(state, make_batch(i, kind))
    flags.append(bool(np.asarray(metrics["nonfinite"])))
  return trainer.unreplicate(state), flags


def assert_close(a, b):
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=2e-5, atol=2e-6), a, b)


@pytest.mark.parametrize("parallel", ["jit", "pmap", "mesh"])
def test_skip_leaves_out_the_step_and_counts_it(parallel):
  trainer = trainer_lib.make_train_step(loss_fn, jopt.adam(1e-2), parallel=parallel, nan_policy="skip")
  state, flags = run(trainer, KINDS)
  assert flags == [False, True, False, False]
  assert int(state.step) == 4 and int(state.nonfinite_steps) == 1
  assert_close(state.params, optax_reference(KINDS, skip=True))


@pytest.mark.parametrize("parallel", ["jit", "pmap", "mesh"])
def test_ignore_applies_the_step_as_optax_does(parallel):
  trainer = trainer_lib.make_train_step(loss_fn, jopt.sgd(1e-2), parallel=parallel)
  assert trainer.nan_policy == "ignore"
  state, flags = run(trainer, ["good", "nan_loss"])
  assert flags == [False, True] and int(state.nonfinite_steps) == 1
  assert np.all(np.isnan(np.asarray(state.params["w"])))  # optax: NaN params too


@pytest.mark.parametrize("parallel,kind,metric", [
    ("jit", "nan_loss", "loss"), ("jit", "nan_grad", "grad_norm"),
    ("pmap", "nan_loss", "loss"), ("mesh", "nan_grad", "grad_norm"),
])
def test_raise_names_the_step_and_the_metric(parallel, kind, metric):
  trainer = trainer_lib.make_train_step(loss_fn, jopt.adam(1e-2), parallel=parallel, nan_policy="raise")
  kinds = ["good", kind, "good"]
  state = trainer.init(PARAMS)
  state, _ = trainer.step(state, make_batch(0, kinds[0]))
  with pytest.raises(nan_lib.NonFiniteError, match=rf"non-finite {metric} .* at step 1 ") as info:
    trainer.step(state, make_batch(1, kinds[1]))
  err = info.value
  assert isinstance(err, FloatingPointError)
  assert (err.step, err.metric) == (1, metric) and not np.isfinite(err.value)
  # The failing update was not applied: the attached state continues as the skip reference does.
  good = trainer.unreplicate(err.state)
  assert_close(good.params, optax_reference(kinds[:2], skip=True))
  state, _ = trainer.step(err.state, make_batch(2, kinds[2]))
  assert_close(trainer.unreplicate(state).params, optax_reference(kinds, skip=True))


def test_raise_checked_every_n_steps_still_names_the_first_failure():
  trainer = trainer_lib.make_train_step(loss_fn, jopt.adam(1e-2), nan_policy="raise", nan_check_every=3)
  state = trainer.init(PARAMS)
  kinds = ["good", "nan_grad", "nan_loss", "good"]
  state, _ = trainer.step(state, make_batch(0, kinds[0]))
  state, _ = trainer.step(state, make_batch(1, kinds[1]))  # flagged, not read yet: no host sync
  with pytest.raises(nan_lib.NonFiniteError) as info:
    trainer.step(state, make_batch(2, kinds[2]))  # the third step reads all three flags
  assert (info.value.step, info.value.metric) == (1, "grad_norm")
  assert int(info.value.state.nonfinite_steps) == 2
  assert_close(info.value.state.params, optax_reference(kinds[:3], skip=True))


def test_check_finite_reads_the_flags_left_over():
  trainer = trainer_lib.make_train_step(loss_fn, jopt.sgd(1e-2), nan_policy="raise", nan_check_every=10)
  state = trainer.init(PARAMS)
  state, _ = trainer.step(state, make_batch(0, "nan_loss"))
  with pytest.raises(nan_lib.NonFiniteError, match="at step 0 "):
    trainer.check_finite(state)
  trainer.check_finite(state)  # nothing pending any more


@pytest.mark.parametrize("kwargs,match", [
    (dict(nan_policy="stop"), "nan_policy"), (dict(nan_policy=None), "nan_policy"),
    (dict(nan_policy="raise", nan_check_every=0), "nan_check_every"),
    (dict(nan_policy="raise", nan_check_every=2.0), "nan_check_every"),
])
def test_bad_policy_arguments(kwargs, match):
  with pytest.raises((ValueError, TypeError), match=match):
    trainer_lib.make_train_step(loss_fn, jopt.sgd(0.1), **kwargs)


def test_skip_body_has_no_host_callback():
  """The skip is a select inside the compiled step: the step's jaxpr has no callback or cond."""
  body = jopt.train_step_body(loss_fn, jopt.sgd(0.1), nan_policy="skip")
  state = jopt.init_train_state(PARAMS, jopt.sgd(0.1))
  text = str(jax.make_jaxpr(body)(state, make_batch(0)))
  assert "callback" not in text and "cond[" not in text
  assert "select_n" in text
