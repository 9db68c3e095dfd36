"""The joint-embedding methods: a step trains every parameter, state round-trips, and each
method's own mechanics (momentum targets, queues, banks, k-means, multi-crop) do what the
papers say."""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F

from eblearn.losses import DeepClusterLoss, DrLIMLoss
from eblearn.methods import METHODS, Method, build_method
from eblearn.nn import ConvNet, cosine_momentum

TINY: dict[str, dict[str, object]] = {
    "siamese": {"projector_dims": (16, 8)},
    "simclr": {"projector_dims": (16, 8)},
    "mocov2": {"projector_dims": (16, 8), "queue_size": 32},
    "mocov3": {"projector_dims": (16, 8), "predictor_dims": (16, 8)},
    "byol": {"projector_dims": (16, 8), "predictor_dims": (16, 8)},
    "simsiam": {"projector_dims": (16, 8), "predictor_hidden": 4},
    "deepclusterv2": {"projector_dims": (16, 8), "num_prototypes": 5},
    "swav": {"projector_dims": (16, 8), "num_prototypes": 5},
    "barlowtwins": {"projector_dims": (16, 16)},
}
MOMENTUM_PARTS = {
    "mocov2": ("momentum_encoder", "momentum_projector"),
    "mocov3": ("momentum_encoder", "momentum_projector"),
    "byol": ("target_encoder", "target_projector"),
}


def build(name: str, **overrides: object) -> Method:
    return build_method(name, ConvNet(1, width=4), **{**TINY[name], **overrides})


def views_for(name: str, batch: int = 8) -> list[torch.Tensor]:
    large = [torch.randn(batch, 1, 16, 16) for _ in range(2)]
    small = [torch.randn(batch, 1, 8, 8) for _ in range(2)] if name == "swav" else []
    return large + small


def test_every_method_of_the_issue_is_registered():
    assert set(TINY) | {"vicreg"} <= set(METHODS.names())


@pytest.mark.parametrize("name", sorted(TINY))
def test_a_step_trains_every_learnable_parameter_and_nothing_frozen(name):
    method = build(name)
    kwargs = {"indices": torch.arange(8)} if method.uses_indices else {}
    out = method(views_for(name), **kwargs)
    assert torch.isfinite(out["loss"])
    assert out["features"].shape == (8, method.feature_dim)
    assert not out["features"].requires_grad
    assert not out["embeddings"].requires_grad
    assert out["embeddings"].shape[0] == 8
    out["loss"].backward()
    for parameter_name, parameter in method.named_parameters():
        if parameter.requires_grad:
            assert parameter.grad is not None, parameter_name
            assert torch.isfinite(parameter.grad).all(), parameter_name
        else:
            assert parameter.grad is None, parameter_name
    for part in MOMENTUM_PARTS.get(name, ()):
        assert all(not p.requires_grad for p in getattr(method, part).parameters())
    method.on_step_end(1, 10)


@pytest.mark.parametrize("name", sorted(TINY))
def test_state_survives_save_and_load(name):
    method = build(name)
    kwargs = {"indices": torch.arange(8)} if method.uses_indices else {}
    method(views_for(name), **kwargs)["loss"].backward()
    method.on_step_end(1, 10)
    method.on_epoch_start(1, 3)
    buffer = io.BytesIO()
    torch.save(method.state_dict(), buffer)
    buffer.seek(0)
    restored = build(name)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    for key, value in method.state_dict().items():
        assert torch.equal(restored.state_dict()[key], value), key
    views = views_for(name)
    torch.manual_seed(1)
    expected = method(views, **kwargs)["loss"]
    torch.manual_seed(1)
    assert torch.equal(restored(views, **kwargs)["loss"], expected)


@pytest.mark.parametrize("name", sorted(MOMENTUM_PARTS))
def test_momentum_targets_follow_the_ema_with_the_documented_schedule(name):
    method = build(name)
    encoder_part, projector_part = MOMENTUM_PARTS[name]
    pairs = [  # (target, online): the encoder and the projector both follow the EMA
        (getattr(method, encoder_part), method.encoder),
        (getattr(method, projector_part), method.projector),
    ]
    before = [[p.clone() for p in target.parameters()] for target, _ in pairs]
    with torch.no_grad():
        for _, online in pairs:
            for p in online.parameters():
                p.add_(1.0)
    method.on_step_end(3, 10)
    m = 0.999 if name == "mocov2" else cosine_momentum(3, 10, base=method.base_momentum)
    for old_params, (target, online) in zip(before, pairs):
        assert len(old_params) == len(list(online.parameters())) > 0
        for old, new, current in zip(old_params, target.parameters(), online.parameters()):
            assert torch.allclose(new, m * old + (1 - m) * current, atol=1e-6)


