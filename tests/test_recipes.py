"""Every shipped recipe (``recipes/**/*.yaml``) passes ``eblearn train --config`` validation,
and every candidate of the recipe search (``benchmarks/search_cifar10_recipe.py``) is a valid
set of training options.

Each recipe is read by the command's own parser and option builder, then validated by
``prepare_training`` exactly as ``eblearn train`` does before it trains (options, method,
backbone, method arguments, augmentation, batch against the data), on generated images of the
recipe's data shape instead of the real data set, so nothing is downloaded and nothing trains.
"""

from __future__ import annotations

import inspect
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from eblearn.app import prepare_training
from eblearn.app.train import build_config
from eblearn.cli import build_parser
from eblearn.data import load_dataset
from eblearn.methods import METHODS
from eblearn.train.config import TrainConfig, resolve
from tests.benchmark_scripts import benchmark_script

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes").rglob("*.yaml"))
SHAPES = {"cifar10": (32, 3)}
"""Side and channels of each image data set a recipe names."""
EMBEDDED = {"shakespeare"}
"""Data sets shipped inside the package: their recipes are validated on the real data."""
IMAGE_RECIPES = [p for p in RECIPES if "shakespeare" not in p.parent.name]
TEXT_RECIPES = [p for p in RECIPES if p not in IMAGE_RECIPES]


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


@pytest.mark.parametrize("recipe", IMAGE_RECIPES, ids=[p.stem for p in IMAGE_RECIPES])
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


@pytest.mark.parametrize("recipe", TEXT_RECIPES, ids=[p.parent.name for p in TEXT_RECIPES])
def test_text_recipe_passes_train_validation(recipe, tmp_path):
    args = build_parser().parse_args(["train", "--config", str(recipe)])
    request, _ = build_config(args)
    assert request.data in EMBEDDED
    plan = prepare_training(replace(request, run_dir=str(tmp_path / "run")))
    assert plan.config.method == recipe.stem
    assert plan.config.tokenizer == request.tokenizer
    # the recipe's backbone options are laid over the Transformer's defaults, not instead
    assert plan.config.backbone_args == {"depth": 2, "heads": 4, **request.backbone_args}
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def search():
    with benchmark_script("search_cifar10_recipe") as module:
        yield module


def test_the_recipe_search_covers_every_shipped_cifar10_recipe(search):
    shipped = {p.stem for p in (ROOT / "recipes" / "cifar10-cpu-30m").glob("*.yaml")}
    assert set(search.CANDIDATES) == shipped


def test_search_candidates_are_valid_training_options(search):
    for method, candidates in search.CANDIDATES.items():
        accepted = set(inspect.signature(METHODS.get(method).__init__).parameters)
        for name in candidates:
            options = search.candidate_options(method, name)
            config = resolve(TrainConfig.from_dict(options, f"{method}/{name}"), 3, 32, "run")
            assert config.method == method
            assert set(config.method_args) <= accepted, (method, name)


def test_a_candidate_changes_only_what_it_names(search):
    base = search.BASE["simclr"]
    options = search.candidate_options("simclr", "tau0.2")
    assert options["method_args"] == {**base["method_args"], "temperature": 0.2}
    assert options["method_args"]["projector_dims"] == base["method_args"]["projector_dims"]
    assert search.candidate_options("simclr", "w48")["backbone_args"] == {"width": 48}
    assert search.candidate_options("simclr", "recipe") == base


def test_an_augmentation_candidate_sets_only_the_views(search):
    base = search.BASE["simclr"]
    options = search.candidate_options("simclr", "jitter-s1")
    assert options == {**base, "augmentation_args": search.JITTER_S1}
    config = resolve(TrainConfig.from_dict(options, "simclr/jitter-s1"), 3, 32, "run")
    assert config.augmentation_args == search.JITTER_S1


SEARCH_WINNERS = {
    "swav": "lightly-settings-view24",
    "vicreg": "w32-s4-view24-adam1e-3",
    "barlowtwins": "view24-adam1e-3",
    "simclr": "view24-adam1e-3",
    "mocov2": "view24-adam1e-3",
    "byol": "view24-adam1e-3",
}
"""The recipes that adopted their held-out search's winner (BENCHMARKS.md, 2026-12-06 and -07):
SwAV lightly's optimizer, views and heads; VICReg, Barlow Twins, SimCLR, MoCo v2 and BYOL AdamW
at 1e-3 over LARS (MoCo v2's on its 30-minute run, its 3-minute margin being thin; BYOL's on a
10-minute search, its 3-minute one being too short for its momentum target). VICReg then took a
fourth stage of the ConvNet, and then 24 px training views, each over a 20-minute search; BYOL,
SimCLR, Barlow Twins, MoCo v2 and SwAV took 24 px views over 10-minute searches."""


@pytest.mark.parametrize(("method", "winner"), SEARCH_WINNERS.items())
def test_a_searched_recipe_trains_its_search_winner(search, method, winner):
    """The shipped recipe trains the winning candidate's run (the same resolved configuration;
    a candidate may leave the batch to its default where the recipe writes it out), and the
    search still starts from the settings it searched, so that its table reproduces."""

    def resolved(options: dict) -> TrainConfig:
        return resolve(TrainConfig.from_dict(options, method), 3, 32, "run")

    shipped = resolved(search.shipped_recipe(method))
    assert shipped == resolved(search.candidate_options(method, winner))
    assert resolved(search.BASE[method]) != shipped


@pytest.mark.parametrize("method", ["simclr", "byol", "barlowtwins", "mocov2"])
def test_a_search_starts_from_the_settings_it_searched(search, method):
    """A recipe that adopted its search's winner must not move that search's starting point:
    the base keeps LARS and 32 px views, so "adam1e-3" is still the 32 px AdamW run that its
    table reports and "view24-adam1e-3" still differs from it."""
    base = search.BASE[method]
    assert base["optimizer"] == "lars"
    assert "view_size" not in base
    assert search.candidate_options(method, "adam1e-3") != search.candidate_options(
        method, "view24-adam1e-3"
    )
