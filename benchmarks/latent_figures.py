"""Draws the figures of docs/latent.md and measures the CVAE's best-of-K metric.

- ``atoms_digits.png``: 64 atoms learned by sparse coding on 5×5 patches of the digits;
- ``reconstructions.png``: digits test images reconstructed by each autoencoder;
- ``vae_codes.png``: the test digits' codes of a VAE with a 2-D code, colored by class;
- ``cvae_samples.png``: bouncing-ball clips, the deterministic prediction and CVAE samples;
- ``conv_sparse_filters.png``: decoder filters of a convolutional sparse autoencoder trained
  on CIFAR-10 (gray, 16×16 crops), when ``../shared/data`` is there.

The LISTA figure comes from ``bench_lista.py``.

    PYTHONPATH=src python benchmarks/latent_figures.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _patches import cifar_arrays
from _report import ROOT, append_section, library_versions, markdown_table

from eblearn.data import load_dataset
from eblearn.latent import (
    PCA,
    BottleneckAutoencoder,
    ConditionalVAE,
    ConvSparseAutoencoder,
    DenoisingAutoencoder,
    DeterministicPredictor,
    DictionaryLearning,
    MaskedAutoencoder,
    SparseAutoencoder,
    VisionTransformer,
    best_of_k,
    bouncing_balls,
    corrupt,
    fit_model,
    flatten_frames,
    mlp_vae,
    mode_coverage,
    patchify,
    unpatchify,
)
from eblearn.plot import (
    plot_atoms,
    plot_code_space,
    plot_future_samples,
    plot_reconstructions,
)

FIGURES = ROOT / "docs" / "img" / "latent"
SCALE = [1.0]  # --epoch-scale: shortens every training for a smoke test


def epochs(n: int) -> int:
    return max(1, round(n * SCALE[0]))


def digit_atoms(train: torch.Tensor) -> None:
    """Sparse coding on 5×5 patches of the digits: the atoms are strokes and corners."""
    patches = train.view(-1, 1, 8, 8).unfold(2, 5, 1).unfold(3, 5, 1).reshape(-1, 25)
    patches = patches[patches.pow(2).sum(1) > 1.0][:8000]  # skip blank background patches
    learner = DictionaryLearning(64, alpha=0.3, max_iter=30, transform_tol=1e-3, random_state=0)
    learner.fit(patches)
    plot_atoms(
        learner.components_,
        FIGURES / "atoms_digits.png",
        shape=(5, 5),
        title="sparse coding on 5×5 digit patches: 64 atoms",
    )


def masked_autoencoder(
    train: torch.Tensor, test: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Trains an MAE on digits upsampled to 16 px; returns masked inputs and reconstructions."""
    up = F.interpolate(train.view(-1, 1, 8, 8), size=16, mode="nearest")
    vit = VisionTransformer(in_channels=1, patch_size=4, dim=64, depth=2, heads=4)
    model = MaskedAutoencoder(vit, mask_ratio=0.5, decoder_dim=32, decoder_depth=1, decoder_heads=4)
    fit_model(model, model.loss, up, epochs=epochs(150), batch_size=128, lr=2e-3)
    images = F.interpolate(test.view(-1, 1, 8, 8), size=16, mode="nearest")
    with torch.no_grad():
        out = model(images, generator=torch.Generator().manual_seed(0))
    patches = patchify(images, 4).clone()
    shown = patches.masked_fill(out.mask[..., None], 0.0)
    filled = torch.where(out.mask[..., None], out.prediction, patches)

    def back(rows: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(unpatchify(rows, 4, 1, 16, 16), 2).flatten(1)

    return back(shown), back(filled)


def reconstructions(train: torch.Tensor, test: torch.Tensor) -> None:
    """Each autoencoder's reconstructions of the same test digits."""
    torch.manual_seed(0)
    shown = test[:10]
    rows: dict[str, torch.Tensor] = {}
    pca = PCA(8).fit(train)
    rows["PCA, 8 components"] = pca.inverse_transform(pca.transform(shown))
    ae = BottleneckAutoencoder(64, 8, hidden=(128,))
    fit_model(ae, ae.loss, train, epochs=epochs(200), batch_size=64, lr=2e-3)
    sparse = SparseAutoencoder(64, 128, lam=0.1)
    fit_model(sparse, sparse.loss, train, epochs=epochs(200), batch_size=64, lr=2e-3)
    dae = DenoisingAutoencoder(64, 32, hidden=(128,), corruption="mask", level=0.4)
    fit_model(dae, dae.loss, train, epochs=epochs(200), batch_size=64, lr=2e-3)
    vae = mlp_vae(64, code_dim=8, hidden=(256, 128), likelihood="bernoulli")
    fit_model(vae, vae.loss, train, epochs=epochs(200), batch_size=64, lr=1e-3)
    noisy = corrupt(shown, "mask", 0.4, torch.Generator().manual_seed(1))
    masked, filled = masked_autoencoder(train, shown)
    with torch.no_grad():
        rows["autoencoder, 8-d code"] = ae(shown)
        rows["sparse AE, 128 atoms"] = sparse(shown)
        rows["40% pixels dropped"] = noisy
        rows["denoising AE"] = dae(noisy)
        rows["VAE, 8-d code"] = vae.reconstruct(shown)
        rows["50% patches masked"] = masked
        rows["masked AE"] = filled
    plot_reconstructions(
        shown,
        rows,
        FIGURES / "reconstructions.png",
        shape=(8, 8),
        title="digits test images and their reconstructions",
    )


def vae_code_space(train: torch.Tensor, test: torch.Tensor, labels: torch.Tensor) -> None:
    """A VAE with a 2-D code; the test digits' posterior means colored by class."""
    torch.manual_seed(0)
    vae = mlp_vae(64, code_dim=2, hidden=(256, 128))
    fit_model(vae, vae.loss, train, epochs=epochs(300), batch_size=64, lr=1e-3)
    with torch.no_grad():
        means = vae.encode(test)[0]
    plot_code_space(
        means,
        labels,
        FIGURES / "vae_codes.png",
        title="VAE with a 2-D code: posterior means of the test digits",
    )


def cvae(epochs: int) -> list[list[str]]:
    """Trains the CVAE (latent dropout) and the deterministic predictor; draws and measures."""
    train, test = bouncing_balls(6000, seed=0), bouncing_balls(1000, seed=1)
    x, y = flatten_frames(train.context), flatten_frames(train.target)
    x_test, y_test = flatten_frames(test.context), flatten_frames(test.target)
    outcomes = test.outcomes.flatten(2)
    torch.manual_seed(0)
    deterministic = DeterministicPredictor(x.shape[1], y.shape[1], hidden=256)
    fit_model(deterministic, deterministic.loss, (x, y), epochs=epochs, batch_size=128, lr=1e-3)
    model = ConditionalVAE(x.shape[1], y.shape[1], code_dim=4, hidden=256, latent_dropout=0.5)
    fit_model(model, model.loss, (x, y), epochs=epochs, batch_size=128, lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        blur = deterministic(x_test)
        samples = {k: model.sample(x_test, k, generator) for k in (1, 4, 16)}
        at_zero = model.mean_prediction(x_test)
    rows = [
        [
            "deterministic predictor (squared error)",
            *[f"{float(best_of_k(blur[:, None], y_test).mean()):.3f}"] * 3,
            f"{float(mode_coverage(blur[:, None].expand(-1, 4, -1), outcomes)):.2f}",
        ],
        [
            "CVAE with latent dropout, z = 0",
            *[f"{float(best_of_k(at_zero[:, None], y_test).mean()):.3f}"] * 3,
            f"{float(mode_coverage(at_zero[:, None].expand(-1, 4, -1), outcomes)):.2f}",
        ],
        [
            "CVAE with latent dropout, z ~ N(0, I)",
            *[f"{float(best_of_k(samples[k], y_test).mean()):.3f}" for k in (1, 4, 16)],
            f"{float(mode_coverage(samples[4], outcomes)):.2f}",
        ],
    ]
    clips = slice(0, 6)
    plot_future_samples(
        test.context[clips],
        test.target[clips],
        blur[clips].view(-1, 16, 16),
        samples[4][clips].view(6, 4, 16, 16).clamp(0, 1),
        FIGURES / "cvae_samples.png",
        title="the ball bounces left or right: deterministic blur vs CVAE samples",
    )
    return rows


def conv_sparse_filters() -> None:
    """A convolutional sparse autoencoder on gray CIFAR-10 crops (16×16, mean removed)."""
    images = torch.tensor(cifar_arrays("train")[:5000]).float().div(255.0)
    gray = (images @ torch.tensor([0.299, 0.587, 0.114]))[:, None]  # (N, 1, 32, 32)
    crops = gray[:, :, 8:24, 8:24]
    crops = crops - crops.mean((2, 3), keepdim=True)
    crops = crops / crops.std()
    torch.manual_seed(0)
    model = ConvSparseAutoencoder(1, n_filters=16, kernel_size=7, lam=0.05)
    fit_model(model, model.loss, crops, epochs=epochs(15), batch_size=64, lr=3e-3)
    plot_atoms(
        model.filters.detach().transpose(0, 1),
        FIGURES / "conv_sparse_filters.png",
        title="convolutional sparse AE on CIFAR-10: decoder filters",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cvae-epochs", type=int, default=40)
    parser.add_argument("--skip-cifar", action="store_true")
    parser.add_argument("--epoch-scale", type=float, default=1.0)
    parser.add_argument(
        "--parts",
        default="atoms,reconstructions,vae,cvae,conv",
        help="comma-separated figures to draw (default: all)",
    )
    args = parser.parse_args()
    SCALE[0] = args.epoch_scale
    parts = set(args.parts.split(","))
    digits = load_dataset("digits")
    train = digits.train.as_float().flatten(1)  # (1347, 64) in [0, 1]
    test = digits.test.as_float().flatten(1)
    if "atoms" in parts:
        digit_atoms(train)
    if "reconstructions" in parts:
        reconstructions(train, test)
    if "vae" in parts:
        vae_code_space(train, test, digits.test.labels)
    if "conv" in parts and not args.skip_cifar:
        conv_sparse_filters()
    if "cvae" not in parts:
        return
    rows = cvae(args.cvae_epochs)
    table = markdown_table(
        ["predictor", "best of 1", "best of 4", "best of 16", "both bounces among 4"], rows
    )
    body = (
        "Bouncing balls (16×16, 2 past frames; the ball moves 3 px left or right at random), "
        "6,000 training and 1,000 test clips; mean over test clips of the squared distance to "
        "the true next frame of the closest of K predictions (a ball's own squared norm is "
        f"about 3.1), and the fraction of clips whose 4 predictions include both outcomes. "
        f"{args.cvae_epochs} epochs of Adam for each model.\n\n{table}\n"
    )
    append_section(
        "CVAE with latent dropout: best-of-K on an ambiguous future",
        library_versions() + body,
    )


if __name__ == "__main__":
    main()
