"""n-gram baselines against dictionary counts; masked-token scores against a direct loop."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from eblearn.evaluate.masked_tokens import (
    held_out_draw,
    masked_token_score,
    ngram_score,
    score_log_probs,
)
from eblearn.evaluate.ngram import NgramModel
from eblearn.methods import MaskedLanguageModel
from eblearn.nn import TokenTransformer


def _naive(train: list[int], order: int, k: float, V: int, context: tuple[int, ...], v: int):
    pairs = Counter(tuple(train[i - order + 1 : i + 1]) for i in range(order - 1, len(train)))
    contexts = Counter(tuple(train[i - order + 1 : i]) for i in range(order - 1, len(train)))
    return (pairs[(*context, v)] + k) / (contexts[context] + k * V)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_ngram_probabilities_equal_smoothed_counts(order):
    V, k = 5, 0.5
    train = torch.randint(0, V, (200,), generator=torch.Generator().manual_seed(order)).tolist()
    test = torch.randint(0, V, (12,), generator=torch.Generator().manual_seed(9)).tolist()
    model = NgramModel(V, order, k).fit(torch.tensor(train))
    lp = model.log_probs(torch.tensor(train), torch.tensor(test))
    assert lp.shape == (12, V)
    torch.testing.assert_close(lp.exp().sum(1), torch.ones(12))
    stream = train + test
    for i in range(12):
        at = len(train) + i
        context = tuple(stream[at - order + 1 : at])
        for v in range(V):
            expected = _naive(train, order, k, V, context, v)
            assert math.isclose(math.exp(float(lp[i, v])), expected, rel_tol=1e-5)


def test_ngram_errors():
    with pytest.raises(ValueError, match="fit the n-gram"):
        NgramModel(3).log_probs(torch.tensor([0, 1]), torch.tensor([1]))
    with pytest.raises(ValueError, match="k > 0"):
        NgramModel(3, 2, 0.0).fit(torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"0\.\.2"):
        NgramModel(3, 2).fit(torch.tensor([0, 5]))


def test_score_is_accuracy_and_mean_negative_log_likelihood():
    lp = torch.log(torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.3, 0.3, 0.4]]))
    s = score_log_probs("t", lp, torch.tensor([0, 1, 2]))
    assert s.accuracy == pytest.approx(2 / 3) and s.positions == 3
    assert s.nats == pytest.approx(-(math.log(0.7) + math.log(0.3) + math.log(0.4)) / 3, rel=1e-6)


def test_masked_token_score_equals_the_energy_on_the_same_draw():
    torch.manual_seed(0)
    method = MaskedLanguageModel(TokenTransformer(9, 6, dim=16, depth=1, heads=2))
    windows = torch.randint(3, 9, (7, 6))
    score = masked_token_score(method, windows, seed=3, batch_size=3)
    selected = held_out_draw(windows, 9, seed=3)
    assert score.positions == int(selected.sum())
    from eblearn.data.masking import apply_token_mask, draw_token_mask

    draw = draw_token_mask(windows, 9, generator=torch.Generator().manual_seed(3))
    method.eval()
    with torch.no_grad():
        energy = method.token_energy(windows, apply_token_mask(windows, draw), draw.selected)
    assert score.nats == pytest.approx(float(energy.sum()) / score.positions, rel=1e-5)


def test_ngram_score_reads_the_positions_in_text_order():
    V = 4
    train = torch.tensor([0, 1, 2, 3] * 30)
    windows = torch.tensor([[0, 1, 2, 3], [0, 1, 2, 3]])
    model = NgramModel(V, 2, 0.01).fit(train)
    selected = torch.ones_like(windows, dtype=torch.bool)
    s = ngram_score(model, train, windows, selected, "bigram")
    assert s.accuracy == 1.0 and s.nats < 0.01  # a cycle is predictable from one character
    unigram = ngram_score(NgramModel(V, 1, 0.01).fit(train), train, windows, selected, "u")
    assert unigram.nats == pytest.approx(math.log(4), rel=1e-3)
