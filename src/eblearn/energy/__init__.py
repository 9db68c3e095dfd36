"""Energies ``F(x, y)`` and ``E(x, y, z)``, free energies, inference and the Gibbs distribution."""

from eblearn.energy.analytic import GaussianMixtureEnergy, QuadraticEnergy
from eblearn.energy.base import (
    Energy,
    EnergyFn,
    FunctionEnergy,
    LatentEnergy,
    energy_and_grad,
)
from eblearn.energy.free_energy import (
    Enumerate,
    FreeEnergy,
    GradientDescent,
    MonteCarlo,
    free_energy,
    infer_latent,
    latent_energies,
    soft_minimum,
)
from eblearn.energy.gibbs import GibbsDistribution
from eblearn.energy.inference import Inference, infer_descent, infer_enumerate
from eblearn.energy.models import DecoderLatentEnergy, MLPEnergy, mlp
from eblearn.energy.protocol import (
    EnergyLike,
    HasEnergy,
    HasLatentEnergy,
    ModelEnergy,
    ModelLatentEnergy,
    as_energy,
    as_latent_energy,
)

__all__ = [
    "DecoderLatentEnergy",
    "Energy",
    "EnergyFn",
    "EnergyLike",
    "Enumerate",
    "FreeEnergy",
    "FunctionEnergy",
    "GaussianMixtureEnergy",
    "GibbsDistribution",
    "GradientDescent",
    "HasEnergy",
    "HasLatentEnergy",
    "Inference",
    "LatentEnergy",
    "MLPEnergy",
    "ModelEnergy",
    "ModelLatentEnergy",
    "MonteCarlo",
    "QuadraticEnergy",
    "as_energy",
    "as_latent_energy",
    "energy_and_grad",
    "free_energy",
    "infer_descent",
    "infer_enumerate",
    "infer_latent",
    "latent_energies",
    "mlp",
    "soft_minimum",
]
