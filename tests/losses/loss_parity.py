"""Side-by-side harness for the loss tests: jopt vs optax values and gradients, eager and jit.

`compare` takes a list of cases and traces them all into one jitted program per
side (values, then gradients), so a table of cases costs a few compiles.
"""

import inspect

import jax
import jax.numpy as jnp
import numpy as np

RTOL, ATOL = 1e-5, 1e-6

# The programs here are small and run once: skip LLVM's optimizations (compiles ~40% faster).
_FAST_COMPILE = {"xla_backend_optimization_level": 0}


def _run_once(fn, *args):
  """`jax.jit(fn)(*args)`, compiled without backend optimizations."""
  return jax.jit(fn).lower(*args).compile(compiler_options=_FAST_COMPILE)(*args)


def assert_close(actual, expected, rtol=RTOL, atol=ATOL, what=""):
  """Leaf-wise allclose of two pytrees (nan matches nan, inf matches inf); same shapes and dtypes."""
  a_leaves, a_def = jax.tree.flatten(actual)
  e_leaves, e_def = jax.tree.flatten(expected)
  assert a_def == e_def, f"{what}: structures differ: {a_def} vs {e_def}"
  for i, (a, e) in enumerate(zip(a_leaves, e_leaves)):
    a, e = np.asarray(a), np.asarray(e)
    assert a.shape == e.shape, f"{what} [{i}]: shapes differ: {a.shape} vs {e.shape}"
    assert a.dtype == e.dtype, f"{what} [{i}]: dtypes differ: {a.dtype} vs {e.dtype}"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=f"{what} [{i}]")


def case(*args, **kwargs):
  """One call: positional array arguments and keyword arguments (closed over, not traced)."""
  return args, kwargs


def compare(jopt_fn, optax_fn, cases, argnums=(0,), rtol=RTOL, atol=ATOL, eager=1,
            jit_optax=True):
  """jopt vs optax on every case: jitted values and `jax.grad` of the summed loss, eager values.

  Values and gradients of both sides come out of one jitted program (the values
  as the gradient's auxiliary output), so a table of cases costs one compile.

  Args:
    jopt_fn, optax_fn: the two functions.
    cases: list of `case(...)`.
    argnums: positional arguments to differentiate (empty: values only).
    eager: how many of the cases (from the first) jopt also runs un-jitted.
    jit_optax: `False` runs optax un-jitted (for calls optax cannot trace).

  Returns:
    jopt's (jitted) values, one per case.
  """
  def run(fn):
    def total(diff_args):
      outs, loss = [], 0.0
      for (args, kw), d in zip(cases, diff_args):
        a = list(args)
        for i, x in zip(argnums, d):
          a[i] = x
        out = fn(*a, **kw)
        outs.append(out)
        loss = loss + sum(jnp.sum(leaf) for leaf in jax.tree.leaves(out))
      return loss, outs
    if argnums:
      return jax.grad(total, has_aux=True)
    return lambda d: (None, total(d)[1])

  diff_args = [[args[i] for i in argnums] for args, _ in cases]
  ours, theirs = run(jopt_fn), run(optax_fn)
  if jit_optax:
    # One program for both sides: a single compile, and XLA shares what they compute alike.
    (grads, values), (ref_grads, ref_values) = _run_once(lambda d: (ours(d), theirs(d)), diff_args)
  else:
    (grads, values), (ref_grads, ref_values) = _run_once(ours, diff_args), theirs(diff_args)
  assert_close(values, ref_values, rtol, atol, "jit value")
  assert_close(grads, ref_grads, rtol, atol, "grad")
  for (args, kw), ref in list(zip(cases, ref_values))[:eager]:
    assert_close(jopt_fn(*args, **kw), ref, rtol, atol, "eager value")
  return values


def assert_same_signature(jopt_fn, optax_fn):
  """Same parameter names, order, kinds and defaults (annotations may differ)."""
  ours = inspect.signature(jopt_fn).parameters
  theirs = inspect.signature(optax_fn).parameters
  assert list(ours) == list(theirs), (list(ours), list(theirs))
  for name in ours:
    assert ours[name].kind == theirs[name].kind, (name, ours[name].kind, theirs[name].kind)
    ok = ours[name].default is theirs[name].default or ours[name].default == theirs[name].default
    assert ok, (name, ours[name].default, theirs[name].default)
