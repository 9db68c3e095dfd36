"""The search behind a CIFAR-10 CPU recipe: candidates trained for the same short wall budget,
scored on a held-out part of the training set (never on the test split).

Each candidate is a set of ``eblearn train`` options laid over the method's base options. It
is pretrained with ``--time-budget`` on 45,000 training images (``_cifar10.cifar10_heldout``)
and scored by the kNN accuracy (k=20, T=0.07) of the other 5,000 against those 45,000, the
figure the run's own ``--eval-every`` monitor logs at its end. The winner, with the budget of
the real run, is what ``recipes/cifar10-cpu-30m/<method>.yaml`` ships. A short proxy budget
ranks candidates cheaply, but a short run favours what learns fast: the table gives the steps
and epochs each candidate reached, so the reader can judge how far the ranking carries.

    python benchmarks/search_cifar10_recipe.py --budget 3m            # VICReg's candidates
    python benchmarks/search_cifar10_recipe.py --budget 3m --method simclr
    python benchmarks/search_cifar10_recipe.py --budget 3m --only w32-proj1024,w48-proj1024
    python benchmarks/search_cifar10_recipe.py --budget 3m --append   # also to BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from _cifar10 import cifar10_heldout
from _report import append_section, markdown_table

from eblearn.app import pretrain
from eblearn.train.config import TrainConfig
from eblearn.train.history import read_history

RECIPES = Path(__file__).resolve().parents[1] / "recipes" / "cifar10-cpu-30m"


def shipped_recipe(method: str) -> dict[str, Any]:
    """The shipped recipe's options, less what every candidate run sets itself."""
    options = yaml.safe_load((RECIPES / f"{method}.yaml").read_text())
    return {k: v for k, v in options.items() if k not in ("data", "time_budget")}


SWAV_PAPER_BASE: dict[str, Any] = {
    "method": "swav",
    "backbone": "convnet",
    "backbone_args": {"width": 32},
    "batch_size": 256,
    "optimizer": "lars",
    "augmentation": "multicrop",
    "method_args": {
        "projector_dims": [2048, 128],
        "num_prototypes": 3000,
        "temperature": 0.1,
        "sinkhorn_iterations": 3,
        "sinkhorn_epsilon": 0.05,
        "queue_size": 0,
        "freeze_prototypes_steps": 195,
    },
}
"""SwAV's recipe before its search: VICReg's searched backbone, batch and optimizer with the
SwAV paper's settings (projector 2048 -> 128, 3000 prototypes frozen for the first epoch,
2 + 6 multi-crop views). The search's winner replaced it in ``swav.yaml``; the search keeps it
as its base so that its table can be reproduced."""


def shipped_recipe_with_lars(method: str) -> dict[str, Any]:
    """The shipped recipe with the optimizer and views its search started from: LARS at the
    library's rate and weight decay, VICReg's first searched optimizer, which every recipe
    copied until AdamW at 1e-3 won their searches (2026-12-06), and 32 px views, which the
    recipes kept until 24 px views won (2026-12-07). Searches keep starting from it so that
    their tables reproduce after a recipe adopts their winner."""
    adopted = ("lr", "weight_decay", "view_size")
    options = {k: v for k, v in shipped_recipe(method).items() if k not in adopted}
    return {**options, "optimizer": "lars"}


BASE: dict[str, dict[str, Any]] = {
    "vicreg": {"method": "vicreg", "backbone": "convnet", "optimizer": "lars"},
    **{m: shipped_recipe_with_lars(m) for m in ("simclr", "byol", "barlowtwins", "mocov2")},
    "swav": SWAV_PAPER_BASE,
}
"""Options every candidate of a method shares (the rest are the library's defaults). For
SimCLR, BYOL, Barlow Twins and MoCo v2: their shipped recipe with LARS (VICReg's first searched
backbone, batch and optimizer with the paper's method settings), so the candidates are
variations of it."""

JITTER_S1 = {"brightness": 0.8, "contrast": 0.8, "saturation": 0.8, "hue": 0.2}
"""SimCLR's color jitter at strength s = 1: brightness, contrast, saturation 0.8·s, hue 0.2·s."""

