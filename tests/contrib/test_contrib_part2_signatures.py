"""Every contrib name of this part has optax's signature (names, kinds, order, defaults) and state fields."""

import inspect

import jax.numpy as jnp
import optax
import optax.contrib._dog
import optax.contrib._sophia
import pytest

import jopt
from jopt._src.contrib import acprop, complex, dog, galore, madgrad, momo, privacy, sam, sophia

# (jopt function, optax function). Names optax keeps out of `optax.contrib`'s
# namespace (scale_by_dog, scale_by_dowg, scale_by_sophia) come from its modules.
FUNCTIONS = [
    (dog.dog, optax.contrib.dog),
    (dog.dowg, optax.contrib.dowg),
    (dog.scale_by_dog, optax.contrib._dog.scale_by_dog),
    (dog.scale_by_dowg, optax.contrib._dog.scale_by_dowg),
    (dog.scale_by_distance_over_gradients, optax.scale_by_distance_over_gradients),
    (sam.sam, optax.contrib.sam),
    (sam.normalize, optax.contrib.normalize),
    (sophia.sophia, optax.contrib.sophia),
    (sophia.scale_by_sophia, optax.contrib._sophia.scale_by_sophia),
    (sophia.hutchinson_estimator_diag_hessian, optax.contrib.hutchinson_estimator_diag_hessian),
    (madgrad.madgrad, optax.contrib.madgrad),
    (madgrad.scale_by_madgrad, optax.contrib.scale_by_madgrad),
    (momo.momo, optax.contrib.momo),
    (momo.momo_adam, optax.contrib.momo_adam),
    (galore.galore, optax.contrib.galore),
    (galore.scale_by_galore, optax.contrib.scale_by_galore),
    (acprop.acprop, optax.contrib.acprop),
    (acprop.scale_by_acprop, optax.contrib.scale_by_acprop),
    (complex.split_real_and_imaginary, optax.contrib.split_real_and_imaginary),
    (privacy.differentially_private_aggregate, optax.contrib.differentially_private_aggregate),
    (privacy.dpsgd, optax.contrib.dpsgd),
    (privacy.per_example_global_norm_clip, optax.per_example_global_norm_clip),
    (jopt.reduce_on_plateau, optax.contrib.reduce_on_plateau),
]

STATES = [
    (dog.DoGState, optax.contrib.DoGState),
    (dog.DoWGState, optax.contrib.DoWGState),
    (dog.ScaleByDistanceOverGradientsState, optax._src.transform.ScaleByDistanceOverGradientsState),
    (sam.SAMState, optax.contrib.SAMState),
    (sophia.SophiaState, optax.contrib.SophiaState),
    (sophia.HutchinsonState, optax.contrib.HutchinsonState),
    (madgrad.MadgradState, optax.contrib.MadgradState),
    (momo.MomoState, optax.contrib.MomoState),
    (momo.MomoAdamState, optax.contrib.MomoAdamState),
    (galore.GaLoreState, optax.contrib.GaLoreState),
    (galore.GaLoreDimensionNumbers, optax.contrib.GaLoreDimensionNumbers),
    (complex.SplitRealAndImaginaryState, optax.contrib.SplitRealAndImaginaryState),
    (privacy.DifferentiallyPrivateAggregateState, optax.contrib.DifferentiallyPrivateAggregateState),
    (jopt.ReduceLROnPlateauState, optax.contrib.ReduceLROnPlateauState),
]


def _default(p):
  # A default transform (Sophia's Hutchinson estimator) is compared by type.
  if hasattr(p.default, "init") and hasattr(p.default, "update"):
    return type(p.default).__name__
  return p.default


@pytest.mark.parametrize("ours,ref", FUNCTIONS, ids=[f[1].__name__ for f in FUNCTIONS])
def test_signature_matches_optax(ours, ref):
  a, b = inspect.signature(ours).parameters, inspect.signature(ref).parameters
  assert [(n, p.kind, _default(p)) for n, p in a.items()] == \
         [(n, p.kind, _default(p)) for n, p in b.items()]
  assert ours.__doc__ and ours.__name__ == ref.__name__


@pytest.mark.parametrize("ours,ref", STATES, ids=[s[1].__name__ for s in STATES])
def test_state_fields_match_optax(ours, ref):
  assert ours.__name__ == ref.__name__
  assert ours._fields == ref._fields
  assert ours._field_defaults == ref._field_defaults


def test_normalize_state_and_acprop_state():
  assert sam.NormalizeState is jopt.EmptyState
  assert type(acprop.scale_by_acprop().init({"w": jnp.ones(2)})) is jopt.ScaleByBeliefState
