"""Spoken-digit protocol: label budgets per cell and speaker, summaries, and the scorers."""

from __future__ import annotations

import pytest
import torch

from eblearn.data.mel import pooled_log_mel
from eblearn.data.speech import load_fsdd, split_by_take, write_synthetic_fsdd
from eblearn.evaluate.linear import LinearProbe
from eblearn.evaluate.speech import (
    AudioClassifier,
    LabelBudget,
    encode_layers,
    encode_recordings,
    evaluate_budgets,
    held_out_speaker_budgets,
    label_budgets,
    pool_frames,
    probe_scorer,
    supervised_scorer,
    takes_per_cell,
)
from eblearn.nn.audio import small_audio_encoder


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    path = write_synthetic_fsdd(tmp_path_factory.mktemp("fsdd") / "f.npz", 3, 8, 4)
    return split_by_take(load_fsdd(path))


def test_takes_per_cell_draws_n_from_every_cell(splits):
    train, _ = splits
    index = takes_per_cell(train, 2, torch.Generator().manual_seed(0))
    cells = (train.labels[index] * 3 + train.speakers[index]).tolist()
    assert sorted(set(cells)) == list(range(12)) and all(cells.count(c) == 2 for c in set(cells))
    assert torch.equal(takes_per_cell(train, None), torch.arange(len(train)))
    assert torch.equal(takes_per_cell(train, 99), torch.arange(len(train)))
    with pytest.raises(ValueError, match="takes per cell must be >= 1"):
        takes_per_cell(train, 0)


def test_label_budgets_and_held_out_speakers(splits):
    train, test = splits
    budgets = label_budgets(train, test, shots=(1, None), repeats=3, seed=0)
    assert [b.setting for b in budgets] == ["1 per cell"] * 3 + ["all per cell"]
    assert [len(b.train_index) for b in budgets] == [12, 12, 12, len(train)]
    assert not torch.equal(budgets[0].train_index, budgets[1].train_index)
    held = held_out_speaker_budgets(train, test)
    assert len(held) == 3
    for s, budget in enumerate(held):
        assert (train.speakers[budget.train_index] != s).all()
        assert (test.speakers[budget.test_index] == s).all() and len(budget.test_index) == 20


def test_evaluate_budgets_summarizes_per_setting():
    budgets = [
        LabelBudget("a", torch.arange(2), torch.arange(1)),
        LabelBudget("a", torch.arange(4), torch.arange(1)),
        LabelBudget("b", torch.arange(5), torch.arange(1)),
    ]
    results = evaluate_budgets(budgets, lambda train, test: len(train) / 10)
    assert [(r.setting, r.labels, r.fits) for r in results] == [("a", 3, 2), ("b", 5, 1)]
    assert results[0].accuracy == pytest.approx(0.3)
    assert results[0].std == pytest.approx(0.1414213, rel=1e-5) and results[1].std == 0.0


def test_log_mel_probe_recognizes_the_generated_digits(splits):
    train, test = splits
    (xa, na), (xb, nb) = train.batch(), test.batch()
    scorer = probe_scorer(
        pooled_log_mel(xa, na, 8000),
        train.labels,
        pooled_log_mel(xb, nb, 8000),
        test.labels,
        probe=lambda: LinearProbe(max_iter=50),
    )
    results = evaluate_budgets(label_budgets(train, test, shots=(1,), repeats=1), scorer)
    assert results[0].accuracy >= 0.9  # four tones an octave apart: easy from one take


def test_encode_recordings_matches_the_encoder_and_restores_its_mode(splits):
    train, _ = splits
    encoder = small_audio_encoder(dim=8, depth=1, heads=2, channels=8).train()
    x, n = train.batch(torch.arange(5))
    features = encode_recordings(encoder, x, n, batch_size=2)
    assert encoder.training
    with torch.no_grad():
        assert torch.allclose(features, encoder.eval()(x, n), atol=1e-6)


def test_supervised_scorer_learns_the_generated_digits(splits):
    train, test = splits
    (xa, na), (xb, nb) = train.batch(length=1600), test.batch(length=1600)

    def build():
        torch.manual_seed(0)
        return AudioClassifier(small_audio_encoder(16, 1, 2, 8, dropout=0.0), 4)

    scorer = supervised_scorer(
        build, xa, na, train.labels, xb, nb, test.labels, steps=30, batch_size=12, lr=3e-3
    )
    assert scorer(torch.arange(len(train)), torch.arange(len(test))) > 0.5  # chance is 0.25


def test_pool_frames_against_a_loop():
    torch.manual_seed(0)
    x, lengths = torch.randn(3, 7, 4), torch.tensor([7, 3, 1])
    pooled = pool_frames(x, lengths, "mean+std")
    for b, n in enumerate(lengths.tolist()):
        rows = x[b, :n]
        mean = rows.mean(0)
        std = ((rows - mean) ** 2).mean(0).sqrt()  # population std over the real frames
        assert torch.allclose(pooled[b], torch.cat([mean, std]), atol=1e-6)
    assert torch.allclose(pool_frames(x, lengths, "mean"), pooled[:, :4])
    with pytest.raises(ValueError, match="valid choices: mean, mean\\+std"):
        pool_frames(x, lengths, "max")


def test_encode_layers_pools_every_layer_and_restores_the_mode(splits):
    train, _ = splits
    encoder = small_audio_encoder(dim=8, depth=2, heads=2, channels=8).train()
    x, n = train.batch(torch.arange(5))
    features = encode_layers(encoder, x, n, "mean+std", batch_size=2)
    assert encoder.training
    assert list(features) == ["frames", "block1", "block2"]
    with torch.no_grad():
        layers = encoder.eval().layers(x, n)
        for name, pooled in features.items():
            assert pooled.shape == (5, 16)
            assert torch.allclose(
                pooled, pool_frames(layers[name], layers["lengths"], "mean+std"), atol=1e-5
            )
        # the last block's mean is what the encoder itself returns
        assert torch.allclose(features["block2"][:, :8], encoder(x, n), atol=1e-5)
    with pytest.raises(ValueError, match="unknown pooling"):
        encode_layers(encoder, x, n, "median")
