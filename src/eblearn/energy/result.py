"""The result of inference: candidate answers and their energies, sorted by energy."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Inference:
    """Candidate answers and their energies, sorted by increasing energy per sample.

    Attributes:
        y: Answers, shape ``(B, S, ...)``.
        energy: Their energies, shape ``(B, S)``.
    """

    y: Tensor
    energy: Tensor

    @property
    def best(self) -> Tensor:
        """``y̌``, the lowest-energy answer of each sample, shape ``(B, ...)``."""
        return self.y[:, 0]

    def distinct(self, tol: float = 1e-2, max_gap: float = math.inf) -> list[Tensor]:
        """The different low-energy answers of each sample.

        Goes through the answers in order of energy and keeps one unless it lies within
        ``tol`` (Euclidean distance) of an answer already kept, or its energy exceeds the
        best by more than ``max_gap``.

        Args:
            tol: Distance under which two answers are the same.
            max_gap: Largest energy above the best that still counts as a solution.

        Returns:
            One tensor of shape ``(M_b, ...)`` per sample, lowest energy first.
        """
        if not tol >= 0:
            raise ValueError(f"tol must be >= 0, got {tol}")
        out = []
        for answers, energies in zip(self.y, self.energy):
            kept: list[Tensor] = []
            for answer, value in zip(answers, energies):
                if value - energies[0] > max_gap:
                    break
                if all(torch.dist(answer, other) > tol for other in kept):
                    kept.append(answer)
            out.append(torch.stack(kept))
        return out


def sort_by_energy(y: Tensor, energies: Tensor) -> Inference:
    """:class:`Inference` of answers ``y`` (B, S, ...) sorted by their energies (B, S)."""
    order = energies.argsort(dim=1)
    index = order.view(*order.shape, *([1] * (y.ndim - 2))).expand_as(y)
    return Inference(y.gather(1, index), energies.gather(1, order))
