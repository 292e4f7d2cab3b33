"""jopt.contrib: every public name of `optax.contrib` (jopt's own code, optax's signatures and numbers),
plus research optimizers optax lacks."""

from jopt._src.contrib.acprop import acprop
from jopt._src.contrib.acprop import scale_by_acprop
from jopt._src.contrib.ademamix import ScaleByAdemamixState
from jopt._src.contrib.ademamix import ScaleBySimplifiedAdEMAMixState
from jopt._src.contrib.ademamix import ademamix
from jopt._src.contrib.ademamix import scale_by_ademamix
from jopt._src.contrib.ademamix import scale_by_simplified_ademamix
from jopt._src.contrib.ademamix import simplified_ademamix
from jopt._src.contrib.adopt import adopt
from jopt._src.contrib.adopt import scale_by_adopt
from jopt._src.contrib.cocob import COCOBState
from jopt._src.contrib.cocob import cocob
from jopt._src.contrib.cocob import scale_by_cocob
from jopt._src.contrib.complex import SplitRealAndImaginaryState
from jopt._src.contrib.complex import split_real_and_imaginary
from jopt._src.contrib.dadapt import DAdaptAdamWState
from jopt._src.contrib.dadapt import dadapt_adamw
from jopt._src.contrib.dog import DoGState
from jopt._src.contrib.dog import DoWGState
from jopt._src.contrib.dog import dog
from jopt._src.contrib.dog import dowg
from jopt._src.contrib.dog import scale_by_dog  # extra: in optax.contrib._dog, not in optax.contrib's namespace
from jopt._src.contrib.dog import scale_by_dowg  # extra: same
from jopt._src.contrib.galore import GaLoreDimensionNumbers
from jopt._src.contrib.galore import GaLoreState
from jopt._src.contrib.galore import galore
from jopt._src.contrib.galore import scale_by_galore
from jopt._src.contrib.madgrad import MadgradState
from jopt._src.contrib.madgrad import madgrad
from jopt._src.contrib.madgrad import scale_by_madgrad
from jopt._src.contrib.mechanic import MechanicState
from jopt._src.contrib.mechanic import mechanize
from jopt._src.contrib.momo import MomoAdamState
from jopt._src.contrib.momo import MomoState
from jopt._src.contrib.momo import momo
from jopt._src.contrib.momo import momo_adam
from jopt._src.contrib.muon import MuonDimensionNumbers
from jopt._src.contrib.muon import MuonState
from jopt._src.contrib.muon import muon
from jopt._src.contrib.muon import scale_by_muon
from jopt._src.contrib.privacy import DifferentiallyPrivateAggregateState
from jopt._src.contrib.privacy import differentially_private_aggregate
from jopt._src.contrib.privacy import dpsgd
from jopt._src.contrib.prodigy import ProdigyState
from jopt._src.contrib.prodigy import prodigy
from jopt._src.contrib.sam import NormalizeState
from jopt._src.contrib.sam import SAMState
from jopt._src.contrib.sam import normalize
from jopt._src.contrib.sam import sam
from jopt._src.contrib.schedule_free import ScheduleFreeState
from jopt._src.contrib.schedule_free import schedule_free
from jopt._src.contrib.schedule_free import schedule_free_adamw
from jopt._src.contrib.schedule_free import schedule_free_eval_params
from jopt._src.contrib.schedule_free import schedule_free_sgd
from jopt._src.contrib.sophia import HutchinsonState
from jopt._src.contrib.sophia import SophiaState
from jopt._src.contrib.sophia import hutchinson_estimator_diag_hessian
from jopt._src.contrib.sophia import scale_by_sophia  # extra: in optax.contrib._sophia only
from jopt._src.contrib.sophia import sophia
from jopt._src.wrappers.plateau import ReduceLROnPlateauState
from jopt._src.wrappers.plateau import reduce_on_plateau
# Beyond optax.contrib: research optimizers optax lacks.
from jopt._src.research.kron import ScaleByKronState
from jopt._src.research.kron import kron
from jopt._src.research.kron import precond_update_prob_schedule
from jopt._src.research.kron import scale_by_kron
from jopt._src.research.shampoo import ScaleByShampooState
from jopt._src.research.shampoo import scale_by_shampoo
from jopt._src.research.shampoo import shampoo
from jopt._src.research.soap import ScaleBySoapState
from jopt._src.research.soap import scale_by_soap
from jopt._src.research.soap import soap

__all__ = [
    "COCOBState",
    "DAdaptAdamWState",
    "DifferentiallyPrivateAggregateState",
    "DoGState",
    "DoWGState",
    "GaLoreDimensionNumbers",
    "GaLoreState",
    "HutchinsonState",
    "MadgradState",
    "MechanicState",
    "MomoAdamState",
    "MomoState",
    "MuonDimensionNumbers",
    "MuonState",
    "NormalizeState",
    "ProdigyState",
    "ReduceLROnPlateauState",
    "SAMState",
    "ScaleByAdemamixState",
    "ScaleByKronState",
    "ScaleByShampooState",
    "ScaleBySimplifiedAdEMAMixState",
    "ScaleBySoapState",
    "ScheduleFreeState",
    "SophiaState",
    "SplitRealAndImaginaryState",
    "acprop",
    "ademamix",
    "adopt",
    "cocob",
    "dadapt_adamw",
    "differentially_private_aggregate",
    "dog",
    "dowg",
    "dpsgd",
    "galore",
    "hutchinson_estimator_diag_hessian",
    "kron",
    "madgrad",
    "mechanize",
    "momo",
    "momo_adam",
    "muon",
    "normalize",
    "precond_update_prob_schedule",
    "prodigy",
    "reduce_on_plateau",
    "sam",
    "scale_by_acprop",
    "scale_by_ademamix",
    "scale_by_adopt",
    "scale_by_cocob",
    "scale_by_dog",
    "scale_by_dowg",
    "scale_by_galore",
    "scale_by_kron",
    "scale_by_madgrad",
    "scale_by_muon",
    "scale_by_shampoo",
    "scale_by_simplified_ademamix",
    "scale_by_soap",
    "scale_by_sophia",
    "schedule_free",
    "schedule_free_adamw",
    "schedule_free_eval_params",
    "schedule_free_sgd",
    "shampoo",
    "simplified_ademamix",
    "soap",
    "sophia",
    "split_real_and_imaginary",
]
