"""Muon: momentum orthogonalized by Newton-Schulz iterations, with AdamW for the non-matrix params."""

import math
from typing import Any, Callable, Literal, NamedTuple, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np

from jopt._src import base
from jopt._src import checks
from jopt._src import numerics
from jopt._src import combine
from jopt._src.optimizers import adaptive as adaptive_lib
from jopt._src.transforms import masking
from jopt._src.transforms import regularization
from jopt._src.transforms import scaling

_PRECONDITIONINGS = ("frobenius", "spectral", "aol", "schatten")
# Keller Jordan's quintic: the steepest slope at 0 that still keeps singular
# values within roughly [0.7, 1.2] after 5 steps.
_DEFAULT_NS_COEFFS = (3.4445, -4.7750, 2.0315)
# One (a, b, c) per step, from Dion (Ahn et al., 2025).
_DION_NS_COEFFS = (
    (4.0848, -6.8946, 2.9270),
    (3.9505, -6.3029, 2.6377),
    (3.7418, -5.5913, 2.3037),
    (2.8769, -3.1427, 1.2046),
    (2.8366, -3.0525, 1.2012),
)
_NS_COEFFS_PRESETS = {"standard": _DEFAULT_NS_COEFFS, "dion": _DION_NS_COEFFS}
# Floor of the Gram-matrix norms in the AOL and Schatten first steps (fixed;
# `eps` is not used there, as in optax).
_GRAM_FLOOR = 1e-8


class MuonDimensionNumbers(NamedTuple):
  """Which axes of a weight form the matrix that Muon orthogonalizes.

  For `y = x @ W` the reduction (input) axis is 0 and the output axis is 1, the
  default. Every axis named in neither is a batch axis: each slice along the
  batch axes is orthogonalized on its own (e.g. the heads of an attention
  kernel). Negative axes count from the end.
  """

  reduction_axis: Sequence[int] | int = 0
  output_axis: Sequence[int] | int = 1


WeightDimNumOrFn = Union[MuonDimensionNumbers, base.Params, Callable[[base.Params], Any]]


def _is_dims_leaf(x: Any) -> bool:
  return x is None or isinstance(x, MuonDimensionNumbers)


def _normalize_axes(x: jax.Array, dims: MuonDimensionNumbers) -> tuple[tuple[int, ...], tuple[int, ...]]:
  def axes(a):
    return tuple(ax % x.ndim for ax in ((a,) if isinstance(a, int) else a))

  return axes(dims.reduction_axis), axes(dims.output_axis)


def _matrix_view(x: jax.Array, dims: MuonDimensionNumbers) -> tuple[Callable, Callable]:
  """Functions mapping `x` to a stack `(batch, fan_in, fan_out)` of matrices and back."""
  if x.ndim < 2:
    raise ValueError(f"Muon optimizes params of rank >= 2, got shape {x.shape}.")
  reduction, output = _normalize_axes(x, dims)
  if set(reduction) & set(output):
    raise ValueError(
        f"MuonDimensionNumbers: the reduction axes {reduction} and output axes {output} "
        f"of a param of shape {x.shape} overlap (from {dims})."
    )
  batch = tuple(sorted(set(range(x.ndim)) - set(reduction) - set(output)))
  perm = batch + reduction + output
  inverse = tuple(int(i) for i in np.argsort(perm))
  sizes = lambda axes: tuple(x.shape[a] for a in axes)
  stacked = (math.prod(sizes(batch)), math.prod(sizes(reduction)), math.prod(sizes(output)))
  permuted = sizes(batch) + sizes(reduction) + sizes(output)
  to_matrices = lambda y: y.transpose(perm).reshape(stacked)
  from_matrices = lambda y: y.reshape(permuted).transpose(inverse)
  return to_matrices, from_matrices


def _fans(x: jax.Array, dims: MuonDimensionNumbers) -> tuple[int, int]:
  reduction, output = _normalize_axes(x, dims)
  return math.prod(x.shape[a] for a in reduction), math.prod(x.shape[a] for a in output)


