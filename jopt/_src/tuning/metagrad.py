"""Meta-gradients: d(validation loss after K unrolled training steps) / d(log hyperparameters), and a tuner."""

import inspect
import math
from typing import Any, Callable, Mapping, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jopt._src import checks
from jopt._src import base
from jopt._src.optimizers import adaptive as adam_opt
from jopt._src.train import state as state_lib
from jopt._src.train import step as step_lib

MetaGradientFn = Callable[[Mapping[str, Any], base.Params, Any], tuple[jax.Array, dict[str, jax.Array]]]


def _check_eps_root(fn: str, optimizer: Callable[..., Any], fixed: Mapping[str, Any]) -> None:
  """Differentiating through sqrt(v + eps_root) at v = 0 gives inf * 0 = NaN unless eps_root > 0."""
  params = inspect.signature(optimizer).parameters
  if "eps_root" not in params:
    return
  value = fixed.get("eps_root", params["eps_root"].default)
  if value is inspect.Parameter.empty or (np.ndim(value) == 0 and float(value) <= 0.0):
    name = getattr(optimizer, "__name__", repr(optimizer))
    raise ValueError(
        f"{fn}: differentiating through {name} needs `eps_root` > 0 (the derivative of "
        f"sqrt(v + eps_root) is infinite where v = 0, which turns the meta-gradient into NaN; "
        f"optax issue #882); got eps_root={value!r}. Pass e.g. fixed={{'eps_root': 1e-8}}."
    )


@checks.public
def meta_gradient(
    loss_fn: step_lib.LossFn,
    val_loss_fn: Callable[[base.Params], jax.Array],
    optimizer: Callable[..., base.GradientTransformation],
    *,
    fixed: Optional[Mapping[str, Any]] = None,
    has_aux: bool = False,
    checkpoint: bool = True,
) -> MetaGradientFn:
  """Returns a jitted `f(log_hyperparams, params, batches) -> (val_loss, grads)` through an unrolled run.

  With `h = exp(log_hyperparams)` and `theta_0 = params`, the run takes one
  `jopt.train_step_body` step of `optimizer(**fixed, **h)` per batch (T steps,
  the leading axis of `batches`), and

  .. math::
    f(\\log h) = L_{val}(\\theta_T(h)), \\qquad
    \\mathrm{grads} = \\partial L_{val}(\\theta_T) / \\partial \\log h

  computed by `jax.value_and_grad` through the whole `lax.scan` of training
  steps (reverse mode through the optimizer). With `checkpoint=True` each step is
  wrapped in `jax.checkpoint`: the backward pass stores only the carried training
  state of each step and recomputes the step's internals, so memory is
  O(T * |state|) instead of O(T * |activations + state|). Log space keeps every
  hyperparameter positive and makes the gradient scale-free
  (`d/d log h = h d/dh`).

  Differentiating through Adam-family optimizers needs `eps_root > 0`: if
  `optimizer` takes an `eps_root` argument, a zero value raises `ValueError`
  here (optax returns NaN meta-gradients silently, optax issue #882).

  Args:
    loss_fn: the training loss, ``loss_fn(params, batch) -> loss`` (or ``(loss, aux)``).
    val_loss_fn: ``val_loss_fn(params) -> scalar``, e.g. a closure over validation data.
    optimizer: an optimizer factory, e.g. `jopt.sgd` or `jopt.adamw`.
    fixed: the other arguments of `optimizer` (not differentiated).
    has_aux: whether `loss_fn` returns ``(loss, aux)``.
    checkpoint: rematerialise each training step in the backward pass.

  Returns:
    ``f(log_hyperparams, params, batches) -> (val_loss, grads)``: `log_hyperparams`
    maps argument names of `optimizer` (e.g. ``"learning_rate"``,
    ``"weight_decay"``) to scalar logs; `grads` has the same keys.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> loss = lambda p, b: 0.5 * jnp.sum((p - b) ** 2)
    >>> f = jopt.meta_gradient(loss, lambda p: 0.5 * jnp.sum(p ** 2), jopt.sgd)
    >>> val, g = f({"learning_rate": jnp.log(0.1)}, jnp.ones(1), jnp.zeros((3, 1)))
    >>> round(float(val), 4)  # 0.5 * 0.9 ** 6
    0.2657
  """
  fn = "meta_gradient"
  fixed = dict(fixed or {})
  if not callable(optimizer):
    raise ValueError(f"{fn}: `optimizer` must be an optimizer factory such as jopt.sgd, got {optimizer!r}.")
  _check_eps_root(fn, optimizer, fixed)
  names = set(inspect.signature(optimizer).parameters)

  def unrolled(log_hp, params, batches):
    hp = {k: jnp.exp(v) for k, v in log_hp.items()}
    tx = optimizer(**fixed, **hp)
    body = step_lib.train_step_body(loss_fn, tx, has_aux=has_aux)

    def one_step(state, batch):
      return body(state, batch)[0], None

    if checkpoint:
      one_step = jax.checkpoint(one_step)
    state, _ = jax.lax.scan(one_step, state_lib.init_train_state(params, tx), batches)
    return val_loss_fn(state.params)

  value_and_grad = jax.jit(jax.value_and_grad(unrolled))

  def f(log_hyperparams, params, batches):
    unknown = sorted(set(log_hyperparams) - names)
    if unknown or not log_hyperparams:
      raise ValueError(
          f"{fn}: `log_hyperparams` must name arguments of "
          f"{getattr(optimizer, '__name__', optimizer)!s}, got {sorted(log_hyperparams)}."
      )
    clash = sorted(set(log_hyperparams) & set(fixed))
    if clash:
      raise ValueError(f"{fn}: {clash} are both differentiated and in `fixed`.")
    log_hp = {k: jnp.asarray(v, jnp.float32) for k, v in log_hyperparams.items()}
    return value_and_grad(log_hp, params, batches)

  return f


