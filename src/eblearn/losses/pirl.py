"""PIRL's noise-contrastive loss between a memory-bank entry and a representation.

With the cosine similarity ``s(u, v)`` and ``c = N/M`` (``N`` negatives drawn uniformly from
a memory bank of ``M`` entries, the NCE noise ratio of [1]),

``h(u, v) = P(u, v) / (P(u, v) + c)``, ``P(u, v) = exp(s(u, v)/τ) / Z``, so
``h = σ(s(u, v)/τ - log Z - log c)``,

the probability that ``(u, v)`` is a data pair rather than noise, and [0, eq. 4]

``L_NCE(m_I, v) = -log h(m_I, v) - Σ_{I' ∈ D_N} log(1 - h(v, m_I'))``.

``Z`` normalizes ``exp(s/τ)`` into a probability over the ``M`` bank entries. The paper's
eq. 3 writes ``Z = 1``; with many negatives that makes every ``h`` close to 1 and the loss
grow with ``N``. Instance discrimination [1] estimates ``Z ≈ M · mean exp(s/τ)`` by Monte
Carlo over the negatives (:func:`estimate_log_normalizer`); the PIRL method does so at every
step (detached), so that a random negative has ``h ≈ 1/(1 + N)``.

PIRL's loss [0, eq. 5] mixes the jigsaw branch and the image branch:

``L = λ L_NCE(m_I, g(v_{I^t})) + (1 - λ) L_NCE(m_I, f(v_I))``,

with ``m_I`` the bank's entry for image ``I``, ``f(v_I)`` the image's representation and
``g(v_{I^t})`` the representation of its shuffled patches. In energy terms ``-s/τ`` is the
pair energy; the loss pushes down the energy of the image with its own memory and pushes up
its energy with the other images' memories (an infinite margin: the logistic never
saturates).

[0] Misra & van der Maaten, Self-Supervised Learning of Pretext-Invariant Representations,
    CVPR 2020, https://arxiv.org/abs/1912.01991
[1] Wu, Xiong, Yu, Lin, Unsupervised Feature Learning via Non-Parametric Instance
    Discrimination, CVPR 2018, https://arxiv.org/abs/1805.01978
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eblearn._validate import check_ndim, check_positive, check_same_shape
from eblearn.losses._float32 import float32_loss


def _check_negatives(negatives: Tensor, batch: int, dim: int) -> Tensor:
    """``negatives`` as ``(B, N, D)``: a shared ``(N, D)`` set is broadcast to every sample."""
    if negatives.ndim == 2:
        negatives = negatives.unsqueeze(0).expand(batch, *negatives.shape)
    if negatives.ndim != 3 or negatives.shape[0] != batch or negatives.shape[2] != dim:
        raise ValueError(
            f"negatives must have shape (N, D={dim}) or (B={batch}, N, D={dim}), "
            f"got {tuple(negatives.shape)}"
        )
    if negatives.shape[1] < 1:
        raise ValueError("PIRL's NCE loss needs at least one negative")
    return negatives


@float32_loss
def pirl_nce(
    memory: Tensor,
    representation: Tensor,
    negatives: Tensor,
    temperature: float = 0.07,
    noise_ratio: float = 1.0,
    log_normalizer: float | Tensor = 0.0,
) -> Tensor:
    """``mean_b L_NCE(m_b, v_b)`` (see the module docstring), a scalar.

    Args:
        memory: ``m_I``, the bank's entries for the batch, ``(B, D)``.
        representation: ``v``, ``(B, D)``.
        negatives: ``m_I'``, ``(N, D)`` shared by the batch or ``(B, N, D)`` per sample.
        temperature: ``τ`` (paper: 0.07).
        noise_ratio: ``c = N/M``.
        log_normalizer: ``log Z`` (0: the paper's eq. 3 as written).

    Raises:
        ValueError: On mismatched shapes, no negative, or ``τ, c <= 0``.

    Example:
        >>> import torch
        >>> u = torch.tensor([[1.0, 0.0]])
        >>> # s = 1 for the pair and 0 for the one negative; c = 1, τ = 1
        >>> loss = pirl_nce(u, u, torch.tensor([[0.0, 1.0]]), temperature=1.0)
        >>> expected = -math.log(math.e / (math.e + 1)) - math.log(1 - 1 / 2)
        >>> round(float(loss), 5) == round(expected, 5)
        True
    """
    check_ndim(memory, 2, "memory", "(B, D)")
    check_same_shape(memory, representation, "memory", "representation")
    check_positive(temperature, "temperature")
    check_positive(noise_ratio, "noise_ratio")
    negatives = _check_negatives(negatives, *memory.shape)
    unit = F.normalize(representation, dim=1)  # (B, D)
    positive_logit = (F.normalize(memory, dim=1) * unit).sum(1) / temperature  # (B,)
    negative_logit = (F.normalize(negatives, dim=2) @ unit.unsqueeze(2)).squeeze(2)  # (B, N)
    log_c = math.log(noise_ratio) + log_normalizer
    # log h = log σ(s/τ - log Z - log c); log(1 - h) = log σ(-(s/τ - log Z - log c))
    per_sample = -F.logsigmoid(positive_logit - log_c) - F.logsigmoid(
        log_c - negative_logit / temperature
    ).sum(1)
    return per_sample.mean()


@torch.no_grad()
def estimate_log_normalizer(
    representation: Tensor, negatives: Tensor, population: int, temperature: float = 0.07
) -> Tensor:
    """``log Z = log M + log mean_{b,n} exp(s(v_b, m_n)/τ)``, detached: the Monte-Carlo
    estimate of ``Z = Σ_{i=1..M} exp(s(v, m_i)/τ)`` from the drawn negatives [1].

    Args:
        representation: ``v`` ``(B, D)``.
        negatives: ``(N, D)`` or ``(B, N, D)``.
        population: ``M``, the number of entries the negatives were drawn from.
        temperature: ``τ``.

    Example:
        >>> v = torch.tensor([[1.0, 0.0]])
        >>> round(float(estimate_log_normalizer(v, torch.tensor([[0.0, 1.0]]), 10, 1.0)), 4)
        2.3026
    """
    check_positive(temperature, "temperature")
    if population < 1:
        raise ValueError(f"population M must be >= 1, got {population}")
    negatives = _check_negatives(negatives.float(), *representation.shape)
    unit = F.normalize(representation.float(), dim=1)
    logits = (F.normalize(negatives, dim=2) @ unit.unsqueeze(2)).flatten() / temperature
    return math.log(population) + torch.logsumexp(logits, 0) - math.log(len(logits))


def pirl_loss(
    memory: Tensor,
    jigsaw_representation: Tensor,
    image_representation: Tensor,
    negatives: Tensor,
    weight: float = 0.5,
    temperature: float = 0.07,
    noise_ratio: float = 1.0,
    log_normalizer: float | Tensor = 0.0,
) -> Tensor:
    """``λ L_NCE(m_I, g(v_{I^t})) + (1 - λ) L_NCE(m_I, f(v_I))``; see :class:`PIRLLoss`."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"the jigsaw weight λ must lie in [0, 1], got {weight}")
    settings = (temperature, noise_ratio, log_normalizer)
    jigsaw_term = pirl_nce(memory, jigsaw_representation, negatives, *settings)
    image_term = pirl_nce(memory, image_representation, negatives, *settings)
    return weight * jigsaw_term + (1 - weight) * image_term


class PIRLLoss(nn.Module):
    """PIRL's loss as a module (formulas in the module docstring).

    Args:
        weight: ``λ``, the weight of the jigsaw term (paper: 0.5).
        temperature: ``τ`` (paper: 0.07).

    Shapes:
        ``memory``, ``jigsaw_representation``, ``image_representation`` ``(B, D)``;
        ``negatives`` ``(N, D)`` or ``(B, N, D)``; ``noise_ratio`` the float ``N/M``;
        ``log_normalizer`` ``log Z``.

    Example:
        >>> import torch
        >>> z = torch.nn.functional.normalize(torch.randn(4, 8), dim=1)
        >>> PIRLLoss()(z, z, z, torch.randn(16, 8), noise_ratio=16 / 100).shape
        torch.Size([])
    """

    def __init__(self, weight: float = 0.5, temperature: float = 0.07) -> None:
        super().__init__()
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"the jigsaw weight λ must lie in [0, 1], got {weight}")
        check_positive(temperature, "temperature")
        self.weight, self.temperature = weight, temperature

    def forward(
        self,
        memory: Tensor,
        jigsaw_representation: Tensor,
        image_representation: Tensor,
        negatives: Tensor,
        noise_ratio: float = 1.0,
        log_normalizer: float | Tensor = 0.0,
    ) -> Tensor:
        return pirl_loss(
            memory,
            jigsaw_representation,
            image_representation,
            negatives,
            self.weight,
            self.temperature,
            noise_ratio,
            log_normalizer,
        )
