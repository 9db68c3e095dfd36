"""Self-supervised methods: backbone + heads + loss + state, one file each, by name."""

from eblearn.methods.base import METHODS, Method, build_method
from eblearn.methods.vicreg import VICReg

__all__ = ["METHODS", "Method", "VICReg", "build_method"]