ADAM_1E3: dict[str, Any] = {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.0}
"""The optimizer of lightly's SwAV example: Adam at 1e-3 without weight decay (lightly keeps the
rate constant; eblearn lays its warm-up and cosine over the budget). It beat LARS at 0.3 for
SwAV by 3.6 held-out points (BENCHMARKS.md, 2026-12-06), so it is a candidate for the other
LARS recipes too."""


def four_stages_adamw(view_size: int, width: int = 32) -> dict[str, Any]:
    """VICReg's recipe since 2026-12-06 (a four-stage ConvNet, AdamW at 1e-3) on training
    views of ``view_size`` px and a ConvNet of ``width`` channels in its first stage."""
    return {"backbone_args": {"width": width, "stages": 4}, "view_size": view_size, **ADAM_1E3}


SHARED_VARIANTS: dict[str, dict[str, Any]] = {
    "recipe": {},
    "w48": {"backbone_args": {"width": 48}},
    "b128": {"batch_size": 128},
    "s4": {"backbone_args": {"stages": 4}},
    # The augmentation's strength. Color jitter at SimCLR's s = 1: the recipes use s = 0.5,
    # the SimCLR paper's CIFAR-10 setting, while lightly's SimCLRTransform (its SimCLR example,
    # which needed 2.4x fewer steps than eblearn's recipe for the same accuracy) keeps s = 1.
    # And crops of at least 20% of the image instead of 8%.
    "jitter-s1": {"augmentation_args": JITTER_S1},
    "crop0.2": {"augmentation_args": {"crop_scale": [0.2, 1.0]}},
    # The optimizer that lifted SwAV (+3.6) and VICReg (+3.9) on the held-out split.
    "adam1e-3": ADAM_1E3,
    # The shape that then lifted VICReg under AdamW over 20 minutes (62.9 vs 60.1 held-out,
    # BENCHMARKS.md, 2026-12-06): a fourth stage, compared with "adam1e-3" over as long.
    "s4-adam1e-3": {"backbone_args": {"stages": 4}, **ADAM_1E3},
    # The views' side that then lifted VICReg (+3.5 held-out over 20 minutes, 65.2 vs 61.7,
    # BENCHMARKS.md, 2026-12-06): 24 px training views of the 32 px images, on the AdamW recipe.
    "view24-adam1e-3": {"view_size": 24, **ADAM_1E3},
}
"""Variations searched for every method after VICReg: the recipe as shipped, the wider
backbone, the smaller batch and the four-stage backbone that VICReg's search compared, and two
strengths of augmentation, and AdamW at 1e-3 in place of LARS, on three stages and on four,
and on 24 px views."""

LIGHTLY_SWAV_VIEWS: dict[str, Any] = {
    "augmentation": "simclr",
    "augmentation_args": {"crop_scale": [0.14, 1.0]},
}
LIGHTLY_SWAV_HEADS: dict[str, Any] = {
    "method_args": {"projector_dims": [512, 128], "num_prototypes": 512}
}
"""The settings of lightly's SwAV example for CIFAR-10 (``benchmarks/_lightly_methods.py``),
split by kind: optimizer, views, heads."""
LIGHTLY_SWAV_SETTINGS: dict[str, Any] = {
    **ADAM_1E3,
    **LIGHTLY_SWAV_VIEWS,
    "method_args": {**LIGHTLY_SWAV_HEADS["method_args"], "freeze_prototypes_steps": 0},
}
"""All of them together, prototypes never frozen: the search's winner, now ``swav.yaml``."""

