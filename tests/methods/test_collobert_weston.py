"""Collobert–Weston: the hinge ranking loss against a hand computation, corruption, neighbors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from eblearn.data.tokenizers import NUM_SPECIAL
from eblearn.methods import METHODS, CollobertWeston
from eblearn.nn import ConvNet, WindowEncoder

V = 15


def _method() -> CollobertWeston:
    torch.manual_seed(0)
    return CollobertWeston(WindowEncoder(V, 5, dim=4, hidden=6))


def test_loss_is_the_mean_hinge_between_true_and_corrupted_scores():
    method = _method()
    windows = torch.randint(NUM_SPECIAL, V, (7, 5), generator=torch.Generator().manual_seed(1))
    torch.manual_seed(3)
    out = method([windows])
    torch.manual_seed(3)
    corrupted = method.corrupt(windows)
    s_true, s_bad = method.score(windows).detach(), method.score(corrupted).detach()
    expected = sum(max(0.0, 1.0 - float(a) + float(b)) for a, b in zip(s_true, s_bad)) / 7
    assert float(out["loss"]) == pytest.approx(expected, rel=1e-5)
    assert float(out["ranking_accuracy"]) == pytest.approx(float((s_true > s_bad).float().mean()))
    torch.testing.assert_close(method.energy(windows), -s_true)


def test_corruption_replaces_only_the_center_word_with_an_ordinary_one():
    method = _method()
    windows = torch.randint(NUM_SPECIAL, V, (200, 5))
    corrupted = method.corrupt(windows, torch.Generator().manual_seed(0))
    keep = [0, 1, 3, 4]
    assert torch.equal(corrupted[:, keep], windows[:, keep])
    assert corrupted[:, 2].min() >= NUM_SPECIAL and corrupted[:, 2].max() < V
    assert (corrupted[:, 2] != windows[:, 2]).float().mean() > 0.8  # 1 - 1/12 expected


def test_word_neighbors_rank_by_cosine_and_skip_the_word_and_specials():
    method = _method()
    with torch.no_grad():
        table = torch.zeros(V, 4)
        table[:, 3] = 1.0  # every word alike on a common axis ...
        table[5] = torch.tensor([1.0, 0.0, 0.0, 0.1])
        table[6] = torch.tensor([0.9, 0.1, 0.0, 0.1])  # nearest to 5
        table[7] = torch.tensor([0.5, 0.5, 0.0, 0.1])  # next
        table[0] = table[5]  # a special token identical to 5 is never a neighbor
        method.encoder.token_embedding.weight.copy_(table)
    assert method.word_neighbors(torch.tensor([5]), k=2).tolist() == [[6, 7]]


def test_registered_for_words_and_refuses_a_backbone_without_vocabulary():
    assert METHODS.get("collobert-weston") is CollobertWeston
    assert CollobertWeston.modality == "tokens" and CollobertWeston.tokenizer_kind == "word"
    with pytest.raises(ValueError, match="vocab_size"):
        CollobertWeston(ConvNet(1, width=4))
    method = CollobertWeston(WindowEncoder(V, 5, dim=4, hidden=6))
    method.encoder.token_embedding = nn.Identity()  # type: ignore[assignment]
    with pytest.raises(ValueError, match="no token_embedding"):
        method.word_neighbors(torch.tensor([4]))
