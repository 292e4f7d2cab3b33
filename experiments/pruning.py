"""Magnitude pruning as a GradientTransformation with a sparsity schedule, and post-training int8 quantization."""

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

import jopt

Prunable = Callable[[Any, jax.Array], bool]


def kernels_only(path: Any, leaf: Any) -> bool:
  """The default prunable set: leaves with 2 or more dimensions (dense and conv kernels, not biases)."""
  del path
  return jnp.ndim(leaf) >= 2


class MagnitudePruningState(NamedTuple):
  """State of `magnitude_pruning`."""

  count: jax.Array  # shape=(), int32: updates seen.
  masks: Any  # like params, bool: False where a weight is pruned (all True on unprunable leaves).


def polynomial_sparsity(final_sparsity: float, begin_step: int, end_step: int, power: float = 3.0):
  """Zhu & Gupta's sparsity schedule: `s_t = s_f · (1 - (1 - clip((t - t0)/(t1 - t0), 0, 1))^power)`.

  It is `jopt.polynomial_schedule` from 0 to `final_sparsity` (fast pruning early,
  slow near the end). https://arxiv.org/abs/1710.01878
  """
  if not 0.0 <= final_sparsity < 1.0:
    raise ValueError(f"polynomial_sparsity: `final_sparsity` must be in [0, 1), got {final_sparsity}.")
  if end_step <= begin_step:
    raise ValueError(
        f"polynomial_sparsity: `end_step` ({end_step}) must be greater than `begin_step` ({begin_step})."
    )
  return jopt.polynomial_schedule(
      init_value=0.0, end_value=final_sparsity, power=power,
      transition_steps=end_step - begin_step, transition_begin=begin_step,
  )


def _leaf_mask(w: jax.Array, sparsity: jax.Array) -> jax.Array:
  """True for the weights kept: all but the `floor(sparsity · n)` of smallest magnitude (ties pruned together)."""
  mags = jnp.abs(w).reshape(-1)
  k = jnp.floor(sparsity * mags.size).astype(jnp.int32)
  threshold = jnp.sort(mags)[jnp.clip(k - 1, 0, mags.size - 1)]
  return jnp.where(k > 0, jnp.abs(w) > threshold, jnp.ones(w.shape, bool))


def magnitude_pruning(
    sparsity: jopt.ScalarOrSchedule,
    update_every: int = 10,
    prunable: Optional[Prunable] = None,
) -> jopt.GradientTransformation:
  """Zeroes the smallest-magnitude weights so that a `sparsity(t)` fraction of each prunable leaf is exactly 0.

  Chain it after the optimizer. With `p' = p + u` the params the incoming updates
  would give, every `update_every` updates (starting at the first) each prunable
  leaf's mask is recomputed as `|p'| > q_s(|p'|)` (`q_s`: the value below which a
  fraction `s = sparsity(t)` of the magnitudes lie); at every update the output is
  `u' = mask · p' - p`, so after `apply_updates` pruned weights are exactly 0 and
  stay 0 until the next mask update (gradual magnitude pruning, Zhu & Gupta 2017,
  https://arxiv.org/abs/1710.01878).

  Args:
    sparsity: the target fraction of zeros in [0, 1), a float or a schedule of the
      update count (e.g. `polynomial_sparsity(0.9, 0, 1000)`).
    update_every: updates between mask recomputations, >= 1.
    prunable: `prunable(path, leaf) -> bool` selects the leaves to prune
      (default: `kernels_only`, every leaf with ndim >= 2).

  Returns:
    A `GradientTransformation` that needs `params`; state `MagnitudePruningState`.
  """
  if isinstance(update_every, bool) or not isinstance(update_every, int) or update_every < 1:
    raise ValueError(f"magnitude_pruning: `update_every` must be an integer >= 1, got {update_every!r}.")
  if not callable(sparsity) and not 0.0 <= float(sparsity) < 1.0:
    raise ValueError(f"magnitude_pruning: `sparsity` must be in [0, 1), got {sparsity!r}.")
  prunable = kernels_only if prunable is None else prunable

  def init_fn(params):
    masks = jax.tree.map(lambda p: jnp.ones(jnp.shape(p), bool), params)
    return MagnitudePruningState(count=jnp.zeros([], jnp.int32), masks=masks)

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError("magnitude_pruning: `params` are required (pass them to update).")
    if jax.tree.structure(updates) != jax.tree.structure(params):
      raise ValueError(
          "magnitude_pruning: the updates and `params` differ in tree structure: "
          f"{jax.tree.structure(updates)} vs {jax.tree.structure(params)}."
      )
    s = jnp.asarray(sparsity(state.count) if callable(sparsity) else sparsity, jnp.float32)
    refresh = state.count % update_every == 0

    def leaf(path, u, p, m):
      target = p + u
      if prunable(path, p):
        m = jnp.where(refresh, _leaf_mask(target, s), m)
        return (jnp.where(m, target, 0) - p).astype(p.dtype), m
      return u, m

    pairs = jax.tree_util.tree_map_with_path(leaf, updates, params, state.masks)
    outer = jax.tree.structure(updates)
    new_updates, masks = jax.tree.transpose(outer, jax.tree.structure((0, 0)), pairs)
    return new_updates, MagnitudePruningState(count=state.count + 1, masks=masks)

  return jopt.GradientTransformation(init_fn, update_fn)


def sparsity_of(params: Any, prunable: Optional[Prunable] = None) -> float:
  """The fraction of exact zeros over the prunable leaves."""
  prunable = kernels_only if prunable is None else prunable
  zeros = total = 0
  for path, p in jax.tree_util.tree_leaves_with_path(params):
    if prunable(path, p):
      p = np.asarray(p)
      zeros += int(np.sum(p == 0))
      total += p.size
  return zeros / max(total, 1)


def quantize_int8(params: Any, prunable: Optional[Prunable] = None) -> tuple[Any, dict[str, int]]:
  """Post-training symmetric per-tensor int8 quantization of the prunable leaves (others stay float32).

  `q = round(w / s)` clipped to [-127, 127] with `s = max|w| / 127`; returns the
  dequantized params `q · s` (to evaluate) and sizes in bytes: `float32` (dense
  float32), `int8` (int8 values + one float32 scale per tensor; other leaves as float32)
  and `int8_sparse` (the int8 values of nonzero weights + a 1-bit-per-weight mask).
  Zeros stay exactly zero, so pruned sparsity survives quantization.
  """
  prunable = kernels_only if prunable is None else prunable
  sizes = {"float32": 0, "int8": 0, "int8_sparse": 0}

  def leaf(path, w):
    w = np.asarray(w, np.float32)
    sizes["float32"] += 4 * w.size
    if not prunable(path, w):
      sizes["int8"] += 4 * w.size
      sizes["int8_sparse"] += 4 * w.size
      return w
    scale = float(np.max(np.abs(w))) / 127.0 or 1.0
    q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
    sizes["int8"] += q.size + 4
    sizes["int8_sparse"] += int(np.count_nonzero(q)) + (q.size + 7) // 8 + 4
    return q.astype(np.float32) * np.float32(scale)

  return jax.tree_util.tree_map_with_path(leaf, params), sizes