CANDIDATES: dict[str, dict[str, dict[str, Any]]] = {
    "vicreg": {
        "w32-proj2048": {"backbone_args": {"width": 32}, "batch_size": 256},
        "w32-proj1024": {
            "backbone_args": {"width": 32},
            "batch_size": 256,
            "method_args": {"projector_dims": [1024, 1024, 1024]},
        },
        "w48-proj1024": {
            "backbone_args": {"width": 48},
            "batch_size": 256,
            "method_args": {"projector_dims": [1024, 1024, 1024]},
        },
        "w32-proj1024-b128": {
            "backbone_args": {"width": 32},
            "batch_size": 128,
            "method_args": {"projector_dims": [1024, 1024, 1024]},
        },
        # On a CPU with native bf16 the 30-minute kNN curve of w32-proj2048 goes flat after
        # ~17 minutes (BENCHMARKS.md, 2026-12-04): wider ConvNets, searched over a longer proxy.
        "w48-proj2048": {"backbone_args": {"width": 48}, "batch_size": 256},
        "w64-proj2048": {"backbone_args": {"width": 64}, "batch_size": 256},
        # Widening every layer did not pay over 10 minutes (BENCHMARKS.md, 2026-12-04): most of
        # the ConvNet's time goes to its 32-px first stage. A fourth (fifth) stage at 4×4 (2×2)
        # doubles (quadruples) the features for about 14% (37%) more time per step.
        "w32-s4-proj2048": {"backbone_args": {"width": 32, "stages": 4}, "batch_size": 256},
        "w32-s5-proj2048": {"backbone_args": {"width": 32, "stages": 5}, "batch_size": 256},
        "w32-jitter-s1": {"backbone_args": {"width": 32}, "augmentation_args": JITTER_S1},
        "w32-crop0.2": {
            "backbone_args": {"width": 32},
            "augmentation_args": {"crop_scale": [0.2, 1.0]},
        },
        # What lifted SwAV's recipe by 7.7 held-out points (BENCHMARKS.md, 2026-12-06), each on
        # its own over the shipped VICReg recipe: lightly's optimizer and its crops.
        "w32-adam1e-3": {"backbone_args": {"width": 32}, **ADAM_1E3},
        "w32-crop0.14": {
            "backbone_args": {"width": 32},
            "augmentation_args": {"crop_scale": [0.14, 1.0]},
        },
        # After AdamW (2026-12-06) every method's 30-minute test-split kNN curve still flattens,
        # at 61-63% after about 20 minutes: the width-32 net's capacity (128 features, 140k
        # parameters) or the optimizer's rate. A fourth stage doubles the features for +14%
        # step time (it lost to three over 10 minutes under LARS, 49.5 vs 50.8), and twice the
        # rate; searched over 20 minutes, long enough for the curves to flatten.
        "w32-s4-adam1e-3": {"backbone_args": {"width": 32, "stages": 4}, **ADAM_1E3},
        "w32-adam2e-3": {"backbone_args": {"width": 32}, **ADAM_1E3, "lr": 2e-3},
        # Both gains of that search together: four stages at twice the rate.
        "w32-s4-adam2e-3": {"backbone_args": {"width": 32, "stages": 4}, **ADAM_1E3, "lr": 2e-3},
        # The four-stage recipe reaches 64.3% test kNN in 30 minutes (three seeds, 2026-12-06),
        # short of the 70%, and its curves still rise at the end. More capacity in the
        # cheap, low-resolution end of the net: a fifth stage (2x2, 512 features) and, over
        # four stages, width 48 (384 features, about 2x the first stage's cost).
        "w32-s5-adam1e-3": {"backbone_args": {"width": 32, "stages": 5}, **ADAM_1E3},
        "w48-s4-adam1e-3": {"backbone_args": {"width": 48, "stages": 4}, **ADAM_1E3},
        # More steps in the same minutes from cheaper views: the shipped recipe trained on
        # 24 px views of the 32 px images (about 56% of the convolutions' work per step) and
        # evaluated at 32 px, where random-resized crops make the larger test side match the
        # apparent object size (FixRes, Touvron et al. 2019).
        "w32-s4-view24-adam1e-3": four_stages_adamw(view_size=24),
        # 24 px views won by 3.5 held-out points over 20 minutes (2026-12-06) and the 30-minute
        # curve still rose at its end: smaller views still (20 px: about 39% of the 32 px
        # convolutions' work; 16 px: 25%, the fourth stage at 2x2), and the width that was
        # ahead per step at 32 px, now on 24 px views.
        "w32-s4-view20-adam1e-3": four_stages_adamw(view_size=20),
        "w32-s4-view16-adam1e-3": four_stages_adamw(view_size=16),
        "w48-s4-view24-adam1e-3": four_stages_adamw(view_size=24, width=48),
    },
    "simclr": {
        **SHARED_VARIANTS,
        "tau0.2": {"method_args": {"temperature": 0.2}},
        # lightly's SimCLR example beat the recipe over 30 minutes (BENCHMARKS.md, 2026-12-04)
        # with a 512-wide projector and plain SGD at 0.06: each of its differences on its own.
        "proj512": {"method_args": {"projector_dims": [512, 128]}},
        "sgd0.06": {"optimizer": "sgd", "lr": 0.06},
        # "view24-adam1e-3" (shared) over 10 minutes held out on the Ice Lake Xeon
        # (BENCHMARKS.md, 2026-12-07): 57.0 vs 51.9 for "adam1e-3", the shipped recipe then;
        # simclr.yaml took 24 px views.
    },
    "byol": {
        **SHARED_VARIANTS,
        "heads1024": {
            "method_args": {"projector_dims": [1024, 256], "predictor_dims": [1024, 256]}
        },
        # On a CPU without bf16 units (an Ice Lake Xeon) the AdamW recipe makes only 1,690 steps
        # in 30 minutes, the fewest of the six recipes (each step passes both views through the
        # online net and the target), and gives raw pixels + 15.9 kNN (BENCHMARKS.md,
        # 2026-12-07). What gave VICReg more steps and more accuracy, on BYOL: 24 px views on
        # three stages and on four, and a faster-moving target for a run this short.
        "s4-view24-adam1e-3": four_stages_adamw(view_size=24),
        # Over 10 minutes held out (BENCHMARKS.md, 2026-12-07) "view24-adam1e-3" won: 50.1 vs
        # 44.8 for the AdamW recipe, 46.5 with four stages, 49.4 with momentum 0.99 (in 20%
        # fewer steps); byol.yaml took 24 px views.
        "view24-adam1e-3-m0.99": {"view_size": 24, **ADAM_1E3, "method_args": {"momentum": 0.99}},
    },
    "barlowtwins": {
        **SHARED_VARIANTS,
        "proj8192": {"method_args": {"projector_dims": [8192, 8192, 8192]}},
        # "view24-adam1e-3" (shared) over 10 minutes held out on the Ice Lake Xeon
        # (BENCHMARKS.md, 2026-12-07): 55.8 vs 52.6 for "adam1e-3", the shipped recipe then;
        # barlowtwins.yaml took 24 px views.
    },
    "swav": {
        **SHARED_VARIANTS,
        "proto300": {"method_args": {"num_prototypes": 300}},
        "two-crops": {"augmentation": "simclr"},
        # lightly's SwAV example beat the recipe by 12.8 kNN points over 30 minutes on the same
        # machine (BENCHMARKS.md, 2026-12-06): each of its differences on its own, then all.
        # Adam without weight decay at 1e-3 (its constant rate; eblearn keeps warm-up + cosine),
        # two 32-px crops of at least 14% of the image, 512 prototypes after a 512-wide
        # projector, prototypes never frozen.
        "two-crops0.14": LIGHTLY_SWAV_VIEWS,
        "proto512-proj512": LIGHTLY_SWAV_HEADS,
        "lightly-settings": LIGHTLY_SWAV_SETTINGS,
        # The shipped recipe (lightly-settings) flattens after ~2,500 steps over 30 minutes, two
        # seeds (BENCHMARKS.md, 2026-12-06), as VICReg's three-stage net did before a fourth
        # stage lifted it: the same fourth stage on SwAV's recipe, to compare with
        # "lightly-settings" over 20 minutes.
        "lightly-settings-s4": {**LIGHTLY_SWAV_SETTINGS, "backbone_args": {"stages": 4}},
        # That lost (57.6 vs 59.6 held-out, 2026-12-06); VICReg's next gain, 24 px views, on it.
        "lightly-settings-view24": {**LIGHTLY_SWAV_SETTINGS, "view_size": 24},
        # Over 10 minutes held out on the Ice Lake Xeon (BENCHMARKS.md, 2026-12-07): 55.1 vs
        # 50.9 for "lightly-settings"; swav.yaml took 24 px views.
    },
    "mocov2": {
        **SHARED_VARIANTS,
        "m0.999": {"method_args": {"momentum": 0.999}},
        # "view24-adam1e-3" (shared) over 10 minutes held out on the Ice Lake Xeon
        # (BENCHMARKS.md, 2026-12-07): 54.4 vs 48.8 for "adam1e-3", the shipped recipe then;
        # mocov2.yaml took 24 px views.
    },
}
"""Named option sets per method, searched in this order; each is laid over the method's base
(``backbone_args`` and ``method_args`` key by key, see :func:`candidate_options`)."""


