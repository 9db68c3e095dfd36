"""Feature extraction for the probes in each precision and layout: seconds and accuracy.

Every evaluation of an image run (each point of the ``--eval-every`` kNN curve, the final
probes, ``eval``, ``embed``, ``neighbors``) encodes all its training and test images. This
script loads a trained run folder and extracts those features in each setting
(:class:`eblearn.evaluate.Inference`): float32 contiguous (what every extraction did until
2026-12-07), float32 ``channels_last``, and bf16 autocast + ``channels_last`` where the CPU
or GPU has native bf16 (with ``--bf16`` also where it is emulated: its accuracy is then
meaningful, its time is not). For each setting it prints the median seconds of encoding the
test split (repetitions interleaved across settings), the seconds of one full train + test
extraction, the features' relative difference from float32 contiguous
(``||f - f32|| / ||f32||``), and the run's probes on those features (kNN, linear, 10% and 1%
labels, the protocol of ``eblearn eval``), and names the setting the run's own evaluation now
uses (:func:`eblearn.train.precision.inference_setting`).

    python benchmarks/bench_extraction.py benchmarks/out/cifar10-budget/<run> [--bf16] [--append]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from _report import append_section, interleaved_runs, machine, markdown_table

from eblearn.app.evaluation import evaluate_pretrained
from eblearn.app.train import load_pretrained
from eblearn.evaluate import FLOAT32, Inference, extract_features
from eblearn.train.precision import inference_setting, is_convolutional, native_bf16


def candidate_settings(convolutional: bool, bf16: bool) -> list[Inference]:
    """float32 contiguous, float32 ``channels_last`` (convolutional encoders), bf16 autocast
    (in ``channels_last`` for a convolutional encoder) when ``bf16``."""
    settings = [FLOAT32]
    if convolutional:
        settings.append(Inference(channels_last=True))
    if bf16:
        settings.append(Inference(torch.bfloat16, channels_last=convolutional))
    return settings


def measure(run_dir: Path, repeats: int, timing_images: int | None, bf16: bool) -> str:
    """The table of every setting on the run in ``run_dir``, with a line of context."""
    pretrained = load_pretrained(run_dir)
    config, data = pretrained.config, pretrained.data
    device = torch.device("cpu")
    encoder = pretrained.method.encoder.to(device)
    transform = pretrained.eval_transform.to(device)
    native = native_bf16(device)
    settings = candidate_settings(is_convolutional(encoder), bf16 or native)
    timing = data.test.images[:timing_images]

    def extraction(setting: Inference):
        return lambda: extract_features(encoder, timing, transform, inference=setting)

    seconds, _ = interleaved_runs(
        {s.name: extraction(s) for s in settings}, repeats=repeats, warmup=1
    )
    rows, reference = [], None
    for setting in settings:
        start = time.perf_counter()
        train = extract_features(encoder, data.train.images, transform, inference=setting)
        test = extract_features(encoder, data.test.images, transform, inference=setting)
        full_s = time.perf_counter() - start
        features = torch.cat([train, test])
        reference = features if reference is None else reference
        difference = float((features - reference).norm() / reference.norm())
        report, _, _ = evaluate_pretrained(pretrained, features=(train, test))
        emulated = " (emulated bf16)" if setting.autocast_dtype is not None and not native else ""
        rows.append(
            [
                setting.name + emulated,
                f"{seconds[setting.name]:.2f}",
                f"{seconds[FLOAT32.name] / seconds[setting.name]:.2f}×",
                f"{full_s:.1f}",
                f"{difference:.1e}",
                f"{100 * report.knn:.2f}",
                f"{100 * report.linear:.2f}",
                f"{100 * report.few_label[0.1]:.2f}",
                f"{100 * report.few_label[0.01]:.2f}",
            ]
        )
    chosen = inference_setting(config.precision, config.memory_format, encoder, device)
    header = [
        "setting",
        f"s per {len(timing):,} test images (median of {repeats})",
        "speed-up",
        f"s for all {len(data.train.images) + len(data.test.images):,}",
        "feature difference",
        "kNN",
        "linear",
        "10% labels",
        "1% labels",
    ]
    context = (
        f"Run `{run_dir.name}` ({config.method}, {config.backbone} {config.backbone_args}, "
        f"{config.image_size} px, trained in {config.precision} {config.memory_format}) on "
        f"{config.data}, encoder on the CPU with {torch.get_num_threads()} threads; native bf16: "
        f"{native}. Its evaluation now extracts in **{chosen.name}**. Accuracies in % on all "
        "test images, the probes of `eblearn eval`."
    )
    return context + "\n\n" + markdown_table(header, rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run folder written by eblearn train")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (default: 3)")
    parser.add_argument(
        "--timing-images", type=int, default=None, help="test images timed (default: all)"
    )
    parser.add_argument(
        "--bf16", action="store_true", help="also bf16 where emulated (accuracy, not speed)"
    )
    parser.add_argument("--append", action="store_true", help="append to BENCHMARKS.md")
    args = parser.parse_args(argv)
    body = measure(args.run_dir, args.repeats, args.timing_images, args.bf16)
    if args.append:
        append_section("Feature extraction in each precision and layout", body)
    else:
        print(f"Machine: {machine()}\n\n{body}")


if __name__ == "__main__":
    main()