def _ns_step_with_gram(x: jax.Array, gram: jax.Array, c: jax.Array) -> jax.Array:
  # The quintic p(X) = a X + b (X X^H) X + c (X X^H)^2 X, with A = X X^H given.
  return c[0] * x + (c[1] * gram + c[2] * gram @ gram) @ x


def _ns_step(x: jax.Array, c: jax.Array) -> jax.Array:
  return _ns_step_with_gram(x, x @ x.T.conj(), c)


def _aol_ns_step(x: jax.Array, c: jax.Array) -> jax.Array:
  # "Almost orthogonal layer" rescaling: row i divided by sqrt(sum_j |A_ij|),
  # which bounds the spectral norm by 1 at the cost of one Gram matrix.
  gram = x @ x.T.conj()
  s = jax.lax.rsqrt(jnp.clip(jnp.abs(gram).sum(axis=-1), min=_GRAM_FLOOR))[:, None]
  return _ns_step_with_gram(x * s, gram * s * s.T, c)


def _schatten_ns_step(x: jax.Array, c: jax.Array) -> jax.Array:
  # Schatten-4 rescaling: X / ||X X^T||_F^(1/2) = X / ||X||_S4.
  gram = x @ x.T
  s = jax.lax.rsqrt(jnp.clip(jnp.linalg.norm(gram, ord="fro"), min=_GRAM_FLOOR))
  return _ns_step_with_gram(x * s, gram * s**2, c)


_FIRST_STEPS = {"frobenius": _ns_step, "spectral": _ns_step, "aol": _aol_ns_step,
                "schatten": _schatten_ns_step}


def _orthogonalize_matrix(
    x: jax.Array, coeffs: jax.Array, ns_steps: int, preconditioning: str, eps: Any
) -> jax.Array:
  # p(X^T) = p(X)^T: iterate on the wide orientation, where X X^H is smaller.
  transposed = x.shape[0] > x.shape[1]
  if transposed:
    x = x.T
  if preconditioning == "frobenius":
    x = x / (jnp.linalg.norm(x, ord="fro") + eps)
  elif preconditioning == "spectral":
    x = x / (jnp.linalg.norm(x, ord=2) + eps)
  coeffs = coeffs.astype(x.dtype)
  steps = [coeffs] * ns_steps if coeffs.ndim == 1 else [coeffs[i] for i in range(coeffs.shape[0])]
  for i, c in enumerate(steps):
    x = _FIRST_STEPS[preconditioning](x, c) if i == 0 else _ns_step(x, c)
  return x.T if transposed else x


def _check_preconditioning(fn: str, preconditioning: Any) -> None:
  if preconditioning not in _PRECONDITIONINGS:
    raise ValueError(
        f"{checks._name(fn)}: `preconditioning` must be one of {list(_PRECONDITIONINGS)}, "
        f"got {preconditioning!r}."
    )


def _check_coeffs_shape(fn: str, coeffs: jax.Array) -> None:
  if coeffs.ndim not in (1, 2) or coeffs.shape[-1] != 3:
    raise ValueError(
        f"{checks._name(fn)}: `ns_coeffs` must have shape (3,) or (n, 3) (one (a, b, c) per step), "
        f"got shape {coeffs.shape}."
    )


