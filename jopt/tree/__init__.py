"""Pytree utilities under optax.tree's short names: `jopt.tree.add`, `jopt.tree.norm`, `jopt.tree.get` ..."""

# pylint: disable=redefined-builtin  (max, min, set, sum are the names optax.tree uses)
from jopt._src.tree_utils.arithmetic import tree_add as add
from jopt._src.tree_utils.arithmetic import tree_add_scale as add_scale
from jopt._src.tree_utils.arithmetic import tree_batch_shape as batch_shape
from jopt._src.tree_utils.arithmetic import tree_clip as clip
from jopt._src.tree_utils.arithmetic import tree_conj as conj
from jopt._src.tree_utils.arithmetic import tree_div as div
from jopt._src.tree_utils.arithmetic import tree_mul as mul
from jopt._src.tree_utils.arithmetic import tree_real as real
from jopt._src.tree_utils.arithmetic import tree_scale as scale
from jopt._src.tree_utils.arithmetic import tree_sub as sub
from jopt._src.tree_utils.arithmetic import tree_where as where
from jopt._src.tree_utils.casting import tree_cast as cast
from jopt._src.tree_utils.casting import tree_cast_like as cast_like
from jopt._src.tree_utils.casting import tree_dtype as dtype
from jopt._src.tree_utils.casting import tree_full_like as full_like
from jopt._src.tree_utils.casting import tree_ones_like as ones_like
from jopt._src.tree_utils.casting import tree_zeros_like as zeros_like
from jopt._src.tree_utils.moments import tree_bias_correction as bias_correction
from jopt._src.tree_utils.moments import tree_update_infinity_moment as update_infinity_moment
from jopt._src.tree_utils.moments import tree_update_moment as update_moment
from jopt._src.tree_utils.moments import tree_update_moment_per_elem_norm as update_moment_per_elem_norm
from jopt._src.tree_utils.randomness import tree_random_like as random_like
from jopt._src.tree_utils.randomness import tree_split_key_like as split_key_like
from jopt._src.tree_utils.randomness import tree_unwrap_random_key_data as unwrap_random_key_data
from jopt._src.tree_utils.reductions import tree_allclose as allclose
from jopt._src.tree_utils.reductions import tree_max as max
from jopt._src.tree_utils.reductions import tree_min as min
from jopt._src.tree_utils.reductions import tree_norm as norm
from jopt._src.tree_utils.reductions import tree_size as size
from jopt._src.tree_utils.reductions import tree_sum as sum
from jopt._src.tree_utils.reductions import tree_vdot as vdot
from jopt._src.tree_utils.state_access import tree_get as get
from jopt._src.tree_utils.state_access import tree_get_all_with_path as get_all_with_path
from jopt._src.tree_utils.state_access import tree_map_params as map_params
from jopt._src.tree_utils.state_access import tree_set as set

__all__ = [
    "add",
    "add_scale",
    "allclose",
    "batch_shape",
    "bias_correction",
    "cast",
    "cast_like",
    "clip",
    "conj",
    "div",
    "dtype",
    "full_like",
    "get",
    "get_all_with_path",
    "map_params",
    "max",
    "min",
    "mul",
    "norm",
    "ones_like",
    "random_like",
    "real",
    "scale",
    "set",
    "size",
    "split_key_like",
    "sub",
    "sum",
    "unwrap_random_key_data",
    "update_infinity_moment",
    "update_moment",
    "update_moment_per_elem_norm",
    "vdot",
    "where",
    "zeros_like",
]
