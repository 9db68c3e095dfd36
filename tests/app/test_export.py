"""``eblearn export``, ``embed``, ``neighbors`` and ``eblearn.load_encoder``.

Run folders are built by hand in the layout ``eblearn train`` writes (config.yaml, encoder.pt,
checkpoints/last.ckpt) from an untrained method whose BatchNorm statistics are randomized, so
that an export that dropped a buffer or a key would change the features.
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from eblearn.app.embed import (
    ImageRows,
    default_queries,
    embed_run,
    near_duplicates,
    nearest_neighbors,
    neighbors_run,
)
from eblearn.app.export import export_encoder, load_backbone, load_encoder
from eblearn.app.run_folder import Mode
from eblearn.app.train import ENCODER_FILE, LAST_CHECKPOINT, train_folder
from eblearn.cli import main
from eblearn.data.registry import load_dataset
from eblearn.evaluate import Inference
from eblearn.train.checkpoint import save_checkpoint
from eblearn.train.config import TrainConfig, resolve
from eblearn.train.runs import build_components
from tests.test_cli import run_fresh


def make_run(run_dir: Path, data: str = "digits", **options) -> Path:
    """A finished run folder of an untrained method, as ``eblearn train`` lays it out."""
    options.setdefault("backbone", "convnet")
    if options["backbone"] == "convnet":
        options.setdefault("backbone_args", {"width": 4})
    request = TrainConfig(
        data=data, method="vicreg", method_args={"projector_dims": [32, 32]}, epochs=1, **options
    )
    dataset = load_dataset(data, image_size=options.get("image_size"))
    config = resolve(request, dataset.channels, dataset.image_size, str(run_dir))
    torch.manual_seed(1)
    method, _, _ = build_components(config, dataset)
    with torch.no_grad():
        for module in method.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.2)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
    folder = train_folder(run_dir)
    with folder.claimed(Mode.NEW, command="test"):
        folder.write_yaml("config.yaml", config.to_dict())
        state = {f"method.{k}": v for k, v in method.state_dict().items()}
        save_checkpoint({"state_dict": state, "epoch": 0}, folder.file(LAST_CHECKPOINT))
        save_checkpoint(method.encoder.state_dict(), folder.file(ENCODER_FILE))
    return run_dir


@pytest.fixture(scope="module")
def convnet_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("runs") / "convnet")


@pytest.fixture(scope="module")
def resnet_cifar_run(tmp_path_factory):
    # digits at 16 px: ResNet-18 with the CIFAR stem, on 1-channel images
    return make_run(tmp_path_factory.mktemp("runs") / "resnet-cifar", backbone="resnet18")


@pytest.fixture(scope="module")
def rgb_npz(tmp_path_factory):
    generator = np.random.default_rng(0)
    images = generator.integers(0, 256, size=(20, 72, 72, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("data") / "rgb.npz"
    np.savez(path, images=images, labels=np.arange(20) % 2)
    return path


@pytest.fixture(scope="module")
def resnet_stock_run(tmp_path_factory, rgb_npz):
    # 3-channel 72-px images: the stock ImageNet stem, as torchvision builds it
    return make_run(
        tmp_path_factory.mktemp("runs") / "resnet-stock", data=f"npz:{rgb_npz}", backbone="resnet18"
    )


def normalized_batch(channels: int, size: int, batch: int = 5) -> torch.Tensor:
    return torch.randn(batch, channels, size, size, generator=torch.Generator().manual_seed(3))


def eblearn_features(run: Path, images: torch.Tensor) -> torch.Tensor:
    backbone, _ = load_backbone(run)
    with torch.no_grad():
        return backbone(images)


def run_recipe(recipe: str, path: Path) -> nn.Module:
    """Executes the printed loading lines in a namespace without eblearn."""
    namespace: dict[str, object] = {}
    exec(recipe.replace("PATH", repr(str(path))), namespace)
    return namespace["model"]  # type: ignore[return-value]


# --- state dict: torchvision takes it with strict=True --------------------------------------


def test_resnet_state_dict_loads_strictly_into_stock_torchvision(resnet_stock_run, tmp_path):
    resnet_stock_run_config = load_backbone(resnet_stock_run)[1]
    assert resnet_stock_run_config.image_size == 72
    out = tmp_path / "r18.pt"
    result = export_encoder(resnet_stock_run, "state-dict", out)
    model = torchvision.models.resnet18()
    model.fc = nn.Identity()  # the only change: the backbone ends at the pooled features
    model.load_state_dict(torch.load(out, weights_only=True), strict=True)
    images = normalized_batch(3, 72, batch=2)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(images), eblearn_features(resnet_stock_run, images))
    assert result.recipe.splitlines()[2:4] == [
        "model = torchvision.models.resnet18()",
        "model.fc = torch.nn.Identity()",
    ]


def test_resnet_cifar_stem_state_dict_loads_with_the_documented_stem(resnet_cifar_run, tmp_path):
    out = tmp_path / "r18-cifar.pt"
    result = export_encoder(resnet_cifar_run, "state-dict", out)
    state = torch.load(out, weights_only=True)
    stock = torchvision.models.resnet18()
    stock.fc = nn.Identity()
    with pytest.raises(RuntimeError, match=r"size mismatch for conv1\.weight"):
        stock.load_state_dict(state, strict=True)
    model = torchvision.models.resnet18()
    model.fc = nn.Identity()
    model.conv1 = nn.Conv2d(1, 64, 3, stride=1, padding=1, bias=False)  # digits: 1 channel
    model.maxpool = nn.Identity()
    model.load_state_dict(state, strict=True)
    images = normalized_batch(1, 16)
    with torch.no_grad():
        expected = eblearn_features(resnet_cifar_run, images)
        torch.testing.assert_close(model.eval()(images), expected)
        # the recipe the command prints is the same, and runs without eblearn
        printed = run_recipe(result.recipe, out).eval()
        torch.testing.assert_close(printed(images), expected)


def test_convnet_state_dict_loads_into_the_printed_sequential(convnet_run, tmp_path):
    out = tmp_path / "convnet.pt"
    result = export_encoder(convnet_run, "state-dict", out)
    assert "eblearn" not in result.recipe.replace("without eblearn", "")
    model = run_recipe(result.recipe, out).eval()
    images = normalized_batch(1, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(images), eblearn_features(convnet_run, images))


def test_safetensors_holds_the_state_dict_and_its_metadata(resnet_cifar_run, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file

    export_encoder(resnet_cifar_run, "state-dict", tmp_path / "a.pt")
    result = export_encoder(resnet_cifar_run, "safetensors", tmp_path / "a.safetensors")
    reference = torch.load(tmp_path / "a.pt", weights_only=True)
    loaded = load_file(result.path)
    assert loaded.keys() == reference.keys()
    for key, value in reference.items():
        assert torch.equal(loaded[key], value), key
    with safe_open(str(result.path), "pt") as file:
        assert file.metadata()["in_channels"] == "1"
        assert file.metadata()["image_size"] == "16"
    model = run_recipe(result.recipe, result.path).eval()
    images = normalized_batch(1, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(images), eblearn_features(resnet_cifar_run, images))


# --- TorchScript and ONNX ------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:.*torch.jit.load.*:FutureWarning")
def test_torchscript_runs_with_torch_jit_load_alone(convnet_run, tmp_path):
    result = export_encoder(convnet_run, "torchscript", tmp_path / "convnet.ts")
    model = torch.jit.load(str(result.path))
    images = normalized_batch(1, 16, batch=7)  # another batch size than the trace's
    with torch.no_grad():
        torch.testing.assert_close(model(images), eblearn_features(convnet_run, images))


@pytest.mark.parametrize("run", ["convnet_run", "resnet_cifar_run"])
def test_onnx_gives_torch_features_under_onnxruntime(run, request, tmp_path):
    import onnx
    import onnxruntime

    run_dir = request.getfixturevalue(run)
    result = export_encoder(run_dir, "onnx", tmp_path / "encoder.onnx")
    assert result.onnx_difference is not None and result.onnx_difference <= 1e-4
    graph = onnx.load(str(result.path)).graph
    batch_axis = graph.input[0].type.tensor_type.shape.dim[0]
    assert graph.input[0].name == "images" and batch_axis.dim_param  # symbolic, not fixed
    session = onnxruntime.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        images = normalized_batch(1, 16, batch=batch)
        ours = session.run(None, {"images": images.numpy()})[0]
        reference = eblearn_features(run_dir, images).numpy()
        assert ours.shape == reference.shape
        assert np.abs(ours - reference).max() <= 1e-4


# --- the command: defaults, refusals, missing extras ---------------------------------------


def test_export_defaults_into_the_run_folder_and_registers_the_file(convnet_run, capsys):
    assert main(["export", str(convnet_run)]) == 0
    out = capsys.readouterr().out
    path = convnet_run / "export" / "backbone.pt"
    assert f"written: {path} (state-dict)" in out
    assert "export/backbone.pt" in train_folder(convnet_run).written()
    before = path.read_bytes()
    assert main(["export", str(convnet_run)]) == 2
    assert "already exists; pass --overwrite to replace it" in capsys.readouterr().err
    assert path.read_bytes() == before
    assert main(["export", str(convnet_run), "--overwrite"]) == 0


@pytest.mark.parametrize(
    ("fmt", "module", "extra"),
    [("onnx", "onnxruntime", "export"), ("safetensors", "safetensors", "export")],
)
def test_a_missing_extra_is_named(convnet_run, tmp_path, capsys, monkeypatch, fmt, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    out = tmp_path / "x"
    assert main(["export", str(convnet_run), "--format", fmt, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"--format {fmt} needs the optional package(s) {module}" in err
    assert f"pip install 'eblearn[{extra}]'" in err
    assert not out.exists()


def test_export_refuses_what_is_not_a_run(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nothing")]) == 2
    assert f"run folder {str(tmp_path / 'nothing')!r} does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["export", str(tmp_path / "empty")]) == 2
    assert "is not a run folder: it has no config.yaml" in capsys.readouterr().err
    assert list((tmp_path / "empty").iterdir()) == []


def test_export_refuses_weights_of_another_backbone(convnet_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "mixed"
    shutil.copytree(convnet_run, run)
    config = (run / "config.yaml").read_text().replace("width: 4", "width: 8")
    (run / "config.yaml").write_text(config)
    assert main(["export", str(run), "--out", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert "encoder.pt' does not fit the 'convnet' backbone" in err
    assert "size mismatch for layers.0.0.weight" in err


# --- load_encoder ---------------------------------------------------------------------------


def test_load_encoder_is_the_trained_backbone_after_the_eval_transform(convnet_run):
    encoder = load_encoder(convnet_run)
    assert not encoder.module.training
    assert (encoder.in_channels, encoder.image_size, encoder.feature_dim) == (1, 16, 16)
    data = load_dataset("digits")
    images = data.test.images[:10]
    # by hand: [0, 1], bilinear to 16 px, the training pixels' mean and std
    pixels = data.train.images.float().div(255)
    mean, std = pixels.mean(), pixels.std()
    unit = nn.functional.interpolate(images.float() / 255, size=(16, 16), mode="bilinear")
    saved = torch.load(convnet_run / ENCODER_FILE, weights_only=True)
    reference = type(encoder.module)(in_channels=1, width=4)
    reference.load_state_dict(saved)
    with torch.no_grad():
        expected = reference.eval()((unit - mean) / std)
    torch.testing.assert_close(encoder(images), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    ("precision", "memory_format", "native", "expected", "tolerance"),
    [
        ("32", "channels_last", False, Inference(channels_last=True), 1e-5),
        ("bf16-mixed", "channels_last", True, Inference(torch.bfloat16, True), 5e-2),
        ("bf16-mixed", "channels_last", False, Inference(channels_last=True), 1e-5),
    ],
)
def test_load_encoder_encodes_as_the_run_trained_where_native(
    convnet_run, tmp_path, monkeypatch, precision, memory_format, native, expected, tolerance
):
    from eblearn.train import precision as precision_module

    monkeypatch.setattr(precision_module, "native_bf16", lambda device, cpuinfo=None: native)
    run = make_run(tmp_path / "run", precision=precision, memory_format=memory_format)
    encoder = load_encoder(run)
    assert encoder.inference(torch.device("cpu")) == expected
    seen: list[bool] = []
    encoder.module.register_forward_pre_hook(
        lambda module, args: seen.append(torch.is_autocast_enabled("cpu"))
    )
    images = load_dataset("digits").test.images[:10]
    features = encoder(images)
    assert seen == [expected.autocast_dtype is not None]
    assert features.dtype == torch.float32
    reference = load_encoder(convnet_run)(images)  # the same weights in float32, contiguous
    torch.testing.assert_close(features, reference, atol=tolerance, rtol=tolerance)


def test_load_encoder_falls_back_on_the_checkpoint_of_an_unfinished_run(convnet_run, tmp_path):
    import shutil

    run = tmp_path / "unfinished"
    shutil.copytree(convnet_run, run)
    (run / ENCODER_FILE).unlink()
    images = normalized_batch(1, 16)
    torch.testing.assert_close(eblearn_features(run, images), eblearn_features(convnet_run, images))
    (run / LAST_CHECKPOINT).unlink()
    with pytest.raises(ValueError, match=r"holds no trained encoder: neither encoder\.pt nor"):
        load_backbone(run)


def test_import_eblearn_stays_light_and_load_encoder_is_lazy():
    code = (
        "import sys, eblearn\n"
        "light = 'torch' not in sys.modules\n"
        "from eblearn.cli import build_parser\n"
        "build_parser()\n"
        "heavy = ('lightning', 'sklearn', 'onnx', 'onnxruntime', 'safetensors', 'pyarrow')\n"
        "print(light, sorted(m for m in heavy if m in sys.modules))\n"
        "print(eblearn.load_encoder.__module__)\n"
    )
    assert run_fresh(code)[:2] == ["True []", "eblearn.app.export"]


# --- neighbors and duplicates: the math -----------------------------------------------------


def naive_neighbors(queries, bank, k, exclude):
    def cosine(a, b):
        dot = sum(x * y for x, y in zip(a, b))
        return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))

    found = []
    for q, query in enumerate(queries.tolist()):
        scored = [(cosine(query, row), n) for n, row in enumerate(bank.tolist()) if n != exclude[q]]
        scored.sort(key=lambda pair: -pair[0])
        found.append(scored[:k])
    return found


def test_nearest_neighbors_match_a_naive_loop():
    bank = torch.randn(40, 6)
    queries = torch.cat([bank[[3, 17]], torch.randn(2, 6)])
    exclude = torch.tensor([3, 17, -1, -1])
    similarity, index = nearest_neighbors(queries, bank, 5, exclude)
    for q, expected in enumerate(naive_neighbors(queries, bank, 5, exclude.tolist())):
        assert index[q].tolist() == [n for _, n in expected]
        assert similarity[q].tolist() == pytest.approx([s for s, _ in expected], abs=1e-5)
    assert 3 not in index[0].tolist() and 17 not in index[1].tolist()


def test_nearest_neighbors_refuse_k_beyond_the_bank():
    with pytest.raises(ValueError, match=r"k must lie in \[1, 3\]"):
        nearest_neighbors(torch.randn(1, 2), torch.randn(4, 2), 4, torch.tensor([0]))


def test_near_duplicates_find_exactly_the_planted_pairs():
    features = torch.randn(60, 32)
    features[10] = 2.5 * features[3]  # cosine is blind to scale
    features[41] = features[3]
    features[20] = features[7] + 1e-3 * torch.randn(32)
    pairs, similarity, total = near_duplicates(features, 0.99, chunk=7)
    assert sorted(map(tuple, pairs.tolist())) == [(3, 10), (3, 41), (7, 20), (10, 41)]
    assert total == 4 and bool((similarity >= 0.99).all())
    assert similarity.tolist() == sorted(similarity.tolist(), reverse=True)


def test_near_duplicates_match_a_naive_loop_and_keep_the_most_similar():
    features = torch.randn(30, 3)
    unit = features / features.norm(dim=1, keepdim=True)
    expected = sorted(
        ((float(unit[a] @ unit[b]), a, b) for a in range(30) for b in range(a + 1, 30)),
        key=lambda t: -t[0],
    )
    expected = [t for t in expected if t[0] >= 0.5]
    pairs, similarity, total = near_duplicates(features, 0.5, max_pairs=15, chunk=4)
    assert total == len(expected) > 15
    assert [tuple(p) for p in pairs.tolist()] == [(a, b) for _, a, b in expected[:15]]
    assert similarity.tolist() == pytest.approx([s for s, _, _ in expected[:15]], abs=1e-5)


def test_default_queries_spread_over_the_data():
    assert default_queries(1797, 6).tolist() == [0, 359, 718, 1078, 1437, 1796]
    assert default_queries(3, 6).tolist() == [0, 1, 2]


# --- embed and neighbors on a small folder of images ----------------------------------------


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """A run on an image folder of 16 distinct pictures plus 2 exact copies."""
    from PIL import Image

    root = tmp_path_factory.mktemp("photos")
    generator = np.random.default_rng(1)
    pictures = []
    for i in range(16):
        y, x = np.mgrid[0:16, 0:16]
        base = (np.sin(x * (i % 4 + 1) / 3) + np.cos(y * (i // 4 + 1) / 4)) * 60 + 128
        color = generator.uniform(0.3, 1.0, size=3)
        pictures.append((base[..., None] * color).clip(0, 255).astype(np.uint8))
    pictures += [pictures[2], pictures[9]]  # the planted duplicates
    for i, picture in enumerate(pictures):
        folder = root / ("a" if i % 2 == 0 else "b")
        folder.mkdir(exist_ok=True)
        Image.fromarray(picture).save(folder / f"img{i:02d}.png")
    run = make_run(tmp_path_factory.mktemp("runs") / "folder", data=f"imagefolder:{root}")
    return run, root, pictures


def test_embed_writes_npy_and_parquet_in_one_order(folder_run, tmp_path, capsys):
    run, root, _ = folder_run
    assert main(["embed", str(run), "--out", str(tmp_path / "f.npy")]) == 0
    assert "rows: train (14), then test (4)" in capsys.readouterr().out
    import pyarrow.parquet as pq

    result = embed_run(run, tmp_path / "f.parquet")
    table = pq.read_table(result.path).to_pydict()
    features = np.load(tmp_path / "f.npy")
    assert features.shape == (18, 16) and features.dtype == np.float32
    np.testing.assert_array_equal(np.array(table["features"], dtype=np.float32), features)
    data = load_dataset(f"imagefolder:{root}", image_size=16)
    labels = torch.cat([data.train.labels, data.test.labels]).tolist()
    assert table["index"] == list(range(18))
    assert table["split"] == ["train"] * 14 + ["test"] * 4
    assert table["split_index"] == list(range(14)) + list(range(4))
    assert table["label"] == labels
    assert table["class"] == [("a", "b")[label] for label in labels]
    assert result.columns[-2:] == ["path", "features"]
    assert sorted(table["path"]) == sorted(str(p) for p in root.rglob("*.png"))
    from PIL import Image

    images = torch.cat([data.train.images, data.test.images])
    for image, file, label in zip(images, table["path"], labels, strict=True):
        decoded = np.asarray(Image.open(file).convert("RGB")).transpose(2, 0, 1)
        assert np.array_equal(image.numpy(), decoded) and Path(file).parent.name == "ab"[label]
    encoder = load_encoder(run)
    expected = encoder(torch.cat([data.train.images, data.test.images]))
    np.testing.assert_allclose(features, expected.numpy(), atol=1e-5)


def test_parquet_of_data_without_files_has_no_path_column(convnet_run, tmp_path):
    import pyarrow.parquet as pq

    result = embed_run(convnet_run, tmp_path / "digits.parquet")
    table = pq.read_table(result.path)
    assert "path" not in table.column_names and result.columns[-1] == "features"
    embed_run(convnet_run, tmp_path / "rows.npy")
    features = np.array(table.column("features").to_pylist(), dtype=np.float32)
    np.testing.assert_array_equal(features, np.load(tmp_path / "rows.npy"))


def test_embed_refuses_before_writing(folder_run, convnet_run, tmp_path, capsys, monkeypatch):
    run, _, _ = folder_run
    existing = tmp_path / "f.npy"
    existing.write_bytes(b"keep")
    assert main(["embed", str(run), "--out", str(existing)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert existing.read_bytes() == b"keep"
    assert main(["embed", str(run), "--out", str(tmp_path / "f.csv")]) == 2
    assert "must end in .npy or .parquet, got '.csv'" in capsys.readouterr().err
    # a 1-channel encoder on RGB images
    root = str(run / "config.yaml")
    data = [line for line in Path(root).read_text().splitlines() if line.startswith("data:")]
    spec = data[0].split(": ", 1)[1]
    assert main(["embed", str(convnet_run), "--data", spec, "--out", str(tmp_path / "g.npy")]) == 2
    assert "takes 1-channel images, but" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    assert main(["embed", str(run), "--out", str(tmp_path / "g.parquet")]) == 2
    assert "pip install 'eblearn[embed]'" in capsys.readouterr().err
    assert not (tmp_path / "g.npy").exists() and not (tmp_path / "g.parquet").exists()


def test_neighbors_finds_the_planted_duplicates(folder_run, tmp_path, capsys):
    run, _, _ = folder_run
    out = tmp_path / "pairs.csv"
    assert main(["neighbors", str(run), "--duplicates", "0.999999", "--out", str(out)]) == 0
    with out.open() as file:
        rows = list(csv.DictReader(file))
    encoder = load_encoder(run)
    images = ImageRows.of(load_dataset(encoder.config.data, image_size=16))
    identical = {
        (a, b)
        for a in range(len(images))
        for b in range(a + 1, len(images))
        if torch.equal(images.image(a), images.image(b))
    }
    assert len(identical) == 2  # the two planted copies
    assert {(int(r["index_a"]), int(r["index_b"])) for r in rows} >= identical
    for r in rows:
        assert float(r["cosine"]) >= 0.999999
        assert images.locate(int(r["index_a"])) == (r["split_a"], int(r["split_index_a"]))
    assert f"written: {out}" in capsys.readouterr().out


def test_neighbors_grid_of_a_query_file_starts_with_its_copy(folder_run, tmp_path, capsys):
    from PIL import Image

    run, root, pictures = folder_run
    query = tmp_path / "query.png"
    Image.fromarray(pictures[5]).save(query)
    result = neighbors_run(run, tmp_path / "grid.png", queries=[query], k=3)
    assert result.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = ImageRows.of(load_dataset(f"imagefolder:{root}", image_size=16))
    first = int(result.index[0, 0])
    assert torch.equal(rows.image(first).permute(1, 2, 0), torch.from_numpy(pictures[5]))
    assert float(result.similarity[0, 0]) == pytest.approx(1.0, abs=1e-5)
    assert main(["neighbors", str(run), "--out", str(tmp_path / "g2.png"), "--k", "3"]) == 0
    assert main(["neighbors", str(run), "--k", "18", "--out", str(tmp_path / "g3.png")]) == 2
    assert "--k 18 exceeds the 17 images a query can have" in capsys.readouterr().err
    assert main(["neighbors", str(run), "--duplicates", "0.9", "--out", str(tmp_path / "x.png")])
    assert "must end in .csv, got '.png'" in capsys.readouterr().err
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert main(["neighbors", str(run), "--query", str(bad), "--out", str(tmp_path / "g4.png")])
    assert f"query image {str(bad)!r} is unreadable" in capsys.readouterr().err
    assert not (tmp_path / "g3.png").exists() and not (tmp_path / "g4.png").exists()


# --- RegNet and timm backbones: the state dict loads into the library's own model -----------


@pytest.fixture(scope="module")
def regnet_small_run(tmp_path_factory):
    # digits at 16 px: RegNetY-400MF with the stride-1 stem, on 1-channel images
    return make_run(tmp_path_factory.mktemp("runs") / "regnet-small", backbone="regnet_y_400mf")


def test_regnet_state_dict_loads_strictly_into_stock_torchvision(rgb_npz, tmp_path):
    run = make_run(tmp_path / "regnet", data=f"npz:{rgb_npz}", backbone="regnet_x_400mf")
    out = tmp_path / "regnet.pt"
    result = export_encoder(run, "state-dict", out)
    model = torchvision.models.regnet_x_400mf()
    model.fc = nn.Identity()  # 72 px, 3 channels: torchvision's stem unchanged
    model.load_state_dict(torch.load(out, weights_only=True), strict=True)
    images = normalized_batch(3, 72, batch=2)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(images), eblearn_features(run, images))
    assert result.recipe.splitlines()[2:] == [
        "model = torchvision.models.regnet_x_400mf()",
        "model.fc = torch.nn.Identity()",
        "model.load_state_dict(torch.load(PATH), strict=True)",
    ]


def test_regnet_small_stem_state_dict_loads_with_the_printed_stem(regnet_small_run, tmp_path):
    out = tmp_path / "regnet-small.pt"
    result = export_encoder(regnet_small_run, "state-dict", out)
    model = torchvision.models.regnet_y_400mf()
    model.fc = nn.Identity()
    model.stem[0] = nn.Conv2d(1, 32, 3, stride=1, padding=1, bias=False)  # digits: 1 channel
    model.load_state_dict(torch.load(out, weights_only=True), strict=True)
    images = normalized_batch(1, 16, batch=2)
    with torch.no_grad():
        expected = eblearn_features(regnet_small_run, images)
        torch.testing.assert_close(model.eval()(images), expected)
        printed = run_recipe(result.recipe, out).eval()
        torch.testing.assert_close(printed(images), expected)


@pytest.mark.parametrize(
    ("model", "data", "channels", "size", "create"),
    [
        ("resnet18", "rgb", 3, 72, "timm.create_model('resnet18', num_classes=0)"),
        (
            "vit_tiny_patch16_224",
            "digits",
            1,
            16,
            "timm.create_model('vit_tiny_patch16_224', num_classes=0, in_chans=1, img_size=16)",
        ),
    ],
)
def test_timm_state_dict_loads_strictly_into_timm_create_model(
    model, data, channels, size, create, rgb_npz, tmp_path
):
    timm = pytest.importorskip("timm")
    spec = f"npz:{rgb_npz}" if data == "rgb" else data
    run = make_run(tmp_path / "timm", data=spec, backbone=f"timm:{model}")
    out = tmp_path / "timm.pt"
    result = export_encoder(run, "state-dict", out)
    namespace = {"timm": timm}
    reference = eval(create, namespace)  # the call the recipe prints, made here by hand
    reference.load_state_dict(torch.load(out, weights_only=True), strict=True)
    images = normalized_batch(channels, size, batch=2)
    with torch.no_grad():
        expected = eblearn_features(run, images)
        torch.testing.assert_close(reference.eval()(images), expected)
        torch.testing.assert_close(run_recipe(result.recipe, out).eval()(images), expected)
    assert f"model = {create}" in result.recipe.splitlines()