def orthogonalize_via_newton_schulz(
    x: jax.Array,
    ns_coeffs: jax.Array,
    ns_steps: jax.typing.ArrayLike = 5,
    preconditioning: Literal["frobenius", "spectral", "aol", "schatten"] = "frobenius",
    eps: jax.typing.ArrayLike = 1e-8,
    dimension_numbers: MuonDimensionNumbers | None = None,
) -> jax.Array:
  r"""Approximately orthogonalizes `x` (`U S V^T -> U S' V^T`, `S'` near 1) by Newton-Schulz.

  After rescaling `X` so its singular values are at most about 1 (by the
  Frobenius or spectral norm, or inside the first step for `aol` and
  `schatten`), each step applies the odd quintic

  .. math::
    X \leftarrow a X + b (X X^H) X + c (X X^H)^2 X,

  which pushes every singular value towards 1. The default coefficients
  maximize the slope at 0, so singular values end near, not at, 1.

  Args:
    x: a matrix, or an array with `dimension_numbers` saying which axes form
      the matrix (the others are batch axes, each slice orthogonalized alone).
    ns_coeffs: `(a, b, c)` for every step (shape (3,)) or one row per step
      (shape (n, 3); then `ns_steps` is ignored).
    ns_steps: the number of steps with shape-(3,) coefficients.
    preconditioning: `frobenius`, `spectral`, `aol` or `schatten`.
    eps: added to the Frobenius or spectral norm before dividing.
    dimension_numbers: required for arrays of rank other than 2.

  Returns:
    An array of `x`'s shape.
  """
  fn = "orthogonalize_via_newton_schulz"
  if x.ndim != 2 and not isinstance(dimension_numbers, MuonDimensionNumbers):
    raise ValueError(
        f"{fn}: `x` must be a matrix or `dimension_numbers` must be given, got shape "
        f"{x.shape} and dimension_numbers={dimension_numbers!r}."
    )
  if x.ndim == 2:
    dimension_numbers = MuonDimensionNumbers()
  _check_coeffs_shape(fn, ns_coeffs)
  _check_preconditioning(fn, preconditioning)
  to_matrices, from_matrices = _matrix_view(x, dimension_numbers)
  orthogonalize = lambda m: _orthogonalize_matrix(m, ns_coeffs, ns_steps, preconditioning, eps)
  return from_matrices(jax.vmap(orthogonalize)(to_matrices(x)))


def _map_with_dims(fn: Callable, dims: Any, tree: Any) -> Any:
  """`fn(leaf, dims_of_leaf)` over `tree`; `dims` is a prefix of it (MuonDimensionNumbers or None leaves)."""
  if callable(dims) and not isinstance(dims, MuonDimensionNumbers):
    # Only shapes matter, so the updates stand in for the params.
    dims = dims(tree)
  return jax.tree.map(
      lambda d, sub: jax.tree.map(lambda x: fn(x, d), sub), dims, tree, is_leaf=_is_dims_leaf
  )


class MuonState(NamedTuple):
  """State of `scale_by_muon`."""

  count: jax.Array  # shape=(), dtype=int32.
  mu: base.Updates  # momentum, like params (mu_dtype or the param's).
  ns_coeffs: jax.Array  # shape=(3,) or (n, 3): the Newton-Schulz coefficients.


