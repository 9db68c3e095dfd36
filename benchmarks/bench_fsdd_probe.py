"""Spoken digits with few labels: a self-supervised speech encoder against log-mel features and
against the same network trained from scratch (issue 15; wav2vec 2.0's claim at small scale).

The Free Spoken Digit Dataset (Z. Jackson et al., CC BY-SA 4.0; 6 speakers × 10 digits × 50
takes at 8 kHz) is split by its own convention (takes 0–4 test). The encoder is pretrained
without labels on the training takes for ``--minutes``; then, with 1, 5 and all labeled takes
per (digit, speaker) cell, and with one speaker held out of the labels entirely, the digit
classifier is

(a) a linear probe on the pretrained encoder's time-pooled features,
(b) logistic regression on pooled log-mel features (mean and std of 40 bands),
(c) the same network trained from scratch on those labels (``--supervised-steps``).

    PYTHONPATH=src python benchmarks/bench_fsdd_probe.py --minutes 20 [--append]

It prints the table; BENCHMARKS.md is written only with ``--append``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import ROOT, append_section, markdown_table

from eblearn.data.mel import pooled_log_mel
from eblearn.data.speech import load_fsdd, split_by_take
from eblearn.data.speech_views import SpeechViews, random_crop
from eblearn.data.time_masks import span_mask
from eblearn.evaluate.speech import (
    AudioClassifier,
    BudgetResult,
    encode_recordings,
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


def build_encoder(method: str, dim: int, depth: int) -> AudioEncoder:
    """The network of (a) and (c): wav2vec 2.0's conv + Transformer, or CPC's conv + GRU."""
    if method == "wav2vec2":
        return small_audio_encoder(dim=dim, depth=depth, heads=4, channels=dim)
    return gru_audio_encoder(dim=dim, channels=dim)


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
    """AdamW with a 100-step linear warm-up on random crops until ``minutes`` have passed;
    returns the steps taken and the last loss (mean of the last 20 steps)."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 100))
    model.train()
    deadline = time.perf_counter() + 60 * minutes
    step, recent = 0, []
    while time.perf_counter() < deadline:
        index = torch.randint(len(waveforms), (batch_size,), generator=generator)
        x, n = random_crop(waveforms[index], lengths[index], crop, generator)
        out = model(x, n, generator)
        optimizer.zero_grad()
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        schedule.step()
        model.on_step_end(step, 0)
        recent = [*recent[-19:], float(out["loss"].detach())]
        step += 1
        if step % 50 == 0:
            terms = ", ".join(
                f"{k} {float(v):.3f}" for k, v in out.items() if v.ndim == 0 and k != "loss"
            )
            print(f"step {step}: loss {recent[-1]:.3f} ({terms})", flush=True)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--method", choices=("wav2vec2", "cpc"), default="wav2vec2")
    parser.add_argument("--minutes", type=float, default=20.0, help="pretraining budget")
    parser.add_argument("--length", type=int, default=6000, help="samples per recording")
    parser.add_argument("--crop", type=int, default=4000, help="samples per training crop")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--repeats", type=int, default=3, help="label draws per setting")
    parser.add_argument("--supervised-steps", type=int, default=600)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--append", action="store_true", help="write BENCHMARKS.md")
    parser.add_argument(
        "--figures", type=Path, default=None, help="folder for the masking, codebook and curve PNGs"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    train, test = split_by_take(load_fsdd(args.data))
    train_x, train_n = train.batch(length=args.length)
    test_x, test_n = test.batch(length=args.length)
    print(f"{len(train)} train / {len(test)} test recordings, {args.length} samples each")

    encoder = build_encoder(args.method, args.dim, args.depth)
    model: Wav2Vec2 | CPC = Wav2Vec2(encoder) if args.method == "wav2vec2" else CPC(encoder)
    start = time.perf_counter()
    steps, last_loss = pretrain(
        model, train_x, train_n, args.minutes, args.crop, args.batch_size, args.lr, args.seed
    )
    pretrain_seconds = time.perf_counter() - start
    print(f"pretrained {steps} steps in {pretrain_seconds:.0f} s, loss {last_loss:.3f}")

    budgets = label_budgets(train, test, (1, 5, None), args.repeats, args.seed)
    budgets += held_out_speaker_budgets(train, test)
    scorers = {
        "(a) pretrained + linear probe": probe_scorer(
            encode_recordings(model.encoder, train_x, train_n),
            train.labels,
            encode_recordings(model.encoder, test_x, test_n),
            test.labels,
        ),
        "(b) log-mel + logistic regression": probe_scorer(
            pooled_log_mel(train_x, train_n, train.sample_rate),
            train.labels,
            pooled_log_mel(test_x, test_n, test.sample_rate),
            test.labels,
        ),
        "(c) same network from scratch": supervised_scorer(
            lambda: AudioClassifier(build_encoder(args.method, args.dim, args.depth), 10),
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
        ),
    }
    results: dict[str, list[BudgetResult]] = {}
    for name, scorer in scorers.items():
        began = time.perf_counter()
        results[name] = evaluate_budgets(budgets, scorer)
        print(f"{name}: {time.perf_counter() - began:.0f} s", flush=True)

    settings = results[next(iter(results))]
    rows = [
        [
            setting.setting,
            setting.labels,
            *(
                f"{r[i].accuracy:.3f} ± {r[i].std:.3f}" if r[i].fits > 1 else f"{r[i].accuracy:.3f}"
                for r in results.values()
            ),
        ]
        for i, setting in enumerate(settings)
    ]
    table = markdown_table(["labels", "labeled recordings", *scorers], rows)
    body = (
        f"FSDD (Free Spoken Digit Dataset, Z. Jackson et al., CC BY-SA 4.0), "
        f"{len(train)} train / {len(test)} test takes, recordings cut or padded to "
        f"{args.length} samples at 8 kHz. (a) {args.method} (width {args.dim}, depth "
        f"{args.depth}) pretrained without labels for {steps} steps ({pretrain_seconds / 60:.1f} "
        f"min, batch {args.batch_size} crops of {args.crop} samples, last loss {last_loss:.3f}); "
        f"(c) the same network trained from scratch for {args.supervised_steps} steps with "
        "speed/gain/noise views. Test accuracy on all test takes (held-out speaker: that "
        "speaker's test takes, mean ± std over the 6 speakers; the pretraining saw their "
        f"unlabeled training takes); ± over {args.repeats} label draws.\n\n{table}\n"
    )
    print(body)
    if args.figures is not None:
        draw_figures(args.figures, model, test_x, test_n, results)
    if args.append:
        append_section("Spoken digits with few labels (FSDD)", body)


if __name__ == "__main__":
    main()
