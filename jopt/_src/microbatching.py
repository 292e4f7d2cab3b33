"""Microbatching: evaluate a function on slices of a batch in sequence and combine the results (`microbatch`, `micro_vmap`, `micro_grad`)."""

import collections
import dataclasses
import enum
import functools
from typing import Any, Callable, Optional, Sequence, Union

import jax
import jax.numpy as jnp


Function = Callable[..., Any]
VmapFn = Callable[[Function, Union[int, Sequence[int]], int], Function]

# The auxiliary output of `micro_grad`, one entry per example.
Aux = collections.namedtuple("Aux", ["values", "metrics", "aux"])


@dataclasses.dataclass(frozen=True)
class Accumulator:
  """How to combine a function's outputs over microbatches: a fold over the microbatch evaluations.

  For outputs :math:`x_0, \\dots, x_{n-1}` the result is
  `finalize(update(... update(init(shape of x_0), x_0, 0) ..., x_{n-1}, n - 1))`.

  Attributes:
    init: `init(shape_dtype_tree) -> carry`, from the abstract value of one
      microbatch's output.
    update: `update(carry, value, index) -> carry`.
    finalize: `finalize(carry) -> result`.
    aggregate: `aggregate(values) -> value`, reducing the leading (example)
      axis of a vmapped output inside one microbatch (used by `micro_vmap`).
  """

  init: Callable[[Any], Any]
  update: Callable[[Any, Any, Any], Any]
  finalize: Callable[[Any], Any]
  aggregate: Callable[[Any], Any]


class AccumulationType(enum.Enum):
  """The built-in ways to combine microbatch outputs."""

  MEAN = enum.auto()
  """The mean over microbatches (sum divided by their number)."""
  SUM = enum.auto()
  """The sum over microbatches."""
  RUNNING_MEAN = enum.auto()
  """The mean over the microbatches actually run (`num_real_microbatches`)."""
  CONCAT = enum.auto()
  """The outputs concatenated along axis 0, in the batch's original order."""


def _leafwise(init, update, finalize, aggregate) -> Accumulator:
  """An `Accumulator` applying array functions to every leaf of a tree of outputs."""
  return Accumulator(
      init=lambda value: jax.tree.map(init, value),
      update=lambda carry, value, i: jax.tree.map(lambda c, v: update(c, v, i), carry, value),
      finalize=lambda carry: jax.tree.map(finalize, carry),
      aggregate=lambda values: jax.tree.map(aggregate, values),
  )


def _zeros(value: Any, leading: tuple[int, ...] = ()) -> jax.Array:
  """Zeros shaped `leading + value.shape`, keeping an explicit sharding of `value` on its own axes."""
  sharding = getattr(value, "sharding", None)
  if isinstance(sharding, jax.sharding.NamedSharding) and sharding.mesh.are_all_axes_explicit:
    spec = jax.sharding.PartitionSpec(*((None,) * len(leading)), *sharding.spec)
    return jnp.zeros(leading + tuple(value.shape), value.dtype,
                     out_sharding=jax.sharding.NamedSharding(sharding.mesh, spec))
  return jnp.zeros(leading + tuple(value.shape), value.dtype)


def _inexact_zeros(value: Any) -> jax.Array:
  if not jnp.issubdtype(value.dtype, jnp.inexact):
    raise ValueError(
        f"microbatch: MEAN and RUNNING_MEAN accumulators average, so they need "
        f"floating-point outputs; got dtype {value.dtype}. Use SUM or CONCAT for "
        f"integer outputs."
    )
  return _zeros(value)


def _check_count(num_microbatches: int) -> None:
  if num_microbatches <= 0:
    raise ValueError(f"microbatch: the number of microbatches must be >= 1, got {num_microbatches}.")


def _sum() -> Accumulator:
  return _leafwise(
      init=_zeros,
      update=lambda c, v, _: c + v,
      finalize=lambda c: c,
      aggregate=functools.partial(jnp.sum, axis=0),
  )