def test_mocov2_pushes_the_normalized_keys_of_the_second_view():
    method = build("mocov2")
    views = views_for("mocov2")
    method(views)
    with torch.no_grad():
        keys = F.normalize(method.momentum_projector(method.momentum_encoder(views[1])), dim=1)
    method.on_step_end(1, 10)  # the EMA moves the key encoder, the keys were computed before
    assert torch.allclose(method.queue.features[:8], keys, atol=1e-6)
    assert int(method.queue.pointer) == 8


def test_simclr_queue_and_bank_supply_extra_negatives():
    views = views_for("simclr")
    plain = build("simclr")
    queued = build("simclr", memory="queue", memory_size=16)
    queued.load_state_dict(plain.state_dict(), strict=False)
    queued(views)
    queued.on_step_end(1, 10)
    assert int(queued.queue.count) == 8
    assert not torch.allclose(queued(views)["loss"], plain(views)["loss"])

    banked = build("simclr", memory="bank", memory_size=6)
    assert banked.uses_indices
    banked.prepare(20)
    banked(views, indices=torch.arange(8))
    banked.on_step_end(1, 10)
    assert banked.bank.size == 20
    assert banked.bank.filled.sum() == 8
    assert banked._negatives(torch.arange(8)) is None  # all filled rows are the batch's own
    banked(views, indices=torch.arange(8, 16))
    banked.on_step_end(2, 10)
    assert banked._negatives(torch.arange(8)).shape == (6, 8)


def test_swav_prefers_multicrop_uses_its_queue_once_full_and_freezes_prototypes():
    assert METHODS.get("swav").preferred_augmentation(3) == "multicrop"
    method = build("swav", queue_size=8, queue_start_epoch=1)
    views = views_for("swav")
    method(views)
    method.on_step_end(1, 10)
    assert all(queue.full for queue in method.queues)
    assert method._queue_scores() == []  # epoch 0 < queue_start_epoch
    method.on_epoch_start(1, 3)
    scores = method._queue_scores()
    assert len(scores) == 2
    assert scores[0].shape == (8, 5)
    frozen = build("swav", freeze_prototypes_steps=5)
    frozen(views)["loss"].backward()
    assert torch.equal(frozen.prototypes.weight.grad, torch.zeros(5, 8))


def test_deepcluster_targets_are_last_epochs_kmeans_clusters():
    method = build("deepclusterv2")
    method.prepare(16)
    assert method.bank.size == 16
    views = views_for("deepclusterv2")
    for start in (0, 8):
        method(views, indices=torch.arange(start, start + 8))
        method.on_step_end(1, 10)
    assert bool(method.bank.filled.all())
    method.on_epoch_start(1, 3)
    labels = method.bank.labels
    assert int(labels.min()) >= 0
    # the centroids are the prototypes and each sample's label is its nearest centroid
    centroids = F.normalize(method.prototypes.weight, dim=1)
    assert torch.equal(labels, (method.bank.features @ centroids.T).argmax(1))
    indices = torch.arange(4, 12)
    out = method(views, indices=indices)
    with torch.no_grad():
        z = F.normalize(method.projector(method.encoder(torch.cat(views))), dim=1)  # (2B, D)
    scores = list((z @ centroids.T).chunk(2))
    expected = DeepClusterLoss(0.1)(scores, labels[indices])
    assert torch.allclose(out["loss"], expected, atol=1e-5)


def test_siamese_loss_is_the_mean_over_similar_and_dissimilar_pairs():
    method = build("siamese", normalize=False)
    views = views_for("siamese")
    torch.manual_seed(3)
    out = method(views)
    torch.manual_seed(3)
    shift = int(torch.randint(1, 8, ()))
    with torch.no_grad():
        z_a = method.projector(method.encoder(views[0]))
        z_b = method.projector(method.encoder(views[1]))
    loss = DrLIMLoss()
    expected = loss(
        torch.cat([z_a, z_a]), torch.cat([z_b, z_b.roll(shift, 0)]), torch.tensor([1] * 8 + [0] * 8)
    )
    assert torch.allclose(out["loss"], expected, atol=1e-6)
    assert torch.allclose(out["similar"] + out["dissimilar"], out["loss"].detach())


def test_methods_reject_bad_views_and_hyper_parameters():
    with pytest.raises(ValueError, match="SwAV takes 2 views, got 1"):
        build("swav")([torch.randn(8, 1, 16, 16)])
    with pytest.raises(ValueError, match="unknown memory 'ring'; valid choices: none, queue, bank"):
        build("simclr", memory="ring")
    with pytest.raises(ValueError, match="has no hyper-parameter"):
        build("byol", temperature=0.1)
    with pytest.raises(ValueError, match="unknown pair loss"):
        build("siamese", loss="log")
