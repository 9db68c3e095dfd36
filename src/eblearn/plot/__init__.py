"""Figures: training curves and embedding maps (more land with the energy and latent issues)."""

from eblearn.plot.curves import plot_training_curves
from eblearn.plot.embedding import plot_embedding, project_2d
from eblearn.plot.energy import plot_chains, plot_energy_panels, plot_lab_curves

__all__ = [
    "plot_chains",
    "plot_embedding",
    "plot_energy_panels",
    "plot_lab_curves",
    "plot_training_curves",
    "project_2d",
]
