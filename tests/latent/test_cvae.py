import pytest
import torch

from eblearn.latent import (
    ConditionalVAE,
    DeterministicPredictor,
    best_of_k,
    bouncing_balls,
    drop_latent,
    fit_model,
    flatten_frames,
    mode_coverage,
)


def _centroid(frames):
    """Intensity-weighted (row, column) of each frame ``(..., H, W)``."""
    grid = torch.arange(frames.shape[-1], dtype=torch.float32)
    mass = frames.sum((-2, -1))
    rows = (frames.sum(-1) * grid).sum(-1) / mass
    cols = (frames.sum(-2) * grid).sum(-1) / mass
    return rows, cols


def test_the_ball_falls_then_bounces_left_or_right():
    clips = bouncing_balls(400, size=16, speed=2.0, bounce=3.0, seed=0)
    rows, cols = _centroid(clips.context)  # (N, T)
    torch.testing.assert_close(rows[:, 1] - rows[:, 0], torch.full((400,), 2.0), atol=0.1, rtol=0)
    torch.testing.assert_close(cols[:, 1], cols[:, 0], atol=0.1, rtol=0)
    next_rows, next_cols = _centroid(clips.outcomes)  # (N, 2)
    torch.testing.assert_close(next_rows[:, 0], rows[:, 1] + 2.0, atol=0.1, rtol=0)
    torch.testing.assert_close(next_cols[:, 0], cols[:, 1] - 3.0, atol=0.1, rtol=0)
    torch.testing.assert_close(next_cols[:, 1], cols[:, 1] + 3.0, atol=0.1, rtol=0)
    torch.testing.assert_close(clips.target, clips.outcomes[torch.arange(400), clips.branch])
    assert 0.4 < float(clips.branch.float().mean()) < 0.6
    assert float(clips.context.max()) <= 1.0
    assert float(clips.context.min()) >= 0.0


def test_best_of_k_and_mode_coverage_against_loops():
    torch.manual_seed(0)
    predictions, truth = torch.randn(5, 3, 4), torch.randn(5, 4)
    naive = [
        min(float(((predictions[n, k] - truth[n]) ** 2).sum()) for k in range(3)) for n in range(5)
    ]
    torch.testing.assert_close(best_of_k(predictions, truth), torch.tensor(naive))
    outcomes = torch.tensor([[[0.0], [10.0]], [[0.0], [10.0]]])
    both = torch.tensor([[[1.0], [9.0]], [[2.0], [3.0]]])  # the second sample misses a mode
    assert float(mode_coverage(both, outcomes)) == 0.5


def test_latent_dropout_zeroes_whole_codes():
    z = torch.ones(10000, 3)
    dropped, keep = drop_latent(z, 0.5, torch.Generator().manual_seed(0))
    assert float(1 - keep.mean()) == pytest.approx(0.5, abs=0.02)
    torch.testing.assert_close(dropped, z * keep[:, None])  # rows all zero or untouched


def test_samples_cover_both_bounces_where_the_deterministic_predictor_blurs():
    train, test = bouncing_balls(1500, seed=0), bouncing_balls(200, seed=1)
    x, y = flatten_frames(train.context), flatten_frames(train.target)
    x_test, y_test = flatten_frames(test.context), flatten_frames(test.target)
    outcomes = test.outcomes.flatten(2)
    torch.manual_seed(0)
    deterministic = DeterministicPredictor(x.shape[1], y.shape[1], hidden=128)
    fit_model(deterministic, deterministic.loss, (x, y), epochs=12, batch_size=64, lr=2e-3)
    cvae = ConditionalVAE(x.shape[1], y.shape[1], code_dim=4, hidden=128)
    fit_model(cvae, cvae.loss, (x, y), epochs=12, batch_size=64, lr=2e-3)
    with torch.no_grad():
        blur = deterministic(x_test)
        samples = cvae.sample(x_test, n_samples=8, generator=torch.Generator().manual_seed(0))
    average = outcomes.mean(1)
    # The deterministic prediction is the mean of the two futures, not either of them.
    assert float((blur - average).pow(2).sum(1).mean()) < 0.5 * float(
        best_of_k(blur[:, None], y_test).mean()
    )
    assert float(best_of_k(samples, y_test).mean()) < 0.5 * float(
        best_of_k(blur[:, None], y_test).mean()
    )
    assert float(mode_coverage(samples, outcomes)) > 0.8
    assert float(mode_coverage(blur[:, None], outcomes)) == 0.0


def test_errors_are_clear():
    with pytest.raises(ValueError, match="frame cannot hold"):
        bouncing_balls(4, size=8)
    with pytest.raises(ValueError, match=r"latent_dropout must lie in \[0, 1\)"):
        ConditionalVAE(8, 4, latent_dropout=1.0)
    with pytest.raises(ValueError, match="context x must have 8 features, got 6"):
        ConditionalVAE(8, 4).sample(torch.zeros(2, 6))
    with pytest.raises(ValueError, match=r"target y must have shape \(2, 4\)"):
        ConditionalVAE(8, 4).loss(torch.zeros(2, 8), torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"truth must have shape \(2, 3\)"):
        best_of_k(torch.zeros(2, 4, 3), torch.zeros(2, 4))