@checks.public
def scale_by_muon(
    ns_coeffs: Union[
        tuple[jax.typing.ArrayLike, jax.typing.ArrayLike, jax.typing.ArrayLike],
        tuple[tuple[jax.typing.ArrayLike, jax.typing.ArrayLike, jax.typing.ArrayLike], ...],
    ] = _DEFAULT_NS_COEFFS,
    ns_steps: jax.typing.ArrayLike = 5,
    beta: jax.typing.ArrayLike = 0.95,
    eps: jax.typing.ArrayLike = 1e-8,
    mu_dtype: Optional[jax.typing.DTypeLike] = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: Literal["frobenius", "spectral", "aol", "schatten"] = "frobenius",
    weight_dimension_numbers: WeightDimNumOrFn | None = None,
) -> base.GradientTransformation:
  r"""Rescales updates to the orthogonalized, bias-corrected momentum (Muon's direction).

  .. math::
    m_t = \beta m_{t-1} + (1-\beta) g_t, \quad \hat m_t = m_t / (1-\beta^t), \quad
    u_t = \mathrm{NS}(\hat m_t) \approx U V^T \text{ for } \hat m_t = U S V^T,

  with `nesterov` (default) :math:`\hat m_t = \beta m_t/(1-\beta^{t+1}) +
  (1-\beta) g_t/(1-\beta^t)`, and `adaptive` scaling :math:`u_t` by the dual
  norm :math:`\langle \hat m_t, u_t \rangle`. This is steepest descent under
  the spectral norm; `NS` is :func:`orthogonalize_via_newton_schulz`.

  Jordan, 2024, "Muon" (https://kellerjordan.github.io/posts/muon/);
  Bernstein & Newhouse, 2024, "Old Optimizer, New Norm: An Anthology"
  (https://arxiv.org/abs/2409.20325).

  Args:
    ns_coeffs: `(a, b, c)` for every step, or a tuple of one `(a, b, c)` per
      step (at most `ns_steps` rows; all are used).
    ns_steps: the number of Newton-Schulz steps (a non-negative integer).
    beta: momentum decay, in [0, 1).
    eps: added to the norm that rescales the momentum before the steps.
    mu_dtype: dtype of the momentum (default: the param's).
    nesterov: use Nesterov momentum.
    adaptive: scale each update by `<m_hat, NS(m_hat)>`.
    preconditioning: the rescaling before (or in) the first step: `frobenius`,
      `spectral`, `aol` or `schatten`.
    weight_dimension_numbers: a `MuonDimensionNumbers`, a tree (or prefix) of
      them, or a function of the params returning one; `None` (at the root or
      a leaf) means the leaf is a matrix `(fan_in, fan_out)`. Differs from
      optax, which accepts `None` or a single dimension-number value only for a
      single-array params tree.

  Returns:
    A `GradientTransformation` with state `MuonState`. Updates keep each
    param's dtype.
  """
  fn = "scale_by_muon"
  checks.check_decay(fn, "beta", beta)
  checks.check_nonnegative(fn, "eps", eps)
  _check_preconditioning(fn, preconditioning)
  checks.check_bool(fn, "nesterov", nesterov)
  checks.check_bool(fn, "adaptive", adaptive)
  ns_steps = checks.check_int(fn, "ns_steps", ns_steps, 0)
  coeffs = np.asarray(ns_coeffs, dtype=np.float32)
  _check_coeffs_shape(fn, coeffs)
  if coeffs.ndim == 2 and coeffs.shape[0] > ns_steps:
    raise ValueError(
        f"{checks._name(fn)}: `ns_coeffs` has {coeffs.shape[0]} rows (one per step), more than "
        f"ns_steps={ns_steps}; pass ns_steps >= {coeffs.shape[0]}."
    )
  mu_dtype = numerics.canonicalize_dtype(mu_dtype)

  def init_fn(params):
    return MuonState(
        count=numerics.init_count(),
        mu=numerics.zeros_like(params, dtype=mu_dtype),
        ns_coeffs=jnp.asarray(ns_coeffs),
    )

  def update_fn(updates, state, params=None):
    del params
    checks.check_same_structure(fn, updates, state.mu, shapes=True)
    mu = numerics.update_moment(updates, state.mu, beta, 1)
    count = numerics.safe_increment(state.count)
    if nesterov:
      mu_hat = numerics.tree_map(
          lambda m, g: beta * m + (1 - beta) * g,
          numerics.bias_correction(mu, beta, numerics.safe_increment(count)),
          numerics.bias_correction(updates, beta, count),
      )
    else:
      mu_hat = numerics.bias_correction(mu, beta, count)

    def orthogonalize(m, dims):
      return orthogonalize_via_newton_schulz(
          m, state.ns_coeffs, ns_steps, preconditioning, eps,
          MuonDimensionNumbers() if dims is None else dims,
      )

    directions = _map_with_dims(orthogonalize, weight_dimension_numbers, mu_hat)
    if adaptive:
      directions = jax.tree.map(lambda m, o: jnp.sum(m.conj() * o) * o, mu_hat, directions)
    new_updates = numerics.cast_like(directions, updates)
    mu = numerics.cast(mu, mu_dtype) if mu_dtype else numerics.cast_like(mu, state.mu)
    return new_updates, MuonState(count=count, mu=mu, ns_coeffs=state.ns_coeffs)

  return base.declare_fusion(
      base.GradientTransformation(init_fn, update_fn),
      "per_leaf", "scale_by_muon",
      why="the orthogonalization of each matrix")