class MetaTuneResult(NamedTuple):
  """What `meta_tune` returns: one entry per meta step (one unrolled training run each)."""

  hyperparams: list[dict[str, float]]  # the values each run trained with.
  val_loss: list[float]  # the validation loss after each run.
  best: dict[str, float]  # the hyperparameters of the lowest validation loss.
  best_val_loss: float


@checks.public
def meta_tune(
    loss_fn: step_lib.LossFn,
    val_loss_fn: Callable[[base.Params], jax.Array],
    optimizer: Callable[..., base.GradientTransformation],
    init_hyperparams: Mapping[str, float],
    params: base.Params,
    batches: Any,
    *,
    num_steps: int = 10,
    meta_optimizer: Optional[base.GradientTransformation] = None,
    fixed: Optional[Mapping[str, Any]] = None,
    has_aux: bool = False,
    checkpoint: bool = True,
) -> MetaTuneResult:
  """Tunes positive hyperparameters by gradient steps on their logs, each step one unrolled training run.

  .. math::
    \\ell_{j+1} = \\ell_j + \\mathrm{meta\\_optimizer}(\\partial L_{val}(\\theta_T(e^{\\ell_j})) / \\partial \\ell_j)

  with the meta-gradient of `meta_gradient`. A step whose validation loss or
  meta-gradient is not finite (a diverged run) is recorded and followed by a
  step halfway back towards the best point so far instead of a gradient step
  (every log-hyperparameter minus 1 if no run has been finite yet).

  Maclaurin, Duvenaud & Adams, 2015, "Gradient-based Hyperparameter
  Optimization through Reversible Learning" (https://arxiv.org/abs/1502.03492).

  Args:
    loss_fn: the training loss, ``loss_fn(params, batch)``.
    val_loss_fn: ``val_loss_fn(params) -> scalar``.
    optimizer: an optimizer factory, e.g. `jopt.adamw`.
    init_hyperparams: name -> initial positive value, e.g.
      ``{"learning_rate": 1e-3, "weight_decay": 1e-4}``.
    params: the initial parameters of every run.
    batches: the T training batches (leading axis T), the same every run.
    num_steps: the number of meta steps (= training runs), >= 1.
    meta_optimizer: the transform applied to the log-space meta-gradient
      (default: `jopt.adam(0.3)`, i.e. steps of about 0.3 in log space).
    fixed: the other arguments of `optimizer`.
    has_aux: whether `loss_fn` returns ``(loss, aux)``.
    checkpoint: rematerialise each training step in the backward pass.

  Returns:
    A `MetaTuneResult`.
  """
  fn = "meta_tune"
  checks.check_int(fn, "num_steps", num_steps, 1)
  for name, value in init_hyperparams.items():
    if not (isinstance(value, (int, float, np.number)) and math.isfinite(value) and value > 0):
      raise ValueError(
          f"{fn}: `init_hyperparams[{name!r}]` must be a finite number > 0 (it is tuned in log "
          f"space), got {value!r}."
      )
  if meta_optimizer is None:
    meta_optimizer = adam_opt.adam(0.3)
  f = meta_gradient(loss_fn, val_loss_fn, optimizer, fixed=fixed, has_aux=has_aux, checkpoint=checkpoint)
  log_hp = {k: jnp.asarray(math.log(v), jnp.float32) for k, v in init_hyperparams.items()}
  meta_state = meta_optimizer.init(log_hp)
  apply = jax.jit(lambda l, u: jax.tree.map(jnp.add, l, u))
  history, losses = [], []
  best_log, best_index = None, 0
  for j in range(num_steps):
    val, grads = f(log_hp, params, batches)
    val = float(val)
    history.append({k: float(jnp.exp(v)) for k, v in log_hp.items()})
    losses.append(val)
    finite = math.isfinite(val) and all(bool(jnp.isfinite(g)) for g in grads.values())
    if finite and (best_log is None or val < losses[best_index]):
      best_log, best_index = log_hp, j
    if finite:
      updates, meta_state = meta_optimizer.update(grads, meta_state, log_hp)
      log_hp = apply(log_hp, updates)
    elif best_log is not None:
      log_hp = jax.tree.map(lambda a, b: 0.5 * (a + b), log_hp, best_log)
    else:  # diverged from the start: shrink every hyperparameter by e.
      log_hp = jax.tree.map(lambda a: a - 1.0, log_hp)
  return MetaTuneResult(
      hyperparams=history, val_loss=losses, best=history[best_index],
      best_val_loss=losses[best_index],
  )
