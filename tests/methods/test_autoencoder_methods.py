"""The reconstruction methods (``mae``, ``dae``) under the method contract, plus their specifics."""

import io

import pytest
import torch

from eblearn.data import AUGMENTATIONS, MultiViewAugment
from eblearn.latent import VisionTransformer
from eblearn.methods import METHODS, build_method
from eblearn.nn import ConvNet, build_backbone

SMALL = {
    "mae": {"dim": 32, "depth": 1, "heads": 2, "decoder_dim": 16, "decoder_depth": 1},
    "dae": {"decoder_size": 16, "decoder_width": 16},
}


def _views(batch=6, channels=1):
    recipes = AUGMENTATIONS.get("digits")(16, channels)[:1]
    augment = MultiViewAugment(recipes, (0.3,) * channels, (0.3,) * channels)
    return augment(torch.randint(0, 256, (batch, channels, 8, 8), dtype=torch.uint8))


@pytest.mark.parametrize("name", ["mae", "dae"])
@pytest.mark.parametrize("batch", [1, 6])
def test_a_step_reaches_every_parameter_with_finite_outputs(name, batch):
    method = build_method(name, ConvNet(1, width=4), **SMALL[name])
    assert (method.num_views, method.min_batch_size, method.batch_statistics) == (1, 1, False)
    out = method(_views(batch))
    assert {"loss", "reconstruction", "features", "embeddings"} == set(out)
    assert all(bool(torch.isfinite(v).all()) for v in out.values())
    assert out["features"].shape == (batch, method.feature_dim)
    assert not out["features"].requires_grad
    assert not out["embeddings"].requires_grad
    out["loss"].backward()
    missing = [n for n, p in method.named_parameters() if p.grad is None]
    assert not missing


@pytest.mark.parametrize("name", ["mae", "dae"])
def test_state_survives_save_and_load(name):
    method = build_method(name, ConvNet(1, width=4), **SMALL[name])
    buffer = io.BytesIO()
    torch.save(method.state_dict(), buffer)
    buffer.seek(0)
    restored = build_method(name, ConvNet(1, width=4), **SMALL[name])
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    method.eval(), restored.eval()
    views = _views()
    torch.manual_seed(1)
    expected = method(views)
    torch.manual_seed(1)
    actual = restored(views)
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key])


def test_mae_uses_a_vit_backbone_and_replaces_any_other():
    vit = build_backbone("vit", 3, image_size=16)
    assert isinstance(vit, VisionTransformer)
    assert vit.patch_size == 4
    method = build_method("mae", vit, decoder_dim=16, decoder_depth=1)
    assert method.encoder is vit
    other = build_method("mae", ConvNet(3, width=4), **SMALL["mae"])
    assert isinstance(other.encoder, VisionTransformer)
    assert other.encoder.in_channels == 3
    assert other.feature_dim == 32
    assert other([torch.randn(2, 3, 16, 16)])["features"].shape == (2, 32)


def test_dae_reconstructs_at_the_view_size_and_its_loss_is_the_clean_error():
    method = build_method("dae", ConvNet(1, width=4), noise_level=0.0, **SMALL["dae"])
    views = [torch.randn(3, 1, 12, 12)]
    out = method(views)
    reconstruction = method.decoder(method.encoder(views[0]), (12, 12))
    torch.testing.assert_close(out["loss"], (reconstruction - views[0]).pow(2).mean())


def test_methods_are_registered_and_documented():
    assert {"mae", "dae"} <= set(METHODS.names())
    for name in ("mae", "dae"):
        doc = METHODS.get(name).__doc__.lower()
        assert all(word in doc for word in ("energy", "inference", "strategy"))
        assert "arxiv.org" in doc or "doi" in doc


def test_errors_are_clear():
    with pytest.raises(ValueError, match=r"mask_ratio must lie in \(0, 1\)"):
        build_method("mae", ConvNet(1, width=4), mask_ratio=0.0)
    with pytest.raises(ValueError, match="unknown corruption 'salt'"):
        build_method("dae", ConvNet(1, width=4), corruption="salt")
    with pytest.raises(ValueError, match="takes 1 views, got 0"):
        build_method("dae", ConvNet(1, width=4), **SMALL["dae"])([])


def test_train_command_pretrains_mae_on_digits(tmp_path):
    from eblearn.app import pretrain
    from eblearn.train import TrainConfig

    config = TrainConfig(
        method="mae",
        epochs=1,
        batch_size=256,
        method_args=SMALL["mae"],
        run_dir=str(tmp_path / "run"),
        progress_bar=False,
        accelerator="cpu",
    )
    run = pretrain(config)
    assert (tmp_path / "run" / "encoder.pt").is_file()
    assert isinstance(run.method.encoder, VisionTransformer)
