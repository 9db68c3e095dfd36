"""The default job (`eblearn train`: VICReg on digits) over several seeds, against its targets.

python benchmarks/digits_default.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import statistics

from _report import append_section, markdown_table

from eblearn.app import train_and_evaluate
from eblearn.train import TrainConfig

TARGETS = {"kNN": 0.98, "linear": 0.985, "linear, 10% labels": 0.95}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    measured: dict[str, list[float]] = {name: [] for name in TARGETS}
    pixels: dict[str, float] = {}
    seconds = []
    for seed in args.seeds:
        config = TrainConfig(
            seed=seed, run_dir=f"benchmarks/out/runs/digits-s{seed}", progress_bar=False
        )
        summary = train_and_evaluate(config, overwrite=True)
        assert summary is not None
        seconds.append(summary.seconds)
        for name, ours, raw in (
            ("kNN", summary.encoder.knn, summary.pixels.knn),
            ("linear", summary.encoder.linear, summary.pixels.linear),
            ("linear, 10% labels", summary.encoder.few_label[0.1], summary.pixels.few_label[0.1]),
        ):
            measured[name].append(ours)
            pixels[name] = raw
    rows = []
    for name, values in measured.items():
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        rows.append(
            [
                name,
                " / ".join(f"{v:.1%}" for v in values),
                f"{statistics.mean(values):.1%} ± {spread:.1%}",
                f"≥ {TARGETS[name]:.1%}",
                "met" if statistics.mean(values) >= TARGETS[name] else "missed",
                f"{pixels[name]:.1%}",
            ]
        )
    table = markdown_table(
        [
            "probe (digits test split, 450 images)",
            f"seeds {args.seeds}",
            "mean ± std",
            "target",
            "",
            "raw pixels",
        ],
        rows,
    )
    append_section(
        "Default job: VICReg on digits (`eblearn train`)",
        f"ConvNet (width 32), 16-px views, 60 epochs, batch 256, AdamW; the job's wall time "
        f"per seed (training + evaluation + figures): "
        f"{', '.join(f'{s:.0f} s' for s in seconds)}.\n\n{table}",
    )


if __name__ == "__main__":
    main()