def _mean(num_microbatches: int) -> Accumulator:
  _check_count(num_microbatches)
  return _leafwise(
      init=_inexact_zeros,
      update=lambda c, v, _: c + v,
      finalize=lambda c: c / num_microbatches,
      aggregate=functools.partial(jnp.mean, axis=0),
  )


def _running_mean() -> Accumulator:
  def update(carry, value, index):
    # After microbatch `index` the carry is the mean of the first index + 1 outputs.
    w = index / (index + 1)
    return carry * w + value * (1 - w)

  return _leafwise(
      init=_inexact_zeros,
      update=update,
      finalize=lambda c: c,
      aggregate=functools.partial(jnp.mean, axis=0),
  )


def _explicit_sharding(x: jax.Array):
  """`x`'s sharding when every mesh axis is explicit (sharding in types), else None."""
  sharding = jax.typeof(x).sharding
  return sharding if sharding.mesh.are_all_axes_explicit else None


def _concat(num_microbatches: int) -> Accumulator:
  _check_count(num_microbatches)

  def finalize(carry):
    # carry[i, j] is example i + j * num_microbatches (see `reshape_batch_axis`):
    # a column-major reshape puts every example back in place.
    shape = (-1,) + carry.shape[2:]
    sharding = _explicit_sharding(carry)
    if sharding is None:
      return carry.reshape(shape, order="F")
    spec = jax.sharding.PartitionSpec(*sharding.spec[1:])
    return carry.reshape(
        shape, order="F", out_sharding=jax.sharding.NamedSharding(sharding.mesh, spec)
    )

  return _leafwise(
      init=lambda v: _zeros(v, (num_microbatches,)),
      update=lambda c, v, i: c.at[i].set(v),
      finalize=finalize,
      aggregate=lambda v: v,
  )


def _is_accumulator(x: Any) -> bool:
  return all(callable(getattr(x, f, None)) for f in ("init", "update", "finalize", "aggregate"))


def _builtin(kind: Any, num_microbatches: int) -> Accumulator:
  # Also accepts another library's enum with the same member names (optax's).
  name = kind.name if isinstance(kind, enum.Enum) else None
  if name == "SUM":
    return _sum()
  if name == "MEAN":
    return _mean(num_microbatches)
  if name == "RUNNING_MEAN":
    return _running_mean()
  if name == "CONCAT":
    return _concat(num_microbatches)
  raise ValueError(
      f"microbatch: `accumulator` leaves must be an AccumulationType "
      f"({', '.join(t.name for t in AccumulationType)}) or an Accumulator, got {kind!r}."
  )


def _canonicalize(accumulator: Any, num_microbatches: int) -> Accumulator:
  """One `Accumulator` for a tree of accumulators that is a prefix of the outputs' tree."""
  is_leaf = lambda x: _is_accumulator(x) or isinstance(x, enum.Enum)
  tree = jax.tree.map(
      lambda a: a if _is_accumulator(a) else _builtin(a, num_microbatches),
      accumulator, is_leaf=is_leaf,
  )
  leaf = lambda x: isinstance(x, Accumulator) or _is_accumulator(x)
  over = lambda fn, *trees: jax.tree.map(fn, tree, *trees, is_leaf=leaf)
  return Accumulator(
      init=lambda values: over(lambda a, v: a.init(v), values),
      update=lambda carry, values, i: over(lambda a, c, v: a.update(c, v, i), carry, values),
      finalize=lambda carry: over(lambda a, c: a.finalize(c), carry),
      aggregate=lambda values: over(lambda a, v: a.aggregate(v), values),
  )