def candidate_options(method: str, name: str) -> dict[str, Any]:
    """The base options of ``method`` with candidate ``name`` laid over them; the nested
    ``backbone_args``, ``method_args`` and ``augmentation_args`` are merged key by key, not
    replaced."""
    base, candidate = BASE[method], CANDIDATES[method][name]
    options = {**base, **candidate}
    for key in ("backbone_args", "method_args", "augmentation_args"):
        if key in base and key in candidate:
            options[key] = {**base[key], **candidate[key]}
    return options


def warm_up(data: str) -> None:
    """Pays, once and before any candidate's clock starts, what only the first candidate would
    otherwise pay inside its budget: the engine's lazy imports (Lightning among them) and the
    first read of the arrays from disk. The SimCLR search of 2026-12-04 ranked its first
    candidate, the shipped recipe, 4 points lower than a rerun of the same candidate did."""
    import eblearn.train.runs  # noqa: F401 - Lightning and the training engine
    from eblearn.data.registry import load_dataset

    load_dataset(data)


def run_candidate(options: dict[str, Any], budget: str, seed: int, folder: Path) -> dict[str, Any]:
    """Pretrains one candidate on the held-out split; its final kNN, steps and epochs."""
    config = TrainConfig.from_dict(
        {
            **options,
            "data": f"npz:{cifar10_heldout()}",
            "time_budget": budget,
            "eval_every": 1_000_000,  # the monitor scores the last epoch only
            "seed": seed,
            "run_dir": str(folder),
            "progress_bar": False,
        },
        "candidate",
    )
    started = time.perf_counter()
    pretrained = pretrain(config)
    seconds = time.perf_counter() - started  # includes the one final kNN evaluation
    rows = read_history(folder / "log.csv")
    knn = [row["eval/knn"] for row in rows if "eval/knn" in row]
    steps = max(int(row["step"]) for row in rows) + 1 if rows else 0
    epochs = max(int(row["epoch"]) for row in rows) + 1 if rows else 0
    return {
        "knn": knn[-1] if knn else float("nan"),
        "steps": steps,
        "epochs": epochs,
        "seconds": seconds,
        "batch": pretrained.config.batch_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="vicreg", choices=sorted(CANDIDATES))
    parser.add_argument("--budget", default="3m", help="wall budget per candidate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="", help="comma-separated candidate names")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--append", action="store_true", help="append to BENCHMARKS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    candidates = CANDIDATES[args.method]
    names = [n for n in args.only.split(",") if n] or list(candidates)
    unknown = sorted(set(names) - set(candidates))
    if unknown:
        parser.error(f"unknown candidates {unknown}; choose from {sorted(candidates)}")
    results = {}
    warm_up(f"npz:{cifar10_heldout()}")
    with tempfile.TemporaryDirectory(prefix="eblearn-search-") as scratch:
        for name in names:
            results[name] = run_candidate(
                candidate_options(args.method, name), args.budget, args.seed, Path(scratch) / name
            )
            print(f"{name}: {results[name]}", flush=True)
    best = max(results, key=lambda n: results[n]["knn"])
    rows = [
        [
            name,
            ", ".join(f"{k}={v}" for k, v in candidates[name].items()),
            f"{r['knn']:.1%}",
            r["steps"],
            r["epochs"],
            f"{r['seconds'] / 60:.1f}",
            "**chosen**" if name == best else "",
        ]
        for name, r in results.items()
    ]
    body = (
        f"{args.method} on CIFAR-10, each candidate pretrained for a wall budget of "
        f"{args.budget} (data preparation included) on 45,000 training images and scored by "
        "the kNN accuracy (k=20, T=0.07) of the 5,000 held-out training images; the test split "
        f"is not used. Base options: {BASE[args.method]}; seed {args.seed}, "
        f"{args.threads} torch thread(s). Minutes include the final kNN evaluation.\n\n"
        + markdown_table(
            ["candidate", "options", "held-out kNN", "steps", "epochs", "minutes", ""], rows
        )
    )
    if args.append:
        append_section(f"CIFAR-10 recipe search for {args.method} (held-out split)", body)
    else:
        print(body)


if __name__ == "__main__":
    main()
