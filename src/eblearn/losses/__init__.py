"""Losses: the contrastive-loss table, group losses and one file per joint-embedding loss."""

from eblearn.losses.vicreg import (
    VICRegLoss,
    covariance_loss,
    invariance_loss,
    variance_loss,
    vicreg_loss,
)

__all__ = ["VICRegLoss", "covariance_loss", "invariance_loss", "variance_loss", "vicreg_loss"]
