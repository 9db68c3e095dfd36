"""Figures: training curves and embedding maps (more land with the energy and latent issues)."""

from eblearn.plot.curves import plot_training_curves
from eblearn.plot.embedding import plot_embedding, project_2d

__all__ = ["plot_embedding", "plot_training_curves", "project_2d"]