def reshape_batch_axis(tree: Any, microbatch_size: int, axis: int = 0) -> Any:
  """Splits the batch axis of every leaf into `(num_microbatches, microbatch_size)`, column-major.

  Microbatch `i` holds examples `i, i + n, i + 2n, ...` (`n` =
  `num_microbatches`), so a sharding of the batch axis carries over to the
  `microbatch_size` axis and every microbatch stays spread over the devices;
  the new `num_microbatches` axis is replicated. Under explicit sharding the
  output sharding says so; the number of batch shards must divide
  `microbatch_size`.

  Args:
    tree: a tree of arrays, each with a batch axis at `axis`.
    microbatch_size: the examples per microbatch; must divide the batch size.
    axis: the batch axis.

  Returns:
    The tree with each batch axis replaced by two axes `(num_microbatches,
    microbatch_size)` at the same position.
  """

  def split(x):
    shape = x.shape[:axis] + (-1, microbatch_size) + x.shape[axis + 1:]
    sharding = _explicit_sharding(x)
    if sharding is None:
      return x.reshape(shape, order="F")
    spec = tuple(sharding.spec) + (None,) * (x.ndim - len(sharding.spec))
    shards = x.shape[axis] // sharding.shard_shape(x.shape)[axis]
    if microbatch_size % shards:
      raise ValueError(
          f"reshape_batch_axis: the batch axis is split over {shards} shards, which "
          f"must divide `microbatch_size` = {microbatch_size}."
      )
    new_spec = jax.sharding.PartitionSpec(*spec[:axis], None, spec[axis], *spec[axis + 1:])
    return x.reshape(
        shape, order="F", out_sharding=jax.sharding.NamedSharding(sharding.mesh, new_spec)
    )

  return jax.tree.map(split, tree)


def _as_tuple(x: Union[Any, Sequence[Any]], single: type) -> tuple:
  return (x,) if isinstance(x, single) else tuple(x)


def microbatch(
    fun: Function,
    argnums: Union[int, Sequence[int]],
    microbatch_size: Optional[int],
    accumulator: Any = AccumulationType.SUM,
    *,
    argnames: Union[str, Sequence[str]] = (),
    in_axes: Union[int, Sequence[int]] = 0,
    num_real_microbatches: Optional[Union[int, jax.Array]] = None,
) -> Function:
  """`fun` evaluated on microbatches in sequence (a `fori_loop`), the outputs combined by `accumulator`.

  For a batch of :math:`B` examples and microbatch size :math:`m`, the
  :math:`n = B / m` microbatches (examples `i, i + n, ...`, see
  `reshape_batch_axis`) are run one after the other, so peak memory is that of
  one microbatch; with `SUM`:

  .. math::
    \\text{out} = \\sum_{i=0}^{n-1} \\text{fun}(\\text{microbatch}_i)

  Args:
    fun: any function.
    argnums: the positions of the arguments with a batch axis.
    microbatch_size: the examples per microbatch (must divide the batch size),
      or None to return `fun` itself.
    accumulator: an `AccumulationType` (SUM, MEAN, RUNNING_MEAN, CONCAT), an
      `Accumulator`, or a tree of them that is a prefix of `fun`'s output tree.
    argnames: the names of keyword arguments with a batch axis.
    in_axes: the batch axis of each of `argnums + argnames` (one int for all).
    num_real_microbatches: run only this many microbatches (a traced value
      works: variable batch sizes without recompiling). MEAN still divides by
      the full count; RUNNING_MEAN averages over the microbatches run.

  Returns:
    A function with `fun`'s arguments returning the combined output.

  Raises:
    ValueError: (when called) batch axes of different sizes, or a batch size
      that `microbatch_size` does not divide.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> fun = lambda x: (x + 1, jnp.sum(3 * x))
    >>> kinds = (jopt.microbatching.AccumulationType.CONCAT, jopt.microbatching.AccumulationType.SUM)
    >>> jopt.microbatch(fun, argnums=0, microbatch_size=2, accumulator=kinds)(jnp.arange(4))
    (Array([1, 2, 3, 4], dtype=int32), Array(18, dtype=int32))
  """
  if microbatch_size is None:
    return fun
  argnums = _as_tuple(argnums, int)
  argnames = _as_tuple(argnames, str)
  in_axes = (in_axes,) * (len(argnums) + len(argnames)) if isinstance(in_axes, int) else tuple(in_axes)
  axes_pos, axes_kw = in_axes[:len(argnums)], in_axes[len(argnums):]

  def microbatched(*args, **kwargs):
    batched = [args[i] for i in argnums] + [kwargs[k] for k in argnames]
    sizes = jax.tree.leaves(jax.tree.map(
        lambda ax, sub: jax.tree.map(lambda x: x.shape[ax], sub), in_axes, tuple(batched)
    ))
    if len(set(sizes)) > 1:
      raise ValueError(f"microbatch: the batch arguments' batch axes differ in size: {sizes}.")
    if not sizes:
      raise ValueError("microbatch: no array with a batch axis among `argnums`/`argnames`.")
    if sizes[0] % microbatch_size:
      raise ValueError(
          f"microbatch: the batch size {sizes[0]} is not divisible by `microbatch_size` = "
          f"{microbatch_size}."
      )
    num_microbatches = sizes[0] // microbatch_size
    args, kwargs = list(args), dict(kwargs)
    for i, ax in zip(argnums, axes_pos):
      args[i] = reshape_batch_axis(args[i], microbatch_size, ax)
    for k, ax in zip(argnames, axes_kw):
      kwargs[k] = reshape_batch_axis(kwargs[k], microbatch_size, ax)
    acc = _canonicalize(accumulator, num_microbatches)

    def call(index):
      take = lambda tree, ax: jax.tree.map(lambda x: jnp.take(x, index, axis=ax), tree)
      a, kw = list(args), dict(kwargs)
      for i, ax in zip(argnums, axes_pos):
        a[i] = take(a[i], ax)
      for k, ax in zip(argnames, axes_kw):
        kw[k] = take(kw[k], ax)
      return fun(*a, **kw)

    bound = num_microbatches if num_real_microbatches is None else num_real_microbatches
    carry = acc.init(jax.eval_shape(call, 0))
    carry = jax.lax.fori_loop(0, bound, lambda i, c: acc.update(c, call(i), i), carry)
    return acc.finalize(carry)

  return microbatched


