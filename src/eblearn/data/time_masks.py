"""Span masking over time steps, as wav2vec 2.0 masks its latent speech features.

For each utterance of ``n`` valid steps, ``k = max(min_spans, round(p · n))`` starting indices
are drawn without replacement among the ``n - span + 1`` positions where a whole span fits,
and the ``span`` steps from each start are masked. Spans may overlap, so the masked fraction
is below ``p · span`` (about half of the steps with the paper's ``p = 0.065, M = 10``).

[0] Baevski, Zhou, Mohamed, Auli, wav2vec 2.0: A Framework for Self-Supervised Learning of
    Speech Representations, NeurIPS 2020, https://arxiv.org/abs/2006.11477 (section 3.1)
"""

from __future__ import annotations

import torch
from torch import Tensor


def span_mask(
    lengths: Tensor,
    steps: int,
    p: float = 0.065,
    span: int = 10,
    min_spans: int = 1,
    generator: torch.Generator | None = None,
) -> Tensor:
    """A ``(B, steps)`` bool mask of spans, drawn per utterance (see the module docstring).

    Args:
        lengths: ``(B,)`` valid steps of each utterance (``<= steps``); steps beyond are never
            masked. An utterance shorter than ``span`` gets one span of all its steps.
        steps: Width ``T`` of the mask.
        p: Proportion of valid steps drawn as span starts.
        span: Span length ``M``.
        min_spans: Fewest spans per utterance.
        generator: Random source.

    Raises:
        ValueError: If ``p`` is outside ``[0, 1]``, ``span < 1`` or a length exceeds ``steps``.

    Example:
        >>> mask = span_mask(torch.tensor([20, 8]), 20, p=0.1, span=3)
        >>> mask.shape, mask.sum(1).tolist() <= [6, 3]
        (torch.Size([2, 20]), True)
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p (the proportion of span starts) must lie in [0, 1], got {p}")
    if span < 1:
        raise ValueError(f"span must be >= 1 step, got {span}")
    if bool((lengths > steps).any()) or bool((lengths < 0).any()):
        raise ValueError(f"lengths must lie in [0, {steps}], got {lengths.tolist()}")
    mask = torch.zeros(len(lengths), steps, dtype=torch.bool)
    for b, n in enumerate(lengths.tolist()):
        if n == 0:
            continue
        width = min(span, n)
        positions = n - width + 1
        count = min(positions, max(min_spans, round(p * n)))
        starts = torch.randperm(positions, generator=generator)[:count]
        covered = (starts[:, None] + torch.arange(width)[None, :]).flatten()
        mask[b, covered] = True
    return mask
