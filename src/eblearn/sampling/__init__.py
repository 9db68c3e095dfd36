"""Contrastive samples: hard negatives, Langevin, HMC, (persistent) contrastive divergence,
a generator network."""

from eblearn.sampling.base import Chain, Sampler
from eblearn.sampling.divergence import (
    ContrastiveDivergence,
    PersistentContrastiveDivergence,
    ReplayBuffer,
)
from eblearn.sampling.generator import GeneratorSampler, pull_away_term
from eblearn.sampling.gibbs import BinaryGibbsSampler, BlockGibbsSampler
from eblearn.sampling.hard_negatives import most_offending, most_offending_index
from eblearn.sampling.hmc import HMCSampler
from eblearn.sampling.langevin import LangevinSampler

__all__ = [
    "BinaryGibbsSampler",
    "BlockGibbsSampler",
    "Chain",
    "ContrastiveDivergence",
    "GeneratorSampler",
    "HMCSampler",
    "LangevinSampler",
    "PersistentContrastiveDivergence",
    "ReplayBuffer",
    "Sampler",
    "most_offending",
    "most_offending_index",
    "pull_away_term",
]