def micro_vmap(
    fun: Function,
    in_axes: Union[int, Sequence[int]] = 0,
    out_axes: Any = 0,
    *,
    microbatch_size: Optional[int] = None,
    vmap_fn: VmapFn = jax.vmap,
    accumulator: Any = AccumulationType.CONCAT,
    num_real_microbatches: Optional[Union[int, jax.Array]] = None,
) -> Function:
  """`vmap` over a batch axis, computed `microbatch_size` examples at a time, with optional reductions.

  With the default `CONCAT` the result is `vmap(fun, in_axes)`'s; `SUM`,
  `MEAN` reduce over the batch without ever holding every example's output.
  Keyword arguments are mapped over their axis 0.

  Args:
    fun: the function of one example.
    in_axes: the batch axis of each positional argument (None for an argument
      shared by every example); one int for all.
    out_axes: must be 0.
    microbatch_size: the examples per microbatch, or None for one vmap of the
      whole batch.
    vmap_fn: a function with `jax.vmap`'s signature doing the mapping.
    accumulator: how to combine the examples' outputs (see `microbatch`).
    num_real_microbatches: run only this many microbatches.

  Returns:
    The mapped function.

  Raises:
    NotImplementedError: for `out_axes` other than 0.
  """
  if out_axes != 0:
    raise NotImplementedError("micro_vmap: only `out_axes=0` is supported.")

  def wrapped(*args, **kwargs):
    axes = (in_axes,) * len(args) if isinstance(in_axes, int) else tuple(in_axes)

    def vmap_and_reduce(*a, kwargs):
      out = vmap_fn(fun, axes, out_axes)(*a, **kwargs)
      size = jax.tree.leaves(out)[0].shape[0]
      return _canonicalize(accumulator, size).aggregate(out)

    mapped = [i for i, ax in enumerate(axes) if ax is not None]
    run = microbatch(
        vmap_and_reduce,
        argnums=tuple(mapped),
        argnames="kwargs",
        microbatch_size=microbatch_size,
        accumulator=accumulator,
        in_axes=tuple(axes[i] for i in mapped) + (0,),
        num_real_microbatches=num_real_microbatches,
    )
    return run(*args, kwargs=kwargs)

  return wrapped


