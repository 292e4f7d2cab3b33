"""The shared training-step body, its trace-time checks, and the single-device `jit` variant."""

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src import update as update_lib
from jopt._src.train import nan_policy as nan_lib
from jopt._src.train import state as state_lib

try:  # the hyperparameter telemetry reader; metrics carry no hyperparameters without it.
  from jopt._src.wrappers.hyperparams import hyperparams as _read_hyperparams
except ImportError:  # pragma: no cover
  _read_hyperparams = None

LossFn = Callable[..., Any]
StepFn = Callable[[state_lib.TrainState, Any], tuple[state_lib.TrainState, dict[str, Any]]]

MODEL_STATE_KEY = "model_state"
_RESERVED_METRICS = ("loss", "grad_norm", "update_norm", "hyperparams", "nonfinite")


def _shapes(tree: Any) -> Any:
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x)), tree)


def check_opt_state(fn: str, tx: base.GradientTransformation, params: Any, opt_state: Any) -> None:
  """Raises `ValueError` if `opt_state` is not shaped like `tx.init(params)` (checked abstractly)."""
  expected = jax.eval_shape(tx.init, _shapes(params))
  e_def, s_def = jax.tree.structure(expected), jax.tree.structure(opt_state)
  if e_def != s_def:
    raise ValueError(
        f"{fn}: the optimizer state does not match `tx.init(params)` for these params.\n"
        f"  expected: {e_def}\n  got:      {s_def}\n"
        "Was the state built with different params or a different optimizer?"
    )
  for (path, e), s in zip(jax.tree_util.tree_leaves_with_path(expected), jax.tree.leaves(opt_state)):
    if tuple(e.shape) != tuple(jnp.shape(s)):
      raise ValueError(
          f"{fn}: optimizer state leaf {jax.tree_util.keystr(path)} has shape "
          f"{tuple(jnp.shape(s))} but these params need {tuple(e.shape)}. "
          "Was the state built with different params?"
      )


def _split_loss(fn: str, out: Any, has_aux: bool) -> tuple[Any, Any]:
  if has_aux:
    if not (isinstance(out, tuple) and len(out) == 2):
      raise ValueError(
          f"{fn}: with has_aux=True, loss_fn must return (loss, aux), got {type(out).__name__}."
      )
    return out
  if isinstance(out, (tuple, list, dict)):
    raise ValueError(
        f"{fn}: loss_fn returned a {type(out).__name__}; pass has_aux=True if it returns (loss, aux)."
    )
  return out, None


def check_loss(fn: str, out_shape: Any, has_aux: bool) -> None:
  """Raises `ValueError` unless the (abstract) loss is a real floating scalar."""
  loss, _ = _split_loss(fn, out_shape, has_aux)
  shape = tuple(getattr(loss, "shape", ()))
  dtype = getattr(loss, "dtype", None)
  if shape != ():
    raise ValueError(
        f"{fn}: loss_fn must return a scalar loss, got shape {shape}; reduce it (e.g. `.mean()`)."
    )
  if dtype is not None and not jnp.issubdtype(dtype, jnp.floating):
    raise ValueError(f"{fn}: loss_fn must return a real floating loss, got dtype {dtype}.")


def _pmean_floats(tree: Any, axis_name: str) -> Any:
  """Averages floating leaves over `axis_name`; integer leaves (counters) are left alone."""
  return jax.tree.map(
      lambda x: jax.lax.pmean(x, axis_name) if jnp.issubdtype(jnp.result_type(x), jnp.inexact) else x,
      tree,
  )


