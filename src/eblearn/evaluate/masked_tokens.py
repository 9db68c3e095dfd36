"""Masked-token accuracy and cross-entropy on held-out text, beside n-gram baselines.

One seeded draw of BERT's corruption selects the held-out positions to predict. The masked
language model sees each corrupted window (both sides of every position, 15% of it hidden);
an n-gram model sees the clean ``n - 1`` characters before the position (it is not
corrupted: a baseline with an advantage). Both are scored at exactly the same positions:

- accuracy: the fraction whose most probable token is the true one;
- cross-entropy: ``−(1/M) Σ log p(y_i | ·)``, in nats per token (per character for a
  character tokenizer).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from eblearn.data.masking import apply_token_mask, draw_token_mask
from eblearn.evaluate.ngram import NgramModel
from eblearn.methods.mlm import MaskedLanguageModel

EVAL_SEED = 0
"""Seed of the held-out corruption: every run is scored on the same positions."""


@dataclass(frozen=True)
class TokenScore:
    """Accuracy and cross-entropy (nats per token) at ``positions`` masked tokens."""

    name: str
    accuracy: float
    nats: float
    positions: int

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "name": self.name,
            "accuracy": self.accuracy,
            "nats_per_token": self.nats,
            "positions": self.positions,
        }


def score_log_probs(name: str, log_probs: Tensor, targets: Tensor) -> TokenScore:
    """Scores ``(M, V)`` log-probabilities against ``(M,)`` true tokens.

    Example:
        >>> lp = torch.log(torch.tensor([[0.5, 0.5], [0.9, 0.1]]))
        >>> s = score_log_probs("x", lp, torch.tensor([1, 0]))
        >>> s.accuracy, round(s.nats, 4)
        (0.5, 0.3993)
    """
    nats = F.nll_loss(log_probs.float(), targets)
    accuracy = (log_probs.argmax(1) == targets).float().mean()
    return TokenScore(name, float(accuracy), float(nats), len(targets))


def held_out_draw(windows: Tensor, vocab_size: int, seed: int = EVAL_SEED) -> Tensor:
    """The held-out positions to predict, bool ``(N, T)``, from one seeded draw."""
    return draw_token_mask(
        windows, vocab_size, generator=torch.Generator().manual_seed(seed)
    ).selected


@torch.no_grad()
def masked_token_score(
    method: MaskedLanguageModel,
    windows: Tensor,
    seed: int = EVAL_SEED,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
) -> TokenScore:
    """The masked language model's score on held-out windows ``(N, T)``.

    The corruption is BERT's, drawn once with ``seed`` (the same draw as
    :func:`held_out_draw`), in evaluation mode (no dropout).
    """
    draw = draw_token_mask(
        windows,
        method.vocab_size,
        method.rate,
        method.mask_fraction,
        method.random_fraction,
        generator=torch.Generator().manual_seed(seed),
    )
    corrupted = apply_token_mask(windows, draw)
    was_training = method.training
    method.eval()
    log_probs, targets = [], []
    for start in range(0, len(windows), batch_size):
        part = slice(start, start + batch_size)
        logits = method.logits(corrupted[part].to(device)).float().cpu()  # (b, T, V)
        chosen = draw.selected[part]
        log_probs.append(F.log_softmax(logits[chosen], dim=-1))
        targets.append(windows[part][chosen])
    method.train(was_training)
    return score_log_probs(f"{type(method).__name__}", torch.cat(log_probs), torch.cat(targets))


def ngram_score(
    model: NgramModel, history: Tensor, windows: Tensor, selected: Tensor, name: str
) -> TokenScore:
    """An n-gram model's score at the ``selected`` positions of contiguous windows ``(N, T)``.

    Args:
        model: Fitted on the training ids.
        history: The training ids (their last ``order - 1`` tokens precede the windows).
        windows: The held-out windows, contiguous in the text.
        selected: Bool ``(N, T)``, the positions to score.
    """
    log_probs = model.log_probs(history, windows.flatten())  # (N·T, V)
    chosen = selected.flatten()
    return score_log_probs(name, log_probs[chosen], windows.flatten()[chosen])
