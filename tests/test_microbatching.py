"""`microbatch`, `micro_vmap`, `micro_grad` against optax and the full-batch computation."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax.microbatching as omb
import pytest
from parity import assert_trees_close

from jopt._src import microbatching as jmb

B, D = 8, 3


def _data(seed=0):
  k = jax.random.split(jax.random.PRNGKey(seed), 3)
  params = {"w": jax.random.normal(k[0], (D,)), "b": jnp.float32(0.1)}
  x = jax.random.normal(k[1], (B, D))
  y = jax.random.normal(k[2], (B,))
  return params, x, y


def _loss(params, x, y):
  pred = jnp.tanh(x @ params["w"] + params["b"])
  return jnp.mean((pred - y) ** 2)


def _kind(lib, name):
  return getattr((jmb if lib == "jopt" else omb).AccumulationType, name)


@pytest.mark.parametrize("kind", ["SUM", "MEAN", "RUNNING_MEAN"])
@pytest.mark.parametrize("size", [1, 2, 4])
def test_microbatch_grad_matches_optax(kind, size):
  """Gradients of a loss summed / averaged over microbatches: optax's numbers, and the full batch's for MEAN."""
  params, x, y = _data()
  grad = jax.grad(_loss)
  ours = jmb.microbatch(grad, argnums=(1, 2), microbatch_size=size, accumulator=_kind("jopt", kind))
  theirs = omb.microbatch(grad, argnums=(1, 2), microbatch_size=size, accumulator=_kind("optax", kind))
  g1, g2 = ours(params, x, y), theirs(params, x, y)
  assert_trees_close(g1, g2, 1e-6, 1e-7, kind)
  full = grad(params, x, y)
  if kind != "SUM":
    assert_trees_close(g1, full, 1e-5, 1e-6, "full batch")
  else:
    assert_trees_close(g1, jax.tree.map(lambda g: g * (B // size), full), 1e-5, 1e-6, "sum")


def test_microbatch_under_jit_with_traced_real_count():
  """`num_real_microbatches` traced under jit: one compilation, optax's partial sums."""
  params, x, y = _data(1)
  grad = jax.grad(_loss)
  traces = []

  def make(lib, kind):
    mod = jmb if lib == "jopt" else omb

    @jax.jit
    def run(params, x, y, n):
      if lib == "jopt":
        traces.append(1)
      return mod.microbatch(grad, (1, 2), 2, _kind(lib, kind), num_real_microbatches=n)(params, x, y)

    return run

  for kind in ["SUM", "RUNNING_MEAN"]:
    ours, theirs = make("jopt", kind), make("optax", kind)
    for n in [1, 3, 4]:
      assert_trees_close(ours(params, x, y, n), theirs(params, x, y, n), 1e-6, 1e-7, f"{kind} n={n}")
  assert len(traces) == 2


def test_microbatch_concat_and_tree_accumulators():
  """CONCAT restores the batch order; a tree of accumulators (prefix of the output) and kwargs batch args."""
  _, x, y = _data(2)

  def fun(x, scale, *, y):
    r = scale * (x.sum(-1) - y)
    return {"per_example": r, "total": jnp.sum(r), "sq": jnp.sum(r ** 2)}

  def acc(lib):
    return {"per_example": _kind(lib, "CONCAT"), "total": _kind(lib, "SUM"), "sq": _kind(lib, "MEAN")}

  ours = jmb.microbatch(fun, 0, 2, acc("jopt"), argnames="y")(x, 2.0, y=y)
  theirs = omb.microbatch(fun, 0, 2, acc("optax"), argnames="y")(x, 2.0, y=y)
  assert_trees_close(ours, theirs, 1e-6, 1e-7)
  np.testing.assert_allclose(ours["per_example"], 2.0 * (x.sum(-1) - y), rtol=1e-6)
  assert jmb.microbatch(fun, 0, None) is fun


def test_microbatch_in_axes_and_custom_accumulator():
  _, x, _ = _data(3)
  xt = x.T  # batch on axis 1

  def make_max(mod):
    return mod.Accumulator(
        init=lambda v: jnp.full(v.shape, -jnp.inf, v.dtype),
        update=lambda c, v, i: jnp.maximum(c, v),
        finalize=lambda c: c,
        aggregate=functools.partial(jnp.max, axis=0),
    )

  fun = lambda a: jnp.max(a, axis=1)
  ours = jmb.microbatch(fun, 0, 4, make_max(jmb), in_axes=1)(xt)
  theirs = omb.microbatch(fun, 0, 4, make_max(omb), in_axes=1)(xt)
  np.testing.assert_array_equal(ours, theirs)
  np.testing.assert_array_equal(ours, jnp.max(xt, axis=1))


def test_microbatch_errors():
  _, x, y = _data()
  # "divisible", as optax's message says (its own test matches the word).
  for mb in (jmb, omb):
    with pytest.raises(ValueError, match="divisible"):
      mb.microbatch(lambda x: x, 0, 3)(x)
  with pytest.raises(ValueError, match="differ"):
    jmb.microbatch(lambda a, b: a, (0, 1), 2)(x, y[:4])
  with pytest.raises(ValueError, match="floating"):
    jmb.microbatch(lambda a: a, 0, 2, jmb.AccumulationType.MEAN)(jnp.arange(8))
  with pytest.raises(ValueError, match="AccumulationType"):
    jmb.microbatch(lambda a: a, 0, 2, "sum")(x)


