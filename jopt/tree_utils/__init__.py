"""Pytree utilities (optax.tree_utils): arithmetic, norms, moments, casting, random trees, optimizer-state access."""

from jopt._src.tree_utils.arithmetic import tree_add
from jopt._src.tree_utils.arithmetic import tree_add_scale
from jopt._src.tree_utils.arithmetic import tree_batch_shape
from jopt._src.tree_utils.arithmetic import tree_clip
from jopt._src.tree_utils.arithmetic import tree_conj
from jopt._src.tree_utils.arithmetic import tree_div
from jopt._src.tree_utils.arithmetic import tree_mul
from jopt._src.tree_utils.arithmetic import tree_real
from jopt._src.tree_utils.arithmetic import tree_scale
from jopt._src.tree_utils.arithmetic import tree_sub
from jopt._src.tree_utils.arithmetic import tree_where
from jopt._src.tree_utils.casting import tree_cast
from jopt._src.tree_utils.casting import tree_cast_like
from jopt._src.tree_utils.casting import tree_dtype
from jopt._src.tree_utils.casting import tree_full_like
from jopt._src.tree_utils.casting import tree_ones_like
from jopt._src.tree_utils.casting import tree_zeros_like
from jopt._src.tree_utils.moments import tree_bias_correction
from jopt._src.tree_utils.moments import tree_update_infinity_moment
from jopt._src.tree_utils.moments import tree_update_moment
from jopt._src.tree_utils.moments import tree_update_moment_per_elem_norm
from jopt._src.tree_utils.randomness import tree_random_like
from jopt._src.tree_utils.randomness import tree_split_key_like
from jopt._src.tree_utils.randomness import tree_unwrap_random_key_data
from jopt._src.tree_utils.reductions import tree_allclose
from jopt._src.tree_utils.reductions import tree_l1_norm
from jopt._src.tree_utils.reductions import tree_l2_norm
from jopt._src.tree_utils.reductions import tree_linf_norm
from jopt._src.tree_utils.reductions import tree_max
from jopt._src.tree_utils.reductions import tree_min
from jopt._src.tree_utils.reductions import tree_norm
from jopt._src.tree_utils.reductions import tree_size
from jopt._src.tree_utils.reductions import tree_sum
from jopt._src.tree_utils.reductions import tree_vdot
from jopt._src.tree_utils.state_access import NamedTupleKey
from jopt._src.tree_utils.state_access import tree_get
from jopt._src.tree_utils.state_access import tree_get_all_with_path
from jopt._src.tree_utils.state_access import tree_map_params
from jopt._src.tree_utils.state_access import tree_set

# optax 0.2.8 keeps these old names (with a deprecation warning); jopt keeps them as plain aliases.
tree_add_scalar_mul = tree_add_scale
tree_scalar_mul = tree_scale

__all__ = [
    "NamedTupleKey",
    "tree_add",
    "tree_add_scale",
    "tree_allclose",
    "tree_batch_shape",
    "tree_bias_correction",
    "tree_cast",
    "tree_cast_like",
    "tree_clip",
    "tree_conj",
    "tree_div",
    "tree_dtype",
    "tree_full_like",
    "tree_get",
    "tree_get_all_with_path",
    "tree_map_params",
    "tree_max",
    "tree_min",
    "tree_mul",
    "tree_norm",
    "tree_ones_like",
    "tree_random_like",
    "tree_real",
    "tree_scale",
    "tree_set",
    "tree_size",
    "tree_split_key_like",
    "tree_sub",
    "tree_sum",
    "tree_unwrap_random_key_data",
    "tree_update_infinity_moment",
    "tree_update_moment",
    "tree_update_moment_per_elem_norm",
    "tree_vdot",
    "tree_where",
    "tree_zeros_like",
]