@checks.public
def scale_by_shape(
    weight_dimension_numbers: WeightDimNumOrFn | None = None,
    consistent_rms: jax.typing.ArrayLike | None = None,
) -> base.GradientTransformation:
  r"""Scales each matrix update by a factor of its shape, so one learning rate fits every width.

  .. math::
    u \leftarrow \sqrt{\max(1, n_{out} / n_{in})}\, u
    \quad\text{or, with `consistent_rms` } \rho,\quad
    u \leftarrow \rho \sqrt{\max(n_{in}, n_{out})}\, u.

  The second makes the update's RMS about :math:`\rho` whatever the shape (0.2
  matches AdamW's; Liu et al., 2025, "Muon is Scalable for LLM Training",
  https://arxiv.org/abs/2502.16982).

  Args:
    weight_dimension_numbers: as in :func:`scale_by_muon` (`None`: matrices).
    consistent_rms: the target RMS, or None for the width rule.

  Returns:
    A stateless `GradientTransformation`.
  """
  checks.check_finite("scale_by_shape", "consistent_rms", consistent_rms)

  def scale_leaf(u, dims):
    fan_in, fan_out = _fans(u, MuonDimensionNumbers() if dims is None else dims)
    if consistent_rms is None:
      factor = jnp.sqrt(jnp.maximum(1, fan_out / fan_in))
    else:
      factor = jnp.sqrt(jnp.maximum(fan_in, fan_out)) * consistent_rms
    return (factor * u).astype(u.dtype)

  def update_fn(updates, state, params=None):
    del params
    return _map_with_dims(scale_leaf, weight_dimension_numbers, updates), state

  return base.declare_fusion(
      base.GradientTransformation(base.init_empty_state, update_fn),
      "per_leaf", "scale_by_shape",
      why="a factor from each leaf's shape")


def _resolve_ns_coeffs(ns_coeffs: Any) -> Any:
  if isinstance(ns_coeffs, str):
    if ns_coeffs not in _NS_COEFFS_PRESETS:
      raise ValueError(
          f"muon: `ns_coeffs` preset must be one of {sorted(_NS_COEFFS_PRESETS)}, got {ns_coeffs!r}."
      )
    return _NS_COEFFS_PRESETS[ns_coeffs]
  return ns_coeffs


