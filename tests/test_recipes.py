"""Every shipped recipe (``recipes/**/*.yaml``) passes ``eblearn train --config`` validation.

Each recipe is read by the command's own parser and option builder, then validated by
``prepare_training`` exactly as ``eblearn train`` does before it trains (options, method,
backbone, method arguments, augmentation, batch against the data), on generated images of the
recipe's data shape instead of the real data set, so nothing is downloaded and nothing trains.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from eblearn.app import prepare_training
from eblearn.app.train import build_config
from eblearn.cli import build_parser
from eblearn.data import load_dataset

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes").rglob("*.yaml"))
SHAPES = {"cifar10": (32, 3)}
"""Side and channels of each data set a recipe names."""


def test_there_are_recipes():
    assert {p.stem for p in RECIPES} >= {"vicreg", "simclr", "byol", "barlowtwins", "swav"}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A generated ``npz:`` folder per data shape, with as many images as the largest batch."""
    folders = {}
    rng = np.random.default_rng(0)
    for name, (side, channels) in SHAPES.items():
        folder = tmp_path_factory.mktemp(name)
        for split in ("train", "test"):
            pixels = rng.integers(0, 256, (256, side, side, channels), dtype=np.uint8)
            np.savez(folder / f"{split}.npz", images=pixels, labels=np.arange(256) % 10)
        folders[name] = load_dataset(f"npz:{folder}")
    return folders


@pytest.mark.parametrize("recipe", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_passes_train_validation(recipe, images, tmp_path):
    args = build_parser().parse_args(["train", "--config", str(recipe)])
    request, _ = build_config(args)
    assert request.data in SHAPES, f"add {request.data!r}'s image shape to SHAPES"
    plan = prepare_training(
        replace(request, run_dir=str(tmp_path / "run")), data=images[request.data]
    )
    assert plan.config.method == recipe.stem  # a recipe is named after its method
    assert plan.config.time_budget > 0
    for key, value in request.method_args.items():  # the recipe's arguments reach the method
        assert plan.config.method_args[key] == value
    assert not (tmp_path / "run").exists()  # validation writes nothing