@checks.public
def train_step_body(
    loss_fn: LossFn,
    tx: base.GradientTransformation,
    *,
    has_aux: bool = False,
    axis_name: Optional[str] = None,
    nan_policy: str = "ignore",
) -> StepFn:
  """The pure, un-jitted training step shared by every variant (`jit`, `pmap`, mesh, `vmap`).

  One step, with `g` the gradient of the loss at the current params:

  .. math::
    u_k, s_{k+1} = \\mathrm{tx.update}(g_k, s_k, \\theta_k), \\qquad
    \\theta_{k+1} = \\theta_k + u_k

  `loss_fn` is called as ``loss_fn(params, batch)``, with the step's PRNG key
  ``jax.random.fold_in(state.rng, state.step)`` appended as a third positional
  argument when ``state.rng`` is not None, and with ``model_state=state.model_state``
  as a keyword when ``state.model_state`` is not None. It returns a scalar loss,
  or ``(loss, aux)`` with ``has_aux=True``. With model state, ``aux`` must be a dict
  whose ``"model_state"`` entry is the new model state (e.g. updated batch-norm
  statistics); the other entries of a dict ``aux`` become metrics (a non-dict
  ``aux`` is reported as ``metrics["aux"]``).

  With ``axis_name`` (inside `pmap` or `shard_map`), the loss, gradients, model
  state and aux metrics are averaged with `lax.pmean` over that axis and each
  device's key is further folded with its `lax.axis_index`.

  Checks run while tracing, before compilation: the loss must be a real scalar,
  and ``state.opt_state`` must be shaped like ``tx.init(state.params)``.

  A step whose loss or gradient (after the `pmean`) holds a NaN or ±inf is
  flagged in ``metrics["nonfinite"]`` and counted in ``state.nonfinite_steps``.
  With ``nan_policy="ignore"`` its update is applied anyway (optax's training
  loops do the same); with ``"skip"`` or ``"raise"`` the params, optimizer state
  and model state stay as they were (``state.step`` still advances) and
  ``update_norm`` is 0: a `where` fused into the update, no host sync. The host
  side of ``"raise"`` is `make_train_step`'s.

  Args:
    loss_fn: ``loss_fn(params, batch[, rng][, model_state=...]) -> loss | (loss, aux)``.
    tx: the gradient transformation.
    has_aux: whether `loss_fn` returns ``(loss, aux)``.
    axis_name: a mapped axis to average over, or None (single device or `jit` over a mesh).
    nan_policy: ``"ignore"``, ``"skip"`` or ``"raise"`` (the body skips as for
      ``"skip"``); see above.

  Returns:
    ``step(state, batch) -> (new_state, metrics)``; metrics are ``loss``,
    ``grad_norm`` and ``update_norm`` (global l2 norms, float32), ``nonfinite``
    (bool: the loss or a gradient entry was NaN or ±inf), ``hyperparams``
    (``jopt.hyperparams(new_opt_state)``: the values used in this step, empty unless
    the optimizer was built with `inject_hyperparams`), plus the aux metrics.

  Example:
    >>> import jax, jax.numpy as jnp, jopt
    >>> loss = lambda p, b: jnp.mean((b["x"] @ p - b["y"]) ** 2)
    >>> tx = jopt.sgd(0.1)
    >>> step = jopt.train_step_body(loss, tx)
    >>> state = jopt.init_train_state(jnp.zeros(2), tx)
    >>> state, metrics = jax.jit(step)(state, {"x": jnp.eye(2), "y": jnp.ones(2)})
    >>> float(metrics["loss"])
    1.0
  """
  fn = "train_step"
  nan_lib.check_policy(fn, nan_policy, 1)
  skip_nonfinite = nan_policy != "ignore"

  def step(state: state_lib.TrainState, batch: Any):
    params = state.params
    check_opt_state(fn, tx, params, state.opt_state)
    args: tuple[Any, ...] = (batch,)
    if state.rng is not None:
      rng = jax.random.fold_in(state.rng, state.step)
      if axis_name is not None:
        rng = jax.random.fold_in(rng, jax.lax.axis_index(axis_name))
      args += (rng,)
    kwargs = {} if state.model_state is None else {MODEL_STATE_KEY: state.model_state}

    def loss_and_aux(p):
      return _split_loss(fn, loss_fn(p, *args, **kwargs), has_aux)

    check_loss(fn, jax.eval_shape(loss_and_aux, params)[0], has_aux=False)
    (loss, aux), grads = jax.value_and_grad(loss_and_aux, has_aux=True)(params)
    if axis_name is not None:
      loss, grads = jax.lax.pmean((loss, grads), axis_name)

    new_model_state = state.model_state
    if state.model_state is not None:
      if not (isinstance(aux, dict) and MODEL_STATE_KEY in aux):
        raise ValueError(
            f"{fn}: the state has model_state, so loss_fn must be built with has_aux=True and "
            f"return (loss, aux) with aux a dict holding the new '{MODEL_STATE_KEY}'."
        )
      aux = dict(aux)
      new_model_state = aux.pop(MODEL_STATE_KEY)
      if jax.tree.structure(new_model_state) != jax.tree.structure(state.model_state):
        raise ValueError(
            f"{fn}: aux['{MODEL_STATE_KEY}'] does not have the structure of state.model_state."
        )
    if axis_name is not None:
      new_model_state, aux = _pmean_floats((new_model_state, aux), axis_name)

    updates, opt_state = tx.update(grads, state.opt_state, params)
    new_params = update_lib.apply_updates(params, updates)
    finite = nan_lib.all_finite(loss, grads)
    update_norm = numerics.global_norm(updates)
    if skip_nonfinite:
      new_params, opt_state, new_model_state = nan_lib.select_finite(
          finite, (new_params, opt_state, new_model_state),
          (params, state.opt_state, state.model_state),
      )
      update_norm = jnp.where(finite, update_norm, jnp.zeros_like(update_norm))
    metrics = {
        "loss": loss,
        "grad_norm": numerics.global_norm(grads),
        "update_norm": update_norm,
        "nonfinite": jnp.logical_not(finite),
        "hyperparams": {} if _read_hyperparams is None else _read_hyperparams(opt_state),
    }
    if isinstance(aux, dict):
      clash = sorted(set(aux) & set(_RESERVED_METRICS))
      if clash:
        raise ValueError(f"{fn}: aux keys {clash} clash with the step's own metrics.")
      metrics.update(aux)
    elif aux is not None:
      metrics["aux"] = aux
    new_state = state_lib.TrainState(
        step=state.step + 1,
        params=new_params,
        opt_state=opt_state,
        model_state=new_model_state,
        rng=state.rng,
        nonfinite_steps=None if state.nonfinite_steps is None
        else state.nonfinite_steps + jnp.logical_not(finite).astype(state.nonfinite_steps.dtype),
    )
    return new_state, metrics

  return step