def micro_grad(
    fun: Function,
    has_aux: bool = False,
    argnums: Union[int, Sequence[int]] = 0,
    *,
    batch_argnums: Union[int, Sequence[int]] = 1,
    keep_batch_dim: bool = True,
    microbatch_size: Optional[int] = None,
    accumulator: Any = AccumulationType.SUM,
    transform_fn: Callable[[Any], Any] = lambda x: x,
    metrics_fn: Callable[[Any], Any] = lambda x: None,
    num_real_microbatches: Optional[Union[int, jax.Array]] = None,
) -> Callable[..., tuple[Any, Aux]]:
  """Per-example gradients, transformed and combined over the batch, computed microbatch by microbatch.

  For examples :math:`x_i` with per-example gradient :math:`g_i = \\nabla
  f(\\theta, x_i)`, and `SUM`:

  .. math::
    \\text{grad} = \\sum_i T(g_i), \\qquad \\text{aux} = (f(\\theta, x_i), M(g_i), \\text{aux}_i)_i

  with :math:`T` = `transform_fn` (e.g. per-example clipping) and :math:`M` =
  `metrics_fn` (small per-example diagnostics). `MEAN` averages instead.

  Args:
    fun: the loss, `fun(params, batch, ...)` by default.
    has_aux: `fun` returns `(value, aux)`.
    argnums: the argument(s) to differentiate.
    batch_argnums: the argument(s) with a batch axis 0.
    keep_batch_dim: `fun` expects a batch axis: each example is passed as a
      batch of one.
    microbatch_size: examples per microbatch, or None for one vmap.
    accumulator: how to combine the transformed gradients (see `microbatch`).
    transform_fn: :math:`T`, applied to each example's gradient.
    metrics_fn: :math:`M`, applied to each example's gradient.
    num_real_microbatches: run only this many microbatches.

  Returns:
    A function with `fun`'s arguments returning `(grad, Aux(values, metrics,
    aux))`, the `Aux` fields stacked over examples.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> loss = lambda w, x, y: 0.5 * jnp.mean((x @ w - y) ** 2)
    >>> grad, aux = jopt.microbatching.micro_grad(loss, batch_argnums=(1, 2))(
    ...     jnp.zeros(1), jnp.ones((4, 1)), jnp.arange(4.0))
  """
  batch_argnums = _as_tuple(batch_argnums, int)
  with_aux = fun if has_aux else (lambda *a, **k: (fun(*a, **k), None))
  value_and_grad = jax.value_and_grad(with_aux, argnums, has_aux=True)

  def per_example(*args, **kwargs):
    (value, aux), grad = value_and_grad(*args, **kwargs)
    return transform_fn(grad), Aux(values=value, metrics=metrics_fn(grad), aux=aux)

  axes = [None] * (max(batch_argnums) + 1)
  for i in batch_argnums:
    axes[i] = 0
  mapped = micro_vmap(
      per_example,
      in_axes=axes,
      accumulator=(accumulator, AccumulationType.CONCAT),
      microbatch_size=microbatch_size,
      num_real_microbatches=num_real_microbatches,
  )
  if not keep_batch_dim:
    return mapped

  def with_batch_of_one(*args, **kwargs):
    args = list(args)
    for i in batch_argnums:
      args[i] = jax.tree.map(lambda x: jnp.expand_dims(x, 1), args[i])
    return mapped(*args, **kwargs)

  return with_batch_of_one

