"""Tree arithmetic shared by every transform: moments, bias correction, casts, norms.

Each helper treats a `None` leaf as an absent parameter and passes it through.
"""

import functools
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jopt._src import checks


def _is_none(x: Any) -> bool:
  return x is None


def tree_map(fn: Callable[..., Any], tree: Any, *rest: Any) -> Any:
  """`jax.tree.map` that keeps `None` leaves of `tree` as `None`."""
  return jax.tree.map(
      lambda x, *r: None if x is None else fn(x, *r), tree, *rest, is_leaf=_is_none
  )


def zeros_like(tree: Any, dtype: Optional[jnp.dtype] = None) -> Any:
  """Zeros shaped like each leaf, in `dtype` (default: the leaf's own dtype)."""
  return jax.tree.map(lambda x: jnp.zeros_like(x, dtype=dtype), tree)


def zeros_like_output(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
  """Zeros shaped and typed like `fn(*args, **kwargs)[0]`, computed abstractly (no FLOPs).

  The updates of a skipped step: the branch of a `lax.cond` that does not run the
  inner transform still has to return its output's shapes and dtypes.
  """
  out = jax.eval_shape(lambda *a: fn(*a, **kwargs)[0], *args)
  return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), out)


def full_like(tree: Any, value: Any, dtype: Optional[jnp.dtype] = None) -> Any:
  """Constant arrays shaped like each leaf."""
  return jax.tree.map(lambda x: jnp.full_like(x, value, dtype=dtype), tree)


def real_full_like(tree: Any, value: Any, dtype: Optional[jnp.dtype] = None) -> Any:
  """Constant arrays shaped like each leaf, in `dtype` or else the leaf's real dtype.

  The init of an accumulator of `|g|^2` (second moments, sums of squares): real
  even for complex params, so it takes half the memory of a complex one.
  """

  def leaf(x):
    leaf_dtype = dtype if dtype is not None else jnp.real(jnp.zeros((), jnp.result_type(x))).dtype
    return jnp.full_like(x, value, dtype=leaf_dtype)  # `_like`: keeps the leaf's sharding

  return jax.tree.map(leaf, tree)


def cast(tree: Any, dtype: Optional[jnp.dtype]) -> Any:
  """Casts every leaf to `dtype`; `None` leaves the tree unchanged."""
  if dtype is None:
    return tree
  return jax.tree.map(lambda x: x.astype(dtype), tree)


def cast_like(tree: Any, like: Any) -> Any:
  """Casts each leaf of `tree` to the dtype of the matching leaf of `like`.

  A leaf of `like` without a dtype (a Python number a user stored in a state) leaves
  its leaf as it is; a Python-number leaf of `tree` becomes an array of the dtype.
  """
  def cast(x, y):
    if not hasattr(y, "dtype"):
      return x
    return x.astype(y.dtype) if hasattr(x, "astype") else jnp.asarray(x, y.dtype)

  return tree_map(cast, tree, like)


def canonicalize_dtype(dtype: Optional[Any]) -> Optional[jnp.dtype]:
  """`dtype` as a canonical JAX dtype, or `None`."""
  return None if dtype is None else jax.dtypes.canonicalize_dtype(dtype)


def abs_sq(x: jax.Array) -> jax.Array:
  """`|x|^2`, real for complex `x`; the same HLO as `x * x` for real `x`."""
  if jnp.iscomplexobj(x):
    return (x.conj() * x).real
  return x * x


def _power_norm(g: jax.Array, order: int) -> jax.Array:
  if not jnp.iscomplexobj(g):
    return g**order
  half = order / 2
  return abs_sq(g) ** (int(half) if float(half).is_integer() else half)


def update_moment(updates: Any, moments: Any, decay: Any, order: int) -> Any:
  """EMA of `g ** order`: `m <- (1 - decay) * g**order + decay * m`."""
  return tree_map(lambda g, m: (1 - decay) * (g**order) + decay * m, updates, moments)


def update_moment_per_elem_norm(updates: Any, moments: Any, decay: Any, order: int) -> Any:
  """EMA of `|g| ** order` (real for complex `g`): `m <- (1 - decay) * |g|**order + decay * m`."""
  return tree_map(
      lambda g, m: (1 - decay) * _power_norm(g, order) + decay * m, updates, moments
  )