def check_batch(fn: str, batch: Any, num_shards: int, what: str, scale: int = 1) -> None:
  """Raises `ValueError` unless every batch leaf's leading size (times `scale`) divides into `num_shards`.

  Args:
    fn: the caller, for the message.
    batch: the batch pytree (host or device arrays).
    num_shards: the number of devices the batch is split over.
    what: how the devices are named in the message.
    scale: multiplies the local leading size into the global one (the process count
      when each process passes its own part of the batch).
  """
  leaves = jax.tree_util.tree_leaves_with_path(batch)
  if not leaves:
    raise ValueError(f"{fn}: the batch is empty.")
  for path, x in leaves:
    shape = jnp.shape(x)
    if not shape:
      raise ValueError(
          f"{fn}: batch leaf {jax.tree_util.keystr(path)} is a scalar; every leaf needs a "
          f"leading batch axis to split over {num_shards} {what}."
      )
    size = shape[0] * scale
    if size % num_shards:
      raise ValueError(
          f"{fn}: the global batch size {size} (leading axis of batch leaf "
          f"{jax.tree_util.keystr(path)}) is not divisible by the {num_shards} {what}."
      )


def jit_variant(step_fn: StepFn, tx: base.GradientTransformation, donate: bool):
  """`(init, step)` on one device: `jax.jit` of the body, the state's buffers donated if `donate`."""
  init = jax.jit(
      lambda params, rng, model_state: state_lib.init_train_state(
          fresh(params), tx, rng, fresh(model_state)
      )
  )
  step = jax.jit(step_fn, donate_argnums=(0,) if donate else ())
  return init, step


def fresh(tree: Any) -> Any:
  """Copies inside `jit`, so donating the state never deletes the caller's own arrays."""
  return jax.tree.map(lambda x: jnp.array(x, copy=True), tree)
