"""Losses: the contrastive-loss table, group losses and one file per joint-embedding loss."""

from eblearn.losses.barlow_twins import (
    BarlowTwinsLoss,
    barlow_twins_loss,
    cross_correlation,
    standardize,
)
from eblearn.losses.byol import BYOLLoss, negative_cosine_similarity, normalized_squared_error
from eblearn.losses.contrastive_pairs import (
    DrLIMLoss,
    drlim_square_exponential,
    drlim_square_square,
    pair_distance,
)
from eblearn.losses.deepcluster import DeepClusterLoss, cluster_prediction_loss
from eblearn.losses.ntxent import MoCoLoss, NTXentLoss, moco_loss, nt_xent_loss
from eblearn.losses.simsiam import SimSiamLoss
from eblearn.losses.swav import SwAVLoss, sinkhorn, swapped_prediction_loss
from eblearn.losses.vicreg import (
    VICRegLoss,
    covariance_loss,
    invariance_loss,
    variance_loss,
    vicreg_loss,
)

__all__ = [
    "BYOLLoss",
    "BarlowTwinsLoss",
    "DeepClusterLoss",
    "DrLIMLoss",
    "MoCoLoss",
    "NTXentLoss",
    "SimSiamLoss",
    "SwAVLoss",
    "VICRegLoss",
    "barlow_twins_loss",
    "cluster_prediction_loss",
    "covariance_loss",
    "cross_correlation",
    "drlim_square_exponential",
    "drlim_square_square",
    "invariance_loss",
    "moco_loss",
    "negative_cosine_similarity",
    "normalized_squared_error",
    "nt_xent_loss",
    "pair_distance",
    "sinkhorn",
    "standardize",
    "swapped_prediction_loss",
    "variance_loss",
    "vicreg_loss",
]
