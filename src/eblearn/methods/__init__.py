"""Self-supervised methods: backbone + heads + loss + state, one file each, by name."""

from eblearn.methods.base import METHODS, Method, build_method
from eblearn.methods.dae import DAE
from eblearn.methods.mae import MAE
from eblearn.methods.vicreg import VICReg

__all__ = ["DAE", "MAE", "METHODS", "Method", "VICReg", "build_method"]
