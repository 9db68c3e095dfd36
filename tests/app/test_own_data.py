"""Training on one's own data: runs without labels, ``--eval-data`` and ``eval --data``."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from eblearn.app.evaluation import cluster_features
from eblearn.cli import main
from eblearn.data import load_dataset

TINY = ["--batch-size", "64", "--backbone-arg", "width=4", "--no-progress"]
TINY += ["--method-arg", "projector_dims=[32,32]", "--epochs", "1", "--warmup-epochs", "0"]


def _unlabeled_npz(path: Path, n: int = 120) -> Path:
    """The first ``n`` embedded digits as 8×8 gray images, without labels."""
    digits = load_dataset("digits")
    np.savez(path, images=digits.train.images[:n, 0].numpy())
    return path


@pytest.fixture(scope="module")
def unlabeled_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own")
    data = _unlabeled_npz(folder / "mine.npz")
    run = folder / "run"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["train", *TINY, "--data", f"npz:{data}", "--run-dir", str(run)])
    assert code == 0
    return data, run, out.getvalue()


def test_a_run_without_labels_trains_draws_and_says_probes_were_skipped(unlabeled_run):
    data, run, out = unlabeled_run
    for name in ("encoder.pt", "loss_curve.png", "embedding.png", "checkpoints/last.ckpt"):
        assert (run / name).is_file(), name
    line = (
        f"probes skipped: npz:{data} has no labels; to probe the encoder on a labeled data set, "
        f"train with --eval-data SPEC or run: eblearn eval {run} --data SPEC"
    )
    results = json.loads((run / "results.json").read_text())
    assert results["probes_skipped"] == line
    assert results["encoder"] is None and results["raw_pixels"] is None
    assert results["eval_data"] is None
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["online_probe"] is False and config["eval_data"] == ""
    header = (run / "log.csv").read_text().splitlines()[0]
    assert "collapse/effective_rank" in header and "probe/" not in header
    assert [text for text in out.splitlines() if "probes skipped" in text] == [line]
    assert "kNN" not in out


def test_eval_of_an_unlabeled_run_needs_labeled_data(unlabeled_run, capsys):
    _, run, _ = unlabeled_run
    assert main(["eval", str(run)]) == 2
    err = capsys.readouterr().err
    assert "which has no labels, so there is nothing to probe" in err
    assert f"eblearn eval {run} --data SPEC" in err
    assert not (run / "eval.json").exists()
    assert main(["eval", str(run), "--data", "digits"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy on digits" in out
    written = json.loads((run / "eval.json").read_text())
    assert written["eval_data"] == "digits" and written["probes_skipped"] is None
    assert 0.1 < written["encoder"]["knn"] <= 1.0  # ten classes: chance is 0.1
    # the raw-pixel baseline of the digits, the same as a labeled run's
    assert written["raw_pixels"]["knn"] == pytest.approx(0.978, abs=0.01)


def test_eval_data_probes_after_pretraining_on_unlabeled_data(tmp_path, capsys):
    data = _unlabeled_npz(tmp_path / "x.npz")
    run = tmp_path / "run"
    arguments = ["train", *TINY, "--data", f"npz:{data}", "--eval-data", "digits"]
    assert main([*arguments, "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "test accuracy on digits" in out and "probes skipped" not in out
    results = json.loads((run / "results.json").read_text())
    assert results["data"] == f"npz:{data}" and results["eval_data"] == "digits"
    assert set(results["encoder"]) >= {"knn", "linear", "few_label"}
    assert (run / "embedding.png").is_file()
    assert yaml.safe_load((run / "config.yaml").read_text())["eval_data"] == "digits"
    # eval without --data probes the run's --eval-data again, with the same figures
    assert main(["eval", str(run)]) == 0
    again = json.loads((run / "eval.json").read_text())
    assert again["eval_data"] == "digits"
    assert again["encoder"]["knn"] == pytest.approx(results["encoder"]["knn"], abs=1e-6)


def _rgb_folder(root: Path, classes: bool) -> Path:
    for i in range(8):
        folder = root / ("ab"[i % 2] if classes else "")
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (10, 10), (30 * i, 0, 0)).save(folder / f"{i}.png")
    return root


@pytest.mark.parametrize(
    ("eval_data", "message"),
    [
        ("npz:{f}/x.npz", "has no labels (no image has a label); the probes need a labeled"),
        ("imagefolder:{f}/labeled", "has 3-channel images but the encoder is trained on 1-channel"),
        ("filelist:{f}/list.txt", "has no labels (no image has a label)"),
        ("npz:{f}/missing.npz", "--eval-data 'npz:{f}/missing.npz': npz path"),
        ("nope", "--eval-data 'nope': unknown dataset 'nope'"),
    ],
    ids=["unlabeled", "wrong-channels", "filelist", "missing", "unknown"],
)
def test_bad_eval_data_is_refused_before_any_folder(tmp_path, capsys, eval_data, message):
    data = _unlabeled_npz(tmp_path / "x.npz", 64)
    _rgb_folder(tmp_path / "labeled", classes=True)
    _rgb_folder(tmp_path / "flat", classes=False)
    (tmp_path / "list.txt").write_text("flat/0.png\n")
    run = tmp_path / "run"
    spec = eval_data.replace("{f}", str(tmp_path))
    arguments = ["train", *TINY, "--data", f"npz:{data}", "--eval-data", spec]
    assert main([*arguments, "--run-dir", str(run)]) == 2
    assert message.replace("{f}", str(tmp_path)) in capsys.readouterr().err
    assert not run.exists()


def test_eval_data_keeps_the_run_image_size_and_eval_every_needs_labels(tmp_path, capsys):
    _rgb_folder(tmp_path / "flat", classes=False)
    _rgb_folder(tmp_path / "labeled", classes=True)
    run = tmp_path / "run"
    base = ["train", *TINY, "--data", f"imagefolder:{tmp_path / 'flat'}", "--batch-size", "8"]
    assert main([*base, "--eval-every", "1", "--run-dir", str(run)]) == 2
    assert "--eval-every measures kNN accuracy on the labels of --data" in capsys.readouterr().err
    assert not run.exists()
    from eblearn.app.train import load_eval_data, prepare_training
    from eblearn.train.config import TrainConfig

    plan = prepare_training(
        TrainConfig(
            data=f"imagefolder:{tmp_path / 'flat'}",
            eval_data=f"imagefolder:{tmp_path / 'labeled'}",
            image_size=16,
            batch_size=8,
            run_dir=str(run),
        )
    )
    assert plan.eval_data is not None and plan.eval_data.image_size == 16
    assert plan.config.online_probe is False
    eval_data = load_eval_data("digits", plan.config, 1, "digits")
    assert eval_data.image_size == 8  # resized to 16 px by the eval transform
    assert plan.eval_transform(eval_data.test.images[:2].expand(-1, 3, -1, -1)).shape[-1] == 16
    assert not run.exists()


def test_old_config_files_read_without_eval_data(tmp_path):
    from eblearn.train.config import RunConfig, TrainConfig, resolve

    config = resolve(TrainConfig(), channels=1, native_size=8, run_dir=str(tmp_path))
    values = config.to_dict()
    del values["eval_data"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(values))
    old = RunConfig.from_yaml(tmp_path / "config.yaml")
    assert old.eval_data == "" and old.as_request().eval_data is None


def test_clusters_follow_the_cosine_geometry():
    generator = torch.Generator().manual_seed(0)
    directions = torch.eye(3)[[0, 1, 2]] * torch.tensor([[1.0], [5.0], [0.2]])
    noise = 0.01 * torch.randn(3, 20, 3, generator=generator)
    features = (directions[:, None] + noise * directions.norm(dim=1)[:, None, None]).flatten(0, 1)
    labels = cluster_features(features, 3, seed=0)
    # lengths differ by 25×, directions by 90°: normalized, the three directions are the clusters
    groups = labels.view(3, 20)
    assert all(len(set(g.tolist())) == 1 for g in groups)
    assert len(set(groups[:, 0].tolist())) == 3


def test_embedding_without_labels_is_drawn_in_one_color(tmp_path):
    from eblearn.plot.embedding import plot_embedding

    features = torch.randn(30, 4, generator=torch.Generator().manual_seed(0))
    path = plot_embedding(features, None, tmp_path / "e.png", title="plain", method="pca")
    assert path.is_file() and path.stat().st_size > 1000
    with pytest.raises(ValueError, match="30 feature rows but 2 labels"):
        plot_embedding(features, torch.zeros(2), tmp_path / "f.png")
