"""Spoken digits with few labels: a self-supervised speech encoder against log-mel features and
against the same network trained from scratch (issue 15; wav2vec 2.0's claim at small scale).

The Free Spoken Digit Dataset (Z. Jackson et al., CC BY-SA 4.0; 6 speakers × 10 digits × 50
takes at 8 kHz) is split by its own convention (takes 0–4 test). The encoder is pretrained
without labels on the training takes for ``--minutes`` (one thread by default); then, with 1,
5, 10 and all labeled takes per (digit, speaker) cell (60, 300, 600 = 10× the first, 2,700
labels), and with one speaker held out of the labels entirely, the digit classifier is

(a) a linear probe on the frozen pretrained encoder's pooled features (``--readout``, the
    mean and std over time of one layer),
(b) logistic regression on pooled log-mel features (mean and std of 40 bands),
(c) the same network trained from scratch on those labels (``--supervised-steps``).

    PYTHONPATH=src python benchmarks/bench_fsdd_probe.py --minutes 20 [--append] [--figures DIR]

It prints the table; BENCHMARKS.md is written only with ``--append``.

Model selection (``--validate``): the test takes are never looked at. Pretraining and labels
use training takes 10–49 and the probes score takes 5–9; ``--readout all`` scores every layer.
Two 6-minute runs on one thread of a shared, heavily loaded CPU (load 6–9 on 2 cores), 60
labels (1 per cell, 3 draws), against log-mel's 0.767 ± 0.029 on the same takes:

=====================================================  ==========  =============  ============
run (both: width 64, 64 conv channels, mean+std pool)   steps       frames         context
=====================================================  ==========  =============  ============
wav2vec2, AdamW 5e-4, depth 2, 32×2 codes, span 5      272         0.346 ± 0.020  0.277 (block 2)
CPC (GRU, 6 steps ahead), AdamW 2e-3                   485         0.727 ± 0.035  0.757 ± 0.019
=====================================================  ==========  =============  ============

wav2vec2's contrastive loss was still at chance after 272 steps (3.048 against ln 21 = 3.045):
its Gumbel temperature was still 1.6–1.8, so the quantized targets are mostly noise early on,
and a CPU budget of minutes does not get it past that. CPC learns from the first hundred steps
(InfoNCE 5.77 → 4.13), and its context reads better than its conv frames. The defaults below
are that choice: CPC, AdamW 2e-3 with warm-up and a cosine over the time budget, the probe on
the mean+std of the context. With them, 18 minutes on a quiet core (4,287 steps) gave 0.920
with 60 labels on the test takes, against 0.757 for log-mel and 0.727 (0.870 with 600 labels)
for the network from scratch (BENCHMARKS.md, docs/speech.md).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import ROOT, append_section, machine, markdown_table

from eblearn.data.mel import pooled_log_mel
from eblearn.data.speech import load_fsdd, split_by_take
from eblearn.data.speech_views import SpeechViews, random_crop
from eblearn.data.time_masks import span_mask
from eblearn.evaluate.speech import (
    POOLINGS,
    AudioClassifier,
    BudgetResult,
    encode_layers,
    evaluate_budgets,
    held_out_speaker_budgets,
    label_budgets,
    probe_scorer,
    supervised_scorer,
)
from eblearn.methods.speech import CPC, Wav2Vec2
from eblearn.nn.audio import AudioEncoder, gru_audio_encoder, padding_mask, small_audio_encoder
from eblearn.plot.speech import plot_codebook_usage, plot_label_curves, plot_span_mask

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "fsdd" / "fsdd.npz"
SHOTS = (1, 5, 10, None)
"""Labeled takes per (digit, speaker) cell: 60, 300, 600 (10× the first) and all labels."""
VALIDATION_TAKES = 10
"""With ``--validate``, training takes below this (5-9) are scored, the rest (10-49) train."""


def build_encoder(method: str, dim: int, depth: int, channels: int) -> AudioEncoder:
    """The network of (a) and (c): wav2vec 2.0's conv + Transformer, or CPC's conv + GRU."""
    if method == "wav2vec2":
        return small_audio_encoder(dim=dim, depth=depth, heads=4, channels=channels)
    return gru_audio_encoder(dim=dim, channels=channels)


def build_method(args: argparse.Namespace) -> Wav2Vec2 | CPC:
    """The self-supervised model of (a) with the command line's settings."""
    encoder = build_encoder(args.method, args.dim, args.depth, args.channels)
    if args.method == "cpc":
        return CPC(encoder, steps=args.cpc_steps)
    return Wav2Vec2(
        encoder,
        entries=args.entries,
        mask_prob=args.mask_prob,
        mask_span=args.mask_span,
        num_distractors=args.distractors,
        diversity_weight=args.diversity,
        quantizer_temperature=(2.0, 0.5, args.quantizer_decay),
    )


