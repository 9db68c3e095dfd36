"""Figures: training curves, embedding maps, energy landscapes and the latent models' pictures."""

from eblearn.plot.curves import plot_training_curves
from eblearn.plot.embedding import plot_embedding, project_2d
from eblearn.plot.energy import plot_chains, plot_energy_panels, plot_lab_curves
from eblearn.plot.latent import (
    plot_atoms,
    plot_code_space,
    plot_energy_vs_depth,
    plot_future_samples,
    plot_reconstructions,
)

__all__ = [
    "plot_atoms",
    "plot_chains",
    "plot_code_space",
    "plot_embedding",
    "plot_energy_panels",
    "plot_energy_vs_depth",
    "plot_future_samples",
    "plot_lab_curves",
    "plot_reconstructions",
    "plot_training_curves",
    "project_2d",
]