@pytest.mark.parametrize("size", [None, 2])
@pytest.mark.parametrize("kind", ["CONCAT", "SUM", "MEAN"])
def test_micro_vmap(size, kind):
  _, x, y = _data(4)
  fun = lambda a, w, *, c: jnp.dot(a, w) + c
  w = jnp.arange(D, dtype=jnp.float32)
  ours = jmb.micro_vmap(fun, in_axes=(0, None), microbatch_size=size,
                        accumulator=_kind("jopt", kind))(x, w, c=y)
  theirs = omb.micro_vmap(fun, in_axes=(0, None), microbatch_size=size,
                          accumulator=_kind("optax", kind))(x, w, c=y)
  np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
  full = x @ w + y
  expected = {"CONCAT": full, "SUM": full.sum(), "MEAN": full.mean()}[kind]
  np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)
  with pytest.raises(NotImplementedError):
    jmb.micro_vmap(fun, out_axes=1)


@pytest.mark.parametrize("keep_batch_dim", [True, False])
@pytest.mark.parametrize("has_aux", [False, True])
def test_micro_grad(keep_batch_dim, has_aux):
  params, x, y = _data(5)

  def loss(p, xb, yb):
    value = _loss(p, xb, yb) if keep_batch_dim else _loss(p, xb[None], yb[None])
    return (value, {"pred_sum": jnp.sum(xb)}) if has_aux else value

  def clip(g):  # per-example clipping to norm 0.5, and the squared gradient
    norm = jnp.sqrt(sum(jnp.sum(l ** 2) for l in jax.tree.leaves(g)))
    return jax.tree.map(lambda l: l * jnp.minimum(1.0, 0.5 / norm), g), jax.tree.map(jnp.square, g)

  kw = dict(has_aux=has_aux, batch_argnums=(1, 2), keep_batch_dim=keep_batch_dim, microbatch_size=4,
            transform_fn=clip, metrics_fn=lambda g: jnp.abs(g["b"]))
  (g1, sq1), aux1 = jmb.micro_grad(loss, accumulator=jmb.AccumulationType.MEAN, **kw)(params, x, y)
  (g2, sq2), aux2 = omb.micro_grad(loss, accumulator=omb.AccumulationType.MEAN, **kw)(params, x, y)
  assert_trees_close((g1, sq1), (g2, sq2), 1e-5, 1e-7)
  assert_trees_close(tuple(aux1), tuple(aux2), 1e-6, 1e-7)
  assert type(aux1).__name__ == "Aux" and aux1._fields == aux2._fields
  # Closed form: the mean over examples of the clipped per-example gradients.
  per_example = [clip(jax.grad(lambda p, i=i: _loss(p, x[i:i + 1], y[i:i + 1]))(params))[0]
                 for i in range(B)]
  mean = jax.tree.map(lambda *g: sum(g) / B, *per_example)
  assert_trees_close(g1, mean, 1e-5, 1e-6)


def test_micro_grad_defaults_sum():
  params, x, y = _data(6)
  loss = lambda p, batch: _loss(p, *batch)  # the default layout: fun(params, batch)
  g1, aux1 = jmb.micro_grad(loss)(params, (x, y))
  g2, aux2 = omb.micro_grad(loss)(params, (x, y))
  assert_trees_close(g1, g2, 1e-5, 1e-7)
  np.testing.assert_allclose(aux1.values, aux2.values, rtol=1e-6)
  assert aux1.metrics is None and aux1.aux is None


def test_reshape_batch_axis():
  x = jnp.arange(24.0).reshape(2, 12)
  for axis, size in [(1, 3), (1, 4), (0, 1)]:
    ours = jmb.reshape_batch_axis({"x": x}, size, axis)
    theirs = omb.reshape_batch_axis({"x": x}, size, axis)
    np.testing.assert_array_equal(ours["x"], theirs["x"])
  # Microbatch i holds examples i, i + n, i + 2n, ... (column-major split).
  np.testing.assert_array_equal(jmb.reshape_batch_axis(jnp.arange(6), 2)[1], jnp.array([1, 4]))


@pytest.mark.slow
def test_microbatch_explicit_sharding():
  """Under a mesh with explicit axes the batch sharding carries to the microbatch axis.

  optax 0.2.8 compares `jax.__version__ < '0.7.0'` as strings ("0.10" < "0.7"), takes
  its pre-0.7 path and fails here; the numbers are compared with its unsharded run.
  """
  mesh = jax.make_mesh((4,), ("data",), axis_types=(jax.sharding.AxisType.Explicit,))
  params, x, y = _data(7)
  grad = jax.grad(_loss)
  with jax.set_mesh(mesh):
    xs = jax.device_put(x, jax.sharding.PartitionSpec("data"))
    ys = jax.device_put(y, jax.sharding.PartitionSpec("data"))
    reshaped = jmb.reshape_batch_axis(xs, 4)
    assert jax.typeof(reshaped).sharding.spec[:2] == (None, "data")
    ours = jax.jit(jmb.microbatch(grad, (1, 2), 4, jmb.AccumulationType.MEAN))(params, xs, ys)
    concat = jax.jit(jmb.micro_vmap(lambda a: a * 2.0, microbatch_size=4))(xs)
    with pytest.raises(ValueError, match="shards"):
      jmb.reshape_batch_axis(xs, 2)
  theirs = jax.jit(omb.microbatch(grad, (1, 2), 4, omb.AccumulationType.MEAN))(params, x, y)
  assert_trees_close(ours, theirs, 1e-6, 1e-7)
  np.testing.assert_allclose(concat, 2.0 * x, rtol=1e-6)