def pretrain(
    model: Wav2Vec2 | CPC,
    waveforms: torch.Tensor,
    lengths: torch.Tensor,
    minutes: float,
    crop: int,
    batch_size: int,
    lr: float,
    seed: int,
) -> tuple[int, float]:
    """AdamW on random crops until ``minutes`` have passed, the learning rate warmed up
    linearly over 100 steps, then on a cosine of the elapsed fraction of the budget (so it
    reaches 0 when time is up); returns the steps taken and the last loss (mean of the last
    20 steps)."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    model.train()
    budget = 60 * minutes
    recent: list[float]
    start = time.perf_counter()
    step, recent = 0, []  # recent: the last 20 losses
    while (elapsed := time.perf_counter() - start) < budget:
        factor = min(1.0, (step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * elapsed / budget))
        for group in optimizer.param_groups:
            group["lr"] = lr * factor
        index = torch.randint(len(waveforms), (batch_size,), generator=generator)
        x, n = random_crop(waveforms[index], lengths[index], crop, generator)
        out = model(x, n, generator)
        optimizer.zero_grad()
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        model.on_step_end(step, 0)
        recent = [*recent[-19:], float(out["loss"].detach())]
        step += 1
        if step % 100 == 0:
            terms = ", ".join(
                f"{k} {float(v):.3f}" for k, v in out.items() if v.ndim == 0 and k != "loss"
            )
            print(f"step {step} ({elapsed:.0f} s): loss {recent[-1]:.3f} ({terms})", flush=True)
    return step, sum(recent) / max(1, len(recent))


@torch.no_grad()
def draw_figures(
    folder: Path,
    model: Wav2Vec2 | CPC,
    waveforms: torch.Tensor,
    lengths: torch.Tensor,
    results: dict[str, list[BudgetResult]],
) -> None:
    """The span mask on the first test recording, the codebook usage over the test frames
    (wav2vec 2.0) and accuracy against labels (the per-cell settings)."""
    model.eval()
    encoder = model.encoder
    frames = int(encoder.feature_encoder.output_lengths(lengths[:1]))
    hop = int(torch.tensor(encoder.feature_encoder.strides).prod())
    mask = span_mask(lengths[:1] // hop, frames, 0.065, 10, 2, torch.Generator().manual_seed(0))
    print(
        plot_span_mask(waveforms[0, : int(lengths[0])], mask[0], hop, folder / "speech_masking.png")
    )
    if isinstance(model, Wav2Vec2):
        indices = []
        for i in range(0, len(waveforms), 64):
            x, n = waveforms[i : i + 64], lengths[i : i + 64]
            z = encoder.frames(x)
            valid = ~padding_mask(encoder.frame_lengths(n, x), z.shape[1])
            indices.append(model.quantizer(z).indices[valid])
        print(
            plot_codebook_usage(
                torch.cat(indices), model.quantizer.entries, folder / "speech_codebook.png"
            )
        )
    curves = {
        name: [(r.labels, r.accuracy) for r in rows if r.setting.endswith("per cell")]
        for name, rows in results.items()
    }
    print(plot_label_curves(curves, folder / "speech_labels.png"))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--method", choices=("wav2vec2", "cpc"), default="cpc")
    parser.add_argument("--minutes", type=float, default=20.0, help="pretraining budget")
    parser.add_argument("--length", type=int, default=6000, help="samples per recording")
    parser.add_argument("--crop", type=int, default=4000, help="samples per training crop")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--entries", type=int, default=32)
    parser.add_argument("--mask-prob", type=float, default=0.065)
    parser.add_argument("--mask-span", type=int, default=5)
    parser.add_argument("--distractors", type=int, default=20)
    parser.add_argument("--diversity", type=float, default=0.1)
    parser.add_argument("--quantizer-decay", type=float, default=0.999)
    parser.add_argument("--cpc-steps", type=int, default=6)
    parser.add_argument(
        "--readout",
        default="context",
        help="layer the probe reads (frames, block<i>, context, all)",
    )
    parser.add_argument("--pooling", choices=POOLINGS, default="mean+std")
    parser.add_argument("--repeats", type=int, default=3, help="label draws per setting")
    parser.add_argument("--supervised-steps", type=int, default=600)
    parser.add_argument(
        "--supervised-repeats", type=int, default=1, help="label draws per setting for (c)"
    )
    parser.add_argument("--no-supervised", action="store_true", help="skip (c)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--validate",
        action="store_true",
        help="model selection: pretrain and label on training takes 10-49, score takes 5-9",
    )
    parser.add_argument("--append", action="store_true", help="write BENCHMARKS.md")
    parser.add_argument(
        "--figures", type=Path, default=None, help="folder for the masking, codebook and curve PNGs"
    )
    return parser.parse_args()


def checked_readouts(
    model: Wav2Vec2 | CPC,
    waveforms: torch.Tensor,
    lengths: torch.Tensor,
    readout: str,
    pooling: str,
) -> list[str]:
    """The layers ``--readout`` names (``all``: every one), checked against the untrained
    encoder's layers on two recordings, so that a wrong name stops the run before the
    pretraining, not after it."""
    layers = list(encode_layers(model.encoder, waveforms[:2], lengths[:2], pooling))
    readouts = layers if readout == "all" else [readout]
    unknown = [r for r in readouts if r not in layers]
    if unknown:
        raise SystemExit(
            f"unknown --readout {unknown[0]!r} for this encoder; valid: all, {', '.join(layers)}"
        )
    return readouts


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    began = time.perf_counter()

    train, test = split_by_take(load_fsdd(args.data))
    if args.validate:  # the test takes stay unseen: takes 5-9 play their part
        train, test = split_by_take(train, VALIDATION_TAKES)
    train_x, train_n = train.batch(length=args.length)
    test_x, test_n = test.batch(length=args.length)
    split = "validation (takes 5-9 scored)" if args.validate else "test (takes 0-4 scored)"
    print(f"{split}: {len(train)} train / {len(test)} scored recordings, {args.length} samples")

    model = build_method(args)
    readouts = checked_readouts(model, train_x, train_n, args.readout, args.pooling)
    start = time.perf_counter()
    steps, last_loss = pretrain(
        model, train_x, train_n, args.minutes, args.crop, args.batch_size, args.lr, args.seed
    )
    pretrain_seconds = time.perf_counter() - start
    print(f"pretrained {steps} steps in {pretrain_seconds:.0f} s, loss {last_loss:.3f}")

    budgets = label_budgets(train, test, SHOTS, args.repeats, args.seed)
    budgets += held_out_speaker_budgets(train, test)
    train_layers = encode_layers(model.encoder, train_x, train_n, args.pooling)
    test_layers = encode_layers(model.encoder, test_x, test_n, args.pooling)
    scorers = {
        f"(a) {args.method} {name} + linear probe": probe_scorer(
            train_layers[name], train.labels, test_layers[name], test.labels
        )
        for name in readouts
    }
    scorers["(b) log-mel + logistic regression"] = probe_scorer(
        pooled_log_mel(train_x, train_n, train.sample_rate),
        train.labels,
        pooled_log_mel(test_x, test_n, test.sample_rate),
        test.labels,
    )
    results: dict[str, list[BudgetResult]] = {}
    for name, scorer in scorers.items():
        results[name] = evaluate_budgets(budgets, scorer)
    if not args.no_supervised:
        began_c = time.perf_counter()
        scorer = supervised_scorer(
            lambda: AudioClassifier(
                build_encoder(args.method, args.dim, args.depth, args.channels), 10
            ),
            train_x,
            train_n,
            train.labels,
            test_x,
            test_n,
            test.labels,
            steps=args.supervised_steps,
            batch_size=min(args.batch_size, 32),
            lr=1e-3,
            views=SpeechViews(args.crop),
            seed=args.seed,
        )
        per_cell = label_budgets(train, test, SHOTS, args.supervised_repeats, args.seed)
        results["(c) same network from scratch"] = evaluate_budgets(per_cell, scorer)
        print(f"(c): {time.perf_counter() - began_c:.0f} s", flush=True)

    settings = results[next(iter(results))]
    rows = [
        [
            setting.setting,
            setting.labels,
            *(_cell(rows, setting.setting) for rows in results.values()),
        ]
        for setting in settings
    ]
    table = markdown_table(["labels", "labeled recordings", *results], rows)
    wav2vec = (
        f"{args.entries} entries × 2 codebooks, mask p {args.mask_prob} span {args.mask_span}, "
        f"{args.distractors} distractors, diversity weight {args.diversity}, Gumbel "
        f"temperature 2 → 0.5 by ×{args.quantizer_decay} per step"
        if args.method == "wav2vec2"
        else f"{args.cpc_steps} steps ahead"
    )
    context = "a GRU" if args.method == "cpc" else f"{args.depth} Transformer blocks"
    body = (
        f"FSDD (Free Spoken Digit Dataset, Z. Jackson et al., CC BY-SA 4.0), {split}, "
        f"{len(train)} train / {len(test)} scored takes, recordings cut or padded to "
        f"{args.length} samples at 8 kHz. (a) {args.method} (conv {args.channels} channels, "
        f"width {args.dim}, {context}; {wav2vec}) pretrained without labels on the "
        f"training takes for {steps} steps ({pretrain_seconds / 60:.1f} min on "
        f"{args.threads} thread(s), batch {args.batch_size} crops of {args.crop} samples, AdamW "
        f"{args.lr} with warm-up and cosine, last loss {last_loss:.3f}), frozen; the probe "
        f"reads the {args.pooling} over time of layer {args.readout}. (b) mean and std "
        "of 40 log-mel bands. (c) the same network trained from scratch on the labeled takes "
        f"for {args.supervised_steps} steps with speed/gain/noise views, "
        f"{args.supervised_repeats} label draw(s) per setting (not run for the held-out "
        "speaker: —). Accuracy on the scored takes (held-out speaker: that "
        "speaker's scored takes, mean ± std over the 6 speakers; the pretraining saw their "
        f"unlabeled training takes); ± over {args.repeats} label draws. Whole run "
        f"{(time.perf_counter() - began) / 60:.1f} min.\n\n{table}\n"
    )
    print(body)
    print(machine())
    if args.figures is not None:
        draw_figures(args.figures, model, test_x, test_n, results)
    if args.append:
        append_section("Spoken digits with few labels (FSDD)", body)


def _cell(results: list[BudgetResult], setting: str) -> str:
    """``accuracy ± std`` of ``setting`` in ``results`` (``—`` where it was not run)."""
    for r in results:
        if r.setting == setting:
            return f"{r.accuracy:.3f} ± {r.std:.3f}" if r.fits > 1 else f"{r.accuracy:.3f}"
    return "—"


if __name__ == "__main__":
    main()
