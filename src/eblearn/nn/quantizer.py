"""Gumbel-softmax product quantizer: ``G`` codebooks of ``V`` entries, one entry chosen per
codebook, the chosen entries concatenated.

For a frame ``z``, logits ``l = W z`` of shape ``(G, V)``. While training, entry ``v`` of group
``g`` is chosen by the hard Gumbel-softmax: ``y = softmax((l + n) / τ)`` with Gumbel noise
``n = -log(-log u)``, ``u ~ U(0, 1)``; the forward pass uses ``one_hot(argmax y)`` and the
backward pass the gradient of ``y`` (straight-through: ``one_hot - y.detach() + y``). In
evaluation the entry is ``argmax l``. The temperature ``τ`` is annealed from 2 to 0.5 by a
factor 0.999995 per update (:func:`annealed_temperature`).

The codebook perplexity measures how many entries are used: with ``p̄_g`` the softmax of the
logits (without noise) averaged over the frames, ``P = Σ_g exp(-Σ_v p̄_gv log p̄_gv)``, between
``G`` (one entry per group) and ``G·V`` (all equally). wav2vec 2.0's diversity penalty is
``(G·V - P) / (G·V)``.

[0] Baevski, Zhou, Mohamed, Auli, wav2vec 2.0, NeurIPS 2020, https://arxiv.org/abs/2006.11477
    (sections 2 and 3.2)
[1] Jang, Gu, Poole, Categorical Reparameterization with Gumbel-Softmax, ICLR 2017,
    https://arxiv.org/abs/1611.01144
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


def annealed_temperature(
    step: int, start: float = 2.0, end: float = 0.5, decay: float = 0.999995
) -> float:
    """``max(end, start · decay^step)``: the quantizer's temperature after ``step`` updates."""
    return max(end, start * decay**step)


def codebook_perplexity(logits: Tensor) -> Tensor:
    """``Σ_g exp(H(p̄_g))`` with ``p̄_g`` the softmax of ``logits`` ``(N, G, V)`` averaged over N.

    Example:
        >>> float(codebook_perplexity(torch.zeros(5, 2, 4)))  # uniform: G·V
        8.0
    """
    mean_probs = logits.float().softmax(-1).mean(0)  # (G, V)
    entropy = -(mean_probs * torch.log(mean_probs.clamp_min(1e-12))).sum(-1)  # (G,)
    return entropy.exp().sum()


def gumbel_noise(shape: torch.Size, generator: torch.Generator | None = None) -> Tensor:
    """``-log(-log u)``, ``u ~ U(0, 1)`` (clamped away from 0 and 1)."""
    u = torch.rand(shape, generator=generator).clamp(1e-10, 1.0 - 1e-7)
    return -torch.log(-torch.log(u))


def straight_through_gumbel(logits: Tensor, temperature: float, noise: Tensor) -> Tensor:
    """``one_hot(argmax y) - y.detach() + y`` with ``y = softmax((logits + noise) / τ)``."""
    soft = ((logits + noise) / temperature).softmax(-1)
    hard = torch.zeros_like(soft).scatter_(-1, soft.argmax(-1, keepdim=True), 1.0)
    return hard - soft.detach() + soft


@dataclass
class QuantizerOutput:
    """What :class:`GumbelProductQuantizer` returns.

    Attributes:
        codes: Quantized vectors ``(..., code_dim)``.
        indices: Chosen entry per group ``(..., G)``.
        perplexity: Codebook perplexity of the batch (a scalar).
        logits: ``(..., G, V)`` logits.
    """

    codes: Tensor
    indices: Tensor
    perplexity: Tensor
    logits: Tensor


class GumbelProductQuantizer(nn.Module):
    """Product quantization with a straight-through hard Gumbel-softmax (module docstring).

    Args:
        in_dim: Size of the input frames.
        groups: Number of codebooks G.
        entries: Entries per codebook V.
        code_dim: Size of the concatenated code (``G`` entries of ``code_dim // G``).

    Attributes:
        temperature: Current ``τ``; set it with :meth:`set_step`.

    Example:
        >>> quantizer = GumbelProductQuantizer(8, groups=2, entries=4, code_dim=6)
        >>> out = quantizer(torch.randn(3, 5, 8))
        >>> out.codes.shape, out.indices.shape, 2.0 <= out.perplexity.item() <= 8.0
        (torch.Size([3, 5, 6]), torch.Size([3, 5, 2]), True)
    """

    def __init__(
        self,
        in_dim: int,
        groups: int = 2,
        entries: int = 320,
        code_dim: int = 256,
        temperature: tuple[float, float, float] = (2.0, 0.5, 0.999995),
    ) -> None:
        super().__init__()
        if groups < 1 or entries < 1 or code_dim % groups:
            raise ValueError(
                f"need groups >= 1, entries >= 1 and groups dividing code_dim, got "
                f"groups={groups}, entries={entries}, code_dim={code_dim}"
            )
        self.groups, self.entries = groups, entries
        self.schedule = temperature
        self.temperature = temperature[0]
        self.to_logits = nn.Linear(in_dim, groups * entries)
        self.codebook = nn.Parameter(torch.empty(groups, entries, code_dim // groups))
        nn.init.uniform_(self.codebook)
        nn.init.normal_(self.to_logits.weight, std=1.0)
        nn.init.zeros_(self.to_logits.bias)

    @property
    def num_codes(self) -> int:
        """``G · V``."""
        return self.groups * self.entries

    def set_step(self, step: int) -> None:
        """Sets ``τ`` to :func:`annealed_temperature` after ``step`` updates."""
        self.temperature = annealed_temperature(step, *self.schedule)

    def select(self, weights: Tensor) -> Tensor:
        """Codes ``(..., code_dim)`` from selection weights ``(..., G, V)``."""
        chosen = torch.einsum("...gv,gvd->...gd", weights, self.codebook)
        return chosen.flatten(-2)

    def forward(self, z: Tensor, generator: torch.Generator | None = None) -> QuantizerOutput:
        """Quantizes frames ``z`` ``(..., in_dim)``."""
        logits = self.to_logits(z).unflatten(-1, (self.groups, self.entries))  # (..., G, V)
        if self.training:
            noise = gumbel_noise(logits.shape, generator).to(logits)
            weights = straight_through_gumbel(logits, self.temperature, noise)
        else:
            weights = torch.zeros_like(logits).scatter_(-1, logits.argmax(-1, keepdim=True), 1)
        perplexity = codebook_perplexity(logits.reshape(-1, self.groups, self.entries))
        return QuantizerOutput(self.select(weights), weights.argmax(-1), perplexity, logits)
