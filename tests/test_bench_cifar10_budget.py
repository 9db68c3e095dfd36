"""``benchmarks/bench_cifar10_budget.py`` on generated images: each method's lightly side
(``benchmarks/_lightly_methods.py``) takes a finite training step, its momentum branches move
as lightly's schedule says, and the bench trains and probes both sides within a tiny budget.
"""

from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path

import pytest
import torch
import yaml

from eblearn.cli import main as eblearn_main
from eblearn.nn import BACKBONES
from tests.benchmark_scripts import benchmark_script, generated_images, write_generated_splits

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("lightly", reason="the lightly side needs lightly (the bench extra)")


@pytest.fixture(scope="module")
def bench():
    with benchmark_script("bench_cifar10_budget") as module:
        yield module


def tiny_model(bench, method: str):
    torch.manual_seed(0)
    return bench.LIGHTLY_METHODS[method](BACKBONES.get("convnet")(3, width=4))


def test_every_lightly_method_has_a_shipped_recipe(bench):
    assert set(bench.METHODS) == {"vicreg", "simclr", "byol", "barlowtwins", "swav", "mocov2"}
    assert all((bench.RECIPES / f"{m}.yaml").is_file() for m in bench.METHODS)


@pytest.mark.parametrize("method", ["vicreg", "simclr", "byol", "barlowtwins", "swav", "mocov2"])
def test_lightly_side_takes_a_finite_step(bench, method):
    from PIL import Image

    model = tiny_model(bench, method)
    transform = model.transform(32)
    per_image = [transform(Image.fromarray(image)) for image in generated_images(8)[0]]
    views = [torch.stack(v) for v in zip(*per_image, strict=True)]  # V × (B, 3, 32, 32)
    assert len(views) == 2 and views[0].shape == (8, 3, 32, 32)
    optimizer = model.optimizer()
    before = [p.detach().clone() for p in model.backbone.parameters()]
    model.before_step(0.0)
    loss = model.training_loss(views)
    assert loss.numel() == 1 and math.isfinite(float(loss.detach()))  # lightly's SwAV: (1,)
    loss.backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for _, p in trainable), [
        n for n, p in trainable if p.grad is None
    ]
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert all("momentum" in n for n in frozen)  # only the momentum branches are frozen
    optimizer.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.backbone.parameters()))
    assert torch.isfinite(model.features(views[0])).all()


@pytest.mark.parametrize("method", ["byol", "mocov2"])
def test_momentum_branch_follows_lightlys_cosine_schedule(bench, method):
    """``ξ ← m ξ + (1 − m) θ`` with ``m = 0.996`` at the start of the budget and 1 at its end."""
    model = tiny_model(bench, method)
    online = next(model.projection_head.parameters())
    target = next(model.projection_head_momentum.parameters())
    with torch.no_grad():
        online.add_(1.0)  # the online weights move away from the copy
    start = target.detach().clone()
    model.before_step(0.0)
    expected = 0.996 * start + 0.004 * online.detach()
    torch.testing.assert_close(target.detach(), expected)
    model.before_step(1.0)  # m = 1: the copy stays where it is
    torch.testing.assert_close(target.detach(), expected)


@pytest.fixture
def tiny_bench_inputs(tmp_path, bench):
    """Generated train/test arrays and the shipped SimCLR recipe on a 4-wide ConvNet and
    batches of 16 (everything else as shipped)."""
    write_generated_splits(tmp_path, train=64, test=32)
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    options = bench.recipe_options(bench.RECIPES / "simclr.yaml")
    options.update(backbone_args={"width": 4}, batch_size=16)
    (recipes / "simclr.yaml").write_text(yaml.safe_dump(options))
    return tmp_path, recipes


def test_bench_trains_and_probes_both_sides(bench, tiny_bench_inputs, monkeypatch):
    data, recipes = tiny_bench_inputs
    commands = []

    def run_in_process(command, env):  # ``eblearn train`` without a new interpreter
        commands.append(command)
        assert command[1:3] == ["-m", "eblearn.cli"]
        assert eblearn_main(command[3:]) == 0

    monkeypatch.setattr(bench, "launch", run_in_process)
    printed, threads = io.StringIO(), torch.get_num_threads()
    with contextlib.redirect_stdout(printed):
        try:
            bench.main([
                "--method", "simclr", "--budget", "1s", "--sides", "eblearn,lightly",
                "--data", str(data), "--recipes", str(recipes), "--out", str(data / "out"),
            "--workers", "0", "--eval-every", "1", "--threads", "1", "--precision", "32",
            ])  # fmt: skip
        finally:
            torch.set_num_threads(threads)  # main sets it for the process
    assert "--config" in commands[0] and str(recipes / "simclr.yaml") in commands[0]
    assert commands[0][-2:] == ["--precision", "32"]  # over the recipe's (auto)
    (run_dir,) = (data / "out").glob("simclr-eblearn-seed0-*")
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["precision"] == "32"
    assert "`--precision 32`" in printed.getvalue()  # the section says so
    rows = {
        line.split(" | ")[0].strip("| "): line.split(" | ")
        for line in printed.getvalue().splitlines()
        if line.startswith("| ")
    }
    for side in ("eblearn (recipe)", "lightly (example defaults)"):
        knn, steps = rows[side][2], rows[side][6]
        assert 0.0 <= float(knn) <= 100.0, rows[side]  # finite features, probed
        assert int(steps) >= 1
    assert len(list((data / "out").glob("simclr-lightly-seed0-*.pt"))) == 1
    assert "SimCLRProjectionHead" in printed.getvalue()  # the lightly side says what it is


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--method", "dino"], "invalid choice: 'dino'"),
        (["--sides", "eblearn,pytorch"], "unknown --sides \\['pytorch'\\]"),
        (["--budget", "soon"], "duration must be"),
        (["--recipes", "/nonexistent"], "no recipe /nonexistent/vicreg.yaml"),
        (["--data", "/nonexistent"], "must hold train.npz and test.npz"),
    ],
)
def test_bad_options_are_refused_by_name(bench, argv, message, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(argv)
    assert __import__("re").search(message, capsys.readouterr().err)


def test_a_run_of_one_side_does_not_draw_over_the_comparison_figure(bench):
    both = {"eblearn", "lightly", "random"}
    assert bench.figure_name("simclr", both) == "cifar10_budget_knn_simclr.png"
    assert bench.figure_name("simclr", {"eblearn", "lightly"}) == "cifar10_budget_knn_simclr.png"
    assert bench.figure_name("byol", {"lightly"}) == "cifar10_budget_knn_byol_lightly.png"
    assert bench.figure_name("byol", {"eblearn", "random"}) == "cifar10_budget_knn_byol_eblearn.png"


def test_a_rerun_does_not_draw_over_an_earlier_figure(bench, tmp_path):
    figure = tmp_path / "cifar10_budget_knn_byol_eblearn.png"
    assert bench.unused_path(figure) == figure
    figure.write_bytes(b"an earlier section's figure")
    assert bench.unused_path(figure) == tmp_path / "cifar10_budget_knn_byol_eblearn_2.png"
    (tmp_path / "cifar10_budget_knn_byol_eblearn_2.png").write_bytes(b"a second one")
    assert bench.unused_path(figure) == tmp_path / "cifar10_budget_knn_byol_eblearn_3.png"
    assert figure.read_bytes() == b"an earlier section's figure"
