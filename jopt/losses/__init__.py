"""Loss functions (optax.losses): classification, regression, ranking, segmentation, self-supervised."""

from jopt._src.losses.binary import hinge_loss
from jopt._src.losses.binary import perceptron_loss
from jopt._src.losses.binary import sigmoid_binary_cross_entropy
from jopt._src.losses.binary import sigmoid_focal_loss
from jopt._src.losses.binary import sparsemax_loss
from jopt._src.losses.cross_entropy import poly_loss_cross_entropy
from jopt._src.losses.cross_entropy import safe_softmax_cross_entropy
from jopt._src.losses.cross_entropy import softmax_cross_entropy
from jopt._src.losses.cross_entropy import softmax_cross_entropy_with_integer_labels
from jopt._src.losses.ctc import ctc_loss
from jopt._src.losses.ctc import ctc_loss_with_forward_probs
from jopt._src.losses.divergences import convex_kl_divergence
from jopt._src.losses.divergences import generalized_kl_divergence
from jopt._src.losses.divergences import kl_divergence
from jopt._src.losses.divergences import kl_divergence_with_log_targets
from jopt._src.losses.fenchel_young import make_fenchel_young_loss
from jopt._src.losses.multiclass import multiclass_hinge_loss
from jopt._src.losses.multiclass import multiclass_perceptron_loss
from jopt._src.losses.multiclass import multiclass_sparsemax_loss
from jopt._src.losses.ranking import ranking_softmax_loss
from jopt._src.losses.regression import cosine_distance
from jopt._src.losses.regression import cosine_similarity
from jopt._src.losses.regression import huber_loss
from jopt._src.losses.regression import l2_loss
from jopt._src.losses.regression import log_cosh
from jopt._src.losses.regression import squared_error
from jopt._src.losses.segmentation import binary_dice_loss
from jopt._src.losses.segmentation import dice_loss
from jopt._src.losses.segmentation import multiclass_generalized_dice_loss
from jopt._src.losses.self_supervised import ntxent
from jopt._src.losses.self_supervised import triplet_margin_loss
from jopt._src.losses.smoothing import smooth_labels

__all__ = [
    "binary_dice_loss",
    "convex_kl_divergence",
    "cosine_distance",
    "cosine_similarity",
    "ctc_loss",
    "ctc_loss_with_forward_probs",
    "dice_loss",
    "generalized_kl_divergence",
    "hinge_loss",
    "huber_loss",
    "kl_divergence",
    "kl_divergence_with_log_targets",
    "l2_loss",
    "log_cosh",
    "make_fenchel_young_loss",
    "multiclass_generalized_dice_loss",
    "multiclass_hinge_loss",
    "multiclass_perceptron_loss",
    "multiclass_sparsemax_loss",
    "ntxent",
    "perceptron_loss",
    "poly_loss_cross_entropy",
    "ranking_softmax_loss",
    "safe_softmax_cross_entropy",
    "sigmoid_binary_cross_entropy",
    "sigmoid_focal_loss",
    "smooth_labels",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
    "sparsemax_loss",
    "squared_error",
    "triplet_margin_loss",
]
