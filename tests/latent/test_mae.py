import pytest
import torch

from eblearn.latent import (
    MaskedAutoencoder,
    VisionTransformer,
    patchify,
    random_masking,
    unpatchify,
)
from eblearn.latent.mae import visible_count
from eblearn.latent.vit import sincos_position_codes


def _small_mae(mask_ratio=0.75):
    vit = VisionTransformer(in_channels=1, patch_size=4, dim=16, depth=1, heads=2)
    return MaskedAutoencoder(vit, mask_ratio, decoder_dim=8, decoder_depth=1, decoder_heads=2)


def test_patchify_against_a_loop_and_unpatchify_inverts_it():
    images = torch.randn(2, 3, 8, 12)
    patches = patchify(images, 4)
    assert patches.shape == (2, 6, 48)
    for b in range(2):
        for i in range(2):
            for j in range(3):
                block = images[b, :, 4 * i : 4 * i + 4, 4 * j : 4 * j + 4]
                torch.testing.assert_close(patches[b, 3 * i + j], block.reshape(-1))
    torch.testing.assert_close(unpatchify(patches, 4, 3, 8, 12), images)


@pytest.mark.parametrize(("ratio", "hidden"), [(0.75, 12), (0.5, 8), (0.3, 5), (0.9, 15)])
def test_the_mask_ratio_is_respected_in_every_image(ratio, hidden):
    visible, mask = random_masking(64, 16, ratio, generator=torch.Generator().manual_seed(0))
    assert mask.sum(1).tolist() == [hidden] * 64
    assert visible.shape == (64, 16 - hidden)
    for row in range(64):  # the visible indices are exactly the unmasked patches, once each
        assert sorted(visible[row].tolist()) == (~mask[row]).nonzero().flatten().tolist()
    assert len({tuple(m.tolist()) for m in mask}) > 1  # masks differ between images
    out = _small_mae(ratio)(torch.randn(4, 1, 16, 16))
    assert out.mask.sum(1).tolist() == [hidden] * 4


def test_the_loss_is_the_error_on_hidden_patches_only_against_a_loop():
    model = _small_mae()
    images = torch.randn(3, 1, 16, 16)
    with torch.no_grad():
        out = model(images, generator=torch.Generator().manual_seed(0))
    total, count = 0.0, 0
    for b in range(3):
        for i in range(16):
            if out.mask[b, i]:
                total += float((out.prediction[b, i] - out.target[b, i]).pow(2).mean())
                count += 1
    assert float(out.loss) == pytest.approx(total / count, rel=1e-5)


@torch.no_grad()
def test_predictions_do_not_depend_on_the_hidden_pixels():
    model = _small_mae().eval()
    images = torch.randn(2, 1, 16, 16)
    first = model(images, generator=torch.Generator().manual_seed(3))
    patches = patchify(images, 4)
    patches[first.mask] = 100.0  # change every hidden pixel
    changed = unpatchify(patches, 4, 1, 16, 16)
    second = model(changed, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(second.mask, first.mask)
    torch.testing.assert_close(second.prediction, first.prediction)
    assert float(second.loss) > float(first.loss)  # only the targets changed


def test_norm_pix_loss_normalizes_each_target_patch():
    vit = VisionTransformer(in_channels=1, patch_size=4, dim=16, depth=1, heads=2)
    model = MaskedAutoencoder(vit, decoder_dim=8, decoder_depth=1, norm_pix_loss=True)
    target = model(torch.rand(2, 1, 8, 8) * 5 + 3).target
    torch.testing.assert_close(target.mean(-1), torch.zeros(2, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(target.std(-1), torch.ones(2, 4), atol=1e-3, rtol=0)


def test_training_lowers_the_reconstruction_error(digits_t):
    images = torch.nn.functional.interpolate(digits_t[:256].float().view(-1, 1, 8, 8), size=16)
    model = _small_mae(0.5)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(25):
        loss = model(images[:64], generator=generator).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) < 0.5 * sum(losses[:5])


def test_position_codes_and_the_vit_backbone():
    codes = sincos_position_codes(2, 3, 8)
    assert codes.shape == (6, 8)
    torch.testing.assert_close(codes[0], torch.tensor([0.0, 0, 1, 1, 0, 0, 1, 1]))
    assert len({tuple(c.tolist()) for c in codes}) == 6
    vit = VisionTransformer(in_channels=3, patch_size=4, dim=16, depth=1, heads=2)
    assert vit(torch.randn(2, 3, 8, 8)).shape == vit(torch.randn(2, 3, 16, 24)).shape == (2, 16)


def test_errors_are_clear():
    with pytest.raises(ValueError, match=r"mask_ratio must lie in \(0, 1\)"):
        visible_count(16, 1.0)
    with pytest.raises(ValueError, match="leaves 0 of 4 patches visible"):
        visible_count(4, 0.9)
    with pytest.raises(ValueError, match="must be multiples of the patch size 4"):
        patchify(torch.zeros(1, 1, 10, 8), 4)
    with pytest.raises(ValueError, match="multiple of 4"):
        VisionTransformer(1, dim=30, heads=2)