def bias_correction_factor(decay: Any, count: jax.Array) -> jax.Array:
  """`1 - decay ** count`, the bias correction of an EMA started at zero.

  Computed exactly as optax computes it, so jopt's Adam family is bitwise equal to
  optax's on float32. In float32 this is up to ~7e-5 relative off the exact value
  for `decay` near 1 (`one_minus_pow` is exact to rounding); within the 1e-4 that
  jopt accepts before it departs from optax's numbers.
  """
  return 1 - decay**count


def log_of(value: Any) -> Any:
  """`log(value)`, in float64 at build time when `value` is known.

  PyTorch evaluates `1 - beta ** step` in Python float64 with the exact decimal
  `beta`; `beta = 0.999` rounded to float32 already moves `1 - beta` by 1.3e-5
  relative. Taking the log in float64 and rounding only the result keeps
  `-expm1(step * log(beta))` within float32 rounding of PyTorch's value.
  """
  known = checks.concrete_value(value)
  if known is not None and known.shape == () and known.dtype != object:
    with np.errstate(divide="ignore"):
      return float(np.log(np.float64(known)))
  return jnp.log(jnp.asarray(value, jnp.float32))


def one_minus_pow(log_beta: Any, step: jax.Array) -> jax.Array:
  """`1 - beta ** step` as `-expm1(step * log(beta))` in float32 (exact to rounding; `beta = 0` gives 1)."""
  return -jnp.expm1(jnp.asarray(step, jnp.float32) * log_beta)


# B_2k / (2k)! for k = 1..5: the Taylor coefficients of y / (e^y - 1) beyond 1 - y/2.
_BERNOULLI_TAYLOR = (1 / 12, -1 / 720, 1 / 30240, -1 / 1209600, 1 / 47900160)


def radam_rho(b2: Any, count: jax.Array) -> jax.Array:
  """RAdam's length of the approximated SMA, `rho_t = rho_inf - 2 t b2^t / (1 - b2^t)`.

  Written directly this is a difference of two numbers near
  `rho_inf = 2 / (1 - b2) - 1` (about 2000 for `b2 = 0.999`), which loses ~0.5%
  in float32 for small `t` (optax computes it so). With `L = -log(b2)`,
  `x = t L` and `f(y) = y / (e^y - 1)` the same value is

    rho_t = 1 + 2 (f(L) - f(x)) / L,

  and for `x <= 1` the difference is expanded in `f`'s Taylor series
  (Bernoulli numbers; truncation error < 1e-11 relative), leaving no
  cancellation; for `x > 1`, `f(L) - f(x) > 0.4` and the direct form is exact
  to rounding. `b2 = 0` gives `rho_t = 1`.

  Args:
    b2: the second-moment decay in [0, 1).
    count: the step `t >= 1`.

  Returns:
    `rho_t` as a float32 scalar.
  """
  lam = -jnp.asarray(log_of(b2), jnp.float32)
  t = jnp.asarray(count, jnp.float32)
  x = t * lam
  # Series branch: (f(L) - f(x)) / L = (t - 1) / 2 + sum_k c_k (L^(2k-1) - t x^(2k-1)).
  lam_s = jnp.minimum(lam, 1.0)
  x_s = jnp.minimum(x, 1.0)
  series = (t - 1) / 2
  for k, c in enumerate(_BERNOULLI_TAYLOR, start=1):
    series = series + c * (lam_s ** (2 * k - 1) - t * x_s ** (2 * k - 1))

  def f(y):
    big = y > 80.0  # y / (e^y - 1) < 1e-33: zero in float32, and y may be inf.
    y_safe = jnp.where(big, 1.0, jnp.maximum(y, 1e-30))
    return jnp.where(big, 0.0, jnp.where(y > 0, y_safe / jnp.expm1(y_safe), 1.0))

  direct = (f(lam) - f(x)) / lam
  mean_lag = jnp.where(x <= 1.0, series, direct)
  return 1.0 + 2.0 * mean_lag


