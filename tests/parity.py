"""Side-by-side trajectories of a jopt transform and its optax reference.

`assert_trajectories_match(jopt_tx, optax_tx, ...)` runs both on the same params
and the same random gradient sequence and compares updates and params at every
step, eagerly, under `jit`, or under `pmap` over 2 devices.
"""

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

SHAPES = ((), (3,), (4, 5), (2, 3, 4))


def random_tree(key: jax.Array, dtype=jnp.float32, scale: float = 1.0) -> Any:
  """A nested params tree with leaves of shapes (), (3,), (4, 5), (2, 3, 4)."""
  keys = jax.random.split(key, len(SHAPES))

  def leaf(k, shape):
    if jnp.issubdtype(dtype, jnp.complexfloating):
      kr, ki = jax.random.split(k)
      x = jax.random.normal(kr, shape) + 1j * jax.random.normal(ki, shape)
    else:
      x = jax.random.normal(k, shape)
    return (scale * x).astype(dtype)

  l = [leaf(k, s) for k, s in zip(keys, SHAPES)]
  return {"dense": {"w": l[2], "b": l[1]}, "scalar": l[0], "stack": [l[3], (l[1] * 0.5,)]}


def gradient_sequence(params: Any, steps: int, seed: int = 0, scale: float = 1.0) -> list[Any]:
  """`steps` random gradient trees shaped like `params`."""
  out = []
  key = jax.random.PRNGKey(seed)
  for _ in range(steps):
    key, sub = jax.random.split(key)
    leaves, treedef = jax.tree.flatten(params)
    ks = jax.random.split(sub, len(leaves))
    gl = []
    for k, p in zip(ks, leaves):
      if jnp.iscomplexobj(p):
        kr, ki = jax.random.split(k)
        g = jax.random.normal(kr, p.shape) + 1j * jax.random.normal(ki, p.shape)
      else:
        g = jax.random.normal(k, p.shape)
      gl.append((scale * g).astype(p.dtype))
    out.append(jax.tree.unflatten(treedef, gl))
  return out


def _make_step(tx, mode: str, pass_params: bool, extra: Optional[dict], apply_scale: float):
  extra = extra or {}

  def step(params, state, grads):
    updates, state = tx.update(grads, state, params if pass_params else None, **extra)
    new_params = jax.tree.map(lambda p, u: (p + apply_scale * u).astype(p.dtype), params, updates)
    return new_params, state, updates

  if mode == "eager":
    return step
  if mode == "jit":
    return jax.jit(step)
  if mode == "pmap":
    return jax.pmap(step, axis_name="devices")
  raise ValueError(mode)


def trajectory(tx, params, grads_seq, mode="jit", pass_params=True, extra=None, apply_scale=1.0):
  """Params and updates after each step of `tx` on `grads_seq`.

  `apply_scale` multiplies updates before they are added to params: building
  blocks that return O(1) updates (no learning rate) are applied with a small
  step, as an optimizer would, so params stay a meaningful comparison.
  """
  step = _make_step(tx, mode, pass_params, extra, apply_scale)
  state = tx.init(params)
  # Under pmap every input carries a leading axis of 2 devices (the same values
  # on both); results are read back from device 0.
  n = 2 if mode == "pmap" else None
  rep = (lambda t: jax.tree.map(lambda x: jnp.stack([jnp.asarray(x)] * n), t)) if n else (lambda t: t)
  first = (lambda t: jax.tree.map(lambda x: x[0], t)) if n else (lambda t: t)
  params, state = rep(params), rep(state)
  out = []
  for g in grads_seq:
    params, state, updates = step(params, state, rep(g))
    out.append((first(params), first(updates)))
  return out


def assert_trees_close(actual, expected, rtol, atol, what=""):
  a_leaves, a_def = jax.tree.flatten(actual)
  e_leaves, e_def = jax.tree.flatten(expected)
  assert a_def == e_def, f"{what}: structures differ: {a_def} vs {e_def}"
  for i, (a, e) in enumerate(zip(a_leaves, e_leaves)):
    a = np.asarray(jnp.asarray(a).astype(jnp.complex64 if jnp.iscomplexobj(a) else jnp.float32))
    e = np.asarray(jnp.asarray(e).astype(jnp.complex64 if jnp.iscomplexobj(e) else jnp.float32))
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=f"{what} leaf {i}")


def assert_trajectories_match(
    jopt_tx,
    optax_tx,
    *,
    steps: int = 20,
    mode: str = "jit",
    dtype=jnp.float32,
    seed: int = 0,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    pass_params: bool = True,
    extra: Optional[dict] = None,
    params: Any = None,
    grad_scale: float = 1.0,
    apply_scale: float = 1.0,
):
  """Runs both transforms side by side; compares updates and params at every step."""
  if params is None:
    params = random_tree(jax.random.PRNGKey(seed + 100), dtype)
  grads = gradient_sequence(params, steps, seed, grad_scale)
  ours = trajectory(jopt_tx, params, grads, mode, pass_params, extra, apply_scale)
  ref = trajectory(optax_tx, params, grads, mode, pass_params, extra, apply_scale)
  for t, ((p1, u1), (p2, u2)) in enumerate(zip(ours, ref)):
    # jopt keeps each param's dtype in its updates, whatever optax does.
    for u, p in zip(jax.tree.leaves(u1), jax.tree.leaves(params)):
      assert u.dtype == p.dtype, f"update dtype {u.dtype} != param dtype {p.dtype} at step {t}"
    assert_trees_close(u1, u2, rtol, atol, f"updates at step {t}")
    assert_trees_close(p1, p2, rtol, atol, f"params at step {t}")
  return ours, ref
