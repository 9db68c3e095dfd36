"""Self-supervised methods: backbone + heads + loss + state, one file each, by name."""

from eblearn.methods.barlow_twins import BarlowTwins
from eblearn.methods.base import METHODS, Method, build_method
from eblearn.methods.byol import BYOL
from eblearn.methods.collobert_weston import CollobertWeston
from eblearn.methods.dae import DAE
from eblearn.methods.deepcluster import DeepClusterV2, spherical_kmeans
from eblearn.methods.mae import MAE
from eblearn.methods.mlm import MaskedLanguageModel
from eblearn.methods.mocov2 import MoCoV2
from eblearn.methods.mocov3 import MoCoV3
from eblearn.methods.pirl import PIRL
from eblearn.methods.siamese import Siamese
from eblearn.methods.simclr import SimCLR
from eblearn.methods.simsiam import SimSiam
from eblearn.methods.speech import CPC, Wav2Vec2
from eblearn.methods.swav import SwAV
from eblearn.methods.vicreg import VICReg

__all__ = [
    "BYOL",
    "CPC",
    "DAE",
    "MAE",
    "METHODS",
    "PIRL",
    "BarlowTwins",
    "CollobertWeston",
    "DeepClusterV2",
    "MaskedLanguageModel",
    "Method",
    "MoCoV2",
    "MoCoV3",
    "Siamese",
    "SimCLR",
    "SimSiam",
    "SwAV",
    "VICReg",
    "Wav2Vec2",
    "build_method",
    "spherical_kmeans",
]