@checks.public
def muon(
    learning_rate: base.ScalarOrSchedule,
    ns_coeffs: Union[
        tuple[jax.typing.ArrayLike, jax.typing.ArrayLike, jax.typing.ArrayLike],
        tuple[tuple[jax.typing.ArrayLike, jax.typing.ArrayLike, jax.typing.ArrayLike], ...],
        str,
    ] = _DEFAULT_NS_COEFFS,
    ns_steps: jax.typing.ArrayLike = 5,
    beta: jax.typing.ArrayLike = 0.95,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 0.0,
    weight_decay_mask: Optional[Union[Any, Callable[[base.Params], Any]]] = None,
    mu_dtype: Optional[jax.typing.DTypeLike] = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: Literal["frobenius", "spectral", "aol", "schatten"] = "frobenius",
    adam_b1: jax.typing.ArrayLike = 0.9,
    adam_b2: jax.typing.ArrayLike = 0.999,
    adam_eps_root: jax.typing.ArrayLike = 0.0,
    adam_weight_decay: jax.typing.ArrayLike = 0.0,
    adam_learning_rate: base.ScalarOrSchedule | None = None,
    muon_weight_dimension_numbers: WeightDimNumOrFn | None = None,
    consistent_rms: jax.typing.ArrayLike | None = None,
) -> base.GradientTransformation:
  r"""Muon (MomentUm Orthogonalized by Newton-Schulz) for matrices, AdamW for the rest.

  Matrix params (by default every 2-D leaf; else those with a
  `MuonDimensionNumbers` in `muon_weight_dimension_numbers`) get

  .. math::
    \theta_t = \theta_{t-1} - \eta_t \left(k\, \mathrm{NS}(\hat m_t) + \lambda \theta_{t-1}\right),

  with :math:`\mathrm{NS}(\hat m_t)` from :func:`scale_by_muon`, the shape
  factor `k` of :func:`scale_by_shape` and `weight_decay` :math:`\lambda`.
  Every other leaf (biases, norms, embeddings given `None`) is trained by
  `adamw(adam_learning_rate or learning_rate, adam_b1, adam_b2, eps,
  adam_eps_root, adam_weight_decay, mu_dtype, nesterov=nesterov)`: NAdamW by
  default, since `nesterov=True`.

  Jordan, 2024, "Muon" (https://kellerjordan.github.io/posts/muon/);
  Bernstein & Newhouse, 2024 (https://arxiv.org/abs/2409.20325);
  Liu et al., 2025 (https://arxiv.org/abs/2502.16982).

  Args:
    learning_rate: a float or a schedule of the step count.
    ns_coeffs: `(a, b, c)`, one row per step, or a preset: `"standard"`
      (the default coefficients) or `"dion"` (5 rows).
    ns_steps: the number of Newton-Schulz steps.
    beta: momentum decay, in [0, 1).
    eps: added to the momentum's norm before the steps; also Adam's `eps`.
    weight_decay: decoupled weight decay of the Muon params (times the learning rate).
    weight_decay_mask: which Muon params to decay: a tree of bools or a function.
    mu_dtype: dtype of the momentum (Muon's and Adam's).
    nesterov: Nesterov momentum for Muon and Adam.
    adaptive: scale Muon's updates by `<m_hat, NS(m_hat)>`.
    preconditioning: `frobenius`, `spectral`, `aol` or `schatten`.
    adam_b1: Adam's first-moment decay.
    adam_b2: Adam's second-moment decay.
    adam_eps_root: Adam's `eps_root`.
    adam_weight_decay: Adam's decoupled weight decay.
    adam_learning_rate: Adam's learning rate (default: `learning_rate`).
    muon_weight_dimension_numbers: a tree (or prefix) of `MuonDimensionNumbers`
      with `None` for the Adam params, or a function of the params returning
      one. Default: every 2-D leaf is `MuonDimensionNumbers()`.
    consistent_rms: target update RMS (e.g. 0.2), or None for the width rule.

  Returns:
    A `GradientTransformationExtraArgs`: `multi_transform` of a Muon chain and
    `adamw`, with state `MultiTransformState(inner_states={"muon": ..., "adam": ...})`.

  Example:
    >>> import jax.numpy as jnp
    >>> from jopt.contrib import muon
    >>> tx = muon(0.02)
    >>> state = tx.init({"w": jnp.ones((4, 3)), "b": jnp.zeros(3)})
  """
  ns_coeffs = _resolve_ns_coeffs(ns_coeffs)
  checks.check_finite("muon", "consistent_rms", consistent_rms)
  if adam_learning_rate is None:
    adam_learning_rate = learning_rate

  def dims_tree(tree):
    if muon_weight_dimension_numbers is None:
      return jax.tree.map(lambda x: MuonDimensionNumbers() if x.ndim == 2 else None, tree)
    return _map_with_dims(lambda _, d: d, muon_weight_dimension_numbers, tree)

  def labels(tree):
    return jax.tree.map(
        lambda d: "adam" if d is None else "muon", dims_tree(tree), is_leaf=_is_dims_leaf
    )

  return masking.multi_transform(
      {
          "muon": combine.chain(
              scale_by_muon(
                  ns_coeffs=ns_coeffs,
                  ns_steps=ns_steps,
                  beta=beta,
                  eps=eps,
                  mu_dtype=mu_dtype,
                  nesterov=nesterov,
                  adaptive=adaptive,
                  preconditioning=preconditioning,
                  weight_dimension_numbers=dims_tree,
              ),
              scale_by_shape(weight_dimension_numbers=dims_tree, consistent_rms=consistent_rms),
              regularization.add_decayed_weights(weight_decay, weight_decay_mask),
              scaling.scale_by_learning_rate(learning_rate),
          ),
          "adam": adaptive_lib.adamw(
              learning_rate=adam_learning_rate,
              b1=adam_b1,
              b2=adam_b2,
              eps=eps,
              eps_root=adam_eps_root,
              weight_decay=adam_weight_decay,
              mu_dtype=mu_dtype,
              nesterov=nesterov,
          ),
      },
      labels,
  )
