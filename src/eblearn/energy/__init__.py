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
from eblearn.energy.inference import (
    DiscreteEnergy,
    Inference,
    beam_search,
    chain_energy,
    chain_free_energy,
    geometric_temperatures,
    infer_descent,
    infer_enumerate,
    simulated_annealing,
    viterbi,
)
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
    "DiscreteEnergy",
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
    "beam_search",
    "chain_energy",
    "chain_free_energy",
    "energy_and_grad",
    "free_energy",
    "geometric_temperatures",
    "infer_descent",
    "infer_enumerate",
    "infer_latent",
    "latent_energies",
    "mlp",
    "simulated_annealing",
    "soft_minimum",
    "viterbi",
]