@functools.partial(jax.jit, inline=True)
def bias_correction(moments: Any, decay: Any, count: jax.Array) -> Any:
  """Divides each moment by `1 - decay ** count`, in the moment's own dtype.

  Compiled (and inlined into an enclosing `jit`) as optax compiles it, so eager
  updates round `decay ** count` as XLA does and equal optax's bit for bit.
  """
  factor = bias_correction_factor(decay, count)
  return tree_map(lambda m: m / factor.astype(m.dtype), moments)


def safe_increment(count: jax.Array) -> jax.Array:
  """`count + 1`, saturating at the dtype's maximum instead of wrapping."""
  info = jnp.iinfo(count.dtype) if jnp.issubdtype(count.dtype, jnp.integer) else None
  if info is None:
    return count + 1
  # The maximum as an array of the counter's dtype: a Python int above int32's range
  # (uint32/uint64 maxima) would overflow when jit converts it.
  max_value = jnp.asarray(info.max, count.dtype)
  return jnp.where(count < max_value, count + 1, max_value)


def init_count() -> jax.Array:
  """The step counter every stateful transform starts from: int32 zero."""
  return jnp.zeros([], jnp.int32)


def accumulation_dtype(dtype: Any) -> jnp.dtype:
  """The dtype a reduction over a leaf of `dtype` accumulates in: its real dtype, at least float32."""
  real = jnp.real(jnp.zeros((), dtype)).dtype
  return jnp.promote_types(real, jnp.float32)


def leaf_sum_of_squares(x: jax.Array, axis: Any = None, keepdims: bool = False) -> jax.Array:
  """`sum(|x|^2)` over `axis` of one leaf, accumulated in float32 or wider.

  bf16/f16 leaves are summed in float32 (a bf16 sum of 10^4 squares is off by
  ~0.1%); for float32 leaves this is the plain `sum(x * x)`, bit for bit.
  """
  x = jnp.asarray(x)
  acc = accumulation_dtype(x.dtype)
  # Square in the accumulation dtype too: a bf16 square already loses 3 digits.
  x = x if jnp.iscomplexobj(x) or x.dtype == acc else x.astype(acc)
  return jnp.sum(abs_sq(x), axis=axis, keepdims=keepdims, dtype=acc)


def sum_of_squares(tree: Any) -> jax.Array:
  """Sum of `|x|^2` over every leaf, accumulated in float32 or wider (NaN if any leaf has NaN)."""
  leaves = [l for l in jax.tree.leaves(tree) if l is not None]
  if not leaves:
    return jnp.zeros([], jnp.float32)
  return sum(leaf_sum_of_squares(l) for l in leaves)


def global_norm(tree: Any) -> jax.Array:
  """The l2 norm of all leaves taken together, accumulated in float32 or wider."""
  return jnp.sqrt(sum_of_squares(tree))


def resolve(value: Any, count: jax.Array) -> Any:
  """A hyperparameter's value at step `count`: calls a schedule, passes a constant through.

  This is the one place jopt resolves scalar-or-schedule hyperparameters.
  """
  return value(count) if callable(value) else value


def power(base: Any, exponent: Any) -> jax.Array:
  """`base ** exponent` in float32 as `exp(exponent * log_of(base))`; `base ** 0 = 1` (also for 0).

  For a decay factor raised to a step count (`gamma ** t`, PyTorch's recursive
  `lr *= gamma`): rounding `gamma` to float32 first moves the result by `t`
  times that rounding error (1.3e-5 relative for `0.999 ** 1000`); with the log
  taken in float64 the error is float32 rounding of `t log(gamma)`.
  """
  e = jnp.asarray(exponent, jnp.float32)
  return jnp.where(e == 0, 1.0, jnp.exp(e * log_of(base)))


def radam_rectifier(b2: Any, rho: jax.Array) -> jax.Array:
  """RAdam's rectification `r_t = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t))`.

  With `rho_inf = 2 / (1 - b2) - 1` (in float64 at build time when `b2` is
  known) and `rho_t` from `radam_rho`. Real only for `rho_t >= 4`: callers pass
  a safe `rho` where they do not rectify and select with `jnp.where`. Liu et
  al., 2020, eq. (8) (https://arxiv.org/abs/1908.03265).
  """
  rho_inf = 2.0 / (1.0 - b2) - 1.0
  return jnp.sqrt(
      (rho - 4.0) * (rho - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho)
  )
