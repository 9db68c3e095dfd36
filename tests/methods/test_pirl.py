"""PIRL: the memory bank's role (memories, negatives, momentum), the jigsaw branch, small
images; the contract test covers the rest."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from eblearn.data import grid_patches
from eblearn.losses import estimate_log_normalizer, pirl_loss
from eblearn.methods import PIRL, build_method
from eblearn.nn import ConvNet


def _method(**kwargs) -> PIRL:
    torch.manual_seed(0)
    settings = {"dim": 8, "patch_dim": 4, "num_negatives": 32} | kwargs
    return PIRL(ConvNet(1, width=4), **settings).eval()


def _views(batch: int = 4, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, 1, 16, 16, generator=g) for _ in range(2)]


def test_first_step_uses_the_batch_then_the_bank_momentum_average():
    method = _method(bank_momentum=0.5)
    method.prepare(10)
    views = _views()
    indices = torch.tensor([0, 1, 2, 3])
    method(views, indices=indices)
    method.on_step_end(0, 1)
    with torch.no_grad():
        first = F.normalize(method.projector(method.encoder(views[0])), dim=1)
    torch.testing.assert_close(method.bank.features[:4], first)
    torch.manual_seed(1)
    new = _views(seed=1)
    method(new, indices=indices)
    method.on_step_end(1, 2)
    with torch.no_grad():
        second = F.normalize(method.projector(method.encoder(new[0])), dim=1)
    torch.testing.assert_close(method.bank.features[:4], F.normalize(first + second, dim=1))


def test_loss_uses_the_bank_memories_and_negatives_of_other_images():
    method = _method(num_negatives=3)
    method.prepare(6)
    bank = F.normalize(torch.randn(6, 8, generator=torch.Generator().manual_seed(3)), dim=1)
    method.bank.update(torch.arange(6), bank)
    views = _views(batch=2)
    indices = torch.tensor([1, 4])
    torch.manual_seed(7)
    out = method(views, indices=indices)
    # replay the same draws: the jigsaw permutation, then the bank's negatives
    torch.manual_seed(7)
    patches = grid_patches(views[1], 3, 4)
    keys = torch.rand(2, 9)
    patches = patches.gather(1, keys.argsort(1).view(2, 9, 1, 1, 1).expand_as(patches))
    allowed = torch.tensor([0, 2, 3, 5])  # filled rows minus the batch's own
    negatives = bank[allowed[torch.randint(4, (3,))]]
    with torch.no_grad():
        image = method.projector(method.encoder(views[0]))
        jig = method.jigsaw_projector(
            method.patch_projector(method.encoder(patches.flatten(0, 1))).view(2, -1)
        )
    log_z = estimate_log_normalizer(image, negatives, population=4, temperature=0.07)
    want = pirl_loss(bank[indices], jig, image, negatives, 0.5, 0.07, 3 / 4, log_z)
    torch.testing.assert_close(out["loss"], want)
    # more negatives asked for than the bank holds: N is capped at M, so N/M = 1
    method.num_negatives = 100
    torch.manual_seed(7)
    capped = method(views, indices=indices)
    torch.manual_seed(7)
    torch.rand(2, 9)
    negatives = bank[allowed[torch.randint(4, (4,))]]
    log_z = estimate_log_normalizer(image, negatives, population=4, temperature=0.07)
    want = pirl_loss(bank[indices], jig, image, negatives, 0.5, 0.07, 1.0, log_z)
    torch.testing.assert_close(capped["loss"], want)


def test_without_indices_the_other_images_of_the_batch_are_the_negatives():
    method = _method()
    views = _views(batch=3)
    torch.manual_seed(2)
    out = method(views)
    assert method._pending is None  # nothing to write without indices
    torch.manual_seed(2)
    patches = grid_patches(views[1], 3, 4)
    keys = torch.rand(3, 9)
    patches = patches.gather(1, keys.argsort(1).view(3, 9, 1, 1, 1).expand_as(patches))
    with torch.no_grad():
        image = method.projector(method.encoder(views[0]))
        jig = method.jigsaw_projector(
            method.patch_projector(method.encoder(patches.flatten(0, 1))).view(3, -1)
        )
    unit = F.normalize(image, dim=1)
    negatives = torch.stack([unit[[j for j in range(3) if j != i]] for i in range(3)])
    log_z = estimate_log_normalizer(image, negatives, population=2, temperature=0.07)
    want = pirl_loss(unit, jig, image, negatives, 0.5, 0.07, 1.0, log_z)
    torch.testing.assert_close(out["loss"], want)


def test_the_jigsaw_branch_is_invariant_only_after_training_not_by_construction():
    # g sees the patch order (a concatenation): shuffling changes the representation, which
    # is what the loss has to learn away
    method = _method()
    cells = grid_patches(_views()[0], 3, 4)
    with torch.no_grad():
        ordered = method.jigsaw_embed(cells)
        reversed_ = method.jigsaw_embed(cells.flip(1))
    assert not torch.allclose(ordered, reversed_)


def test_views_too_small_for_the_grid_are_refused():
    method = build_method("pirl", ConvNet(1, width=4), dim=8, patch_dim=4)
    views = [torch.randn(4, 1, 8, 8), torch.randn(4, 1, 8, 8)]
    with pytest.raises(ValueError, match=r"8×8 images into 2×2 patches.*at least 12 px"):
        method(views)
    with pytest.raises(ValueError, match="num_negatives must be >= 1"):
        PIRL(ConvNet(1, width=4), num_negatives=0)
