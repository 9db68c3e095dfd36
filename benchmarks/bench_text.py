"""Text benchmarks on the embedded Tiny Shakespeare: the masked language model against n-gram
baselines, and the speaker probe against a bag of characters.

Training budget: ``--epochs`` passes of ``eblearn train --data shakespeare --method mlm
--tokenizer TOKENIZER`` (default 4 epochs of characters, the out-of-the-box recipe: 980 steps
of batch 64, about 2 minutes on one quiet CPU core; ``--tokenizer word --epochs 16`` makes 880
steps of batch 64 over word windows), on one torch thread. The run folder (``--run-dir``) is
kept; a finished run of the same recipe found there is evaluated again instead of retrained
(one of another recipe is refused). ``--seed`` trains another seed of the recipe and
``--backbone-arg`` changes the Transformer (e.g. ``dim=128``); the speeches' split, folds and
bootstrap keep ``--split-seed`` (default 0), so that every training seed is read on the same
test speeches.

1. **Masked tokens** — the run's own table (``results.json``): accuracy and cross-entropy on
   15% of the held-out text (BERT's 80/10/10 corruption, one seeded draw) for the model and
   for unigram, bigram and trigram models fitted on the training part.
2. **Speaker probe** — the speeches of the 10 most frequent speakers, split 80/20 stratified
   (the split of ``eblearn train``'s probe). Feature choices, each with a bag of the run's
   tokens (characters, words or subwords) of the same text beside it: the first window of
   each speech, its first ``--windows`` windows, or ``all`` of them (the whole speech, where
   the bag of characters and the bag of words of that text are both given); the encoder's
   output states mean-pooled (what ``eblearn train`` reports) or every stage's (embeddings,
   blocks, output), over every real token the windows hold. Each choice is scored by
   ``--folds``-fold cross-validation **inside the training speeches**; the encoder choice
   with the best such score is the one selected, and only then are the test speeches scored
   (for every row, so that the selection can be read against them). Its differences from
   the baselines of the same text come with 95% paired bootstrap intervals (``--draws``
   resamplings), on the test speeches and on the out-of-fold predictions of the training
   speeches.

    python benchmarks/bench_text.py                              # trains, then evaluates
    python benchmarks/bench_text.py --run-dir runs/bench-text --append
    python benchmarks/bench_text.py --tokenizer word --epochs 16 --windows all
    python benchmarks/bench_text.py --tokenizer word --epochs 48 --backbone-arg dim=128 --seed 1
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from _report import append_section, markdown_table
from torch import Tensor

from eblearn.app.train import load_pretrained, read_run_config
from eblearn.cli import main as eblearn
from eblearn.data.images import stratified_split
from eblearn.data.tokenizers import CharTokenizer, WordTokenizer
from eblearn.evaluate.bootstrap import paired_bootstrap
from eblearn.evaluate.linear import LinearProbe
from eblearn.evaluate.speakers import (
    TEST_FRACTION,
    bag_of_characters,
    cross_validated_hits,
    layer_features,
    speaker_speeches,
    speech_window_stack,
    speech_windows,
    windows_to_cover,
)
from eblearn.train.precision import inference_setting

RECIPE = ["--data", "shakespeare", "--method", "mlm", "--no-progress"]


def recipe_arguments(epochs: int, tokenizer: str, seed: int, backbone_args: list[str]) -> list[str]:
    """``eblearn train``'s arguments for this benchmark's run."""
    extra = [part for arg in backbone_args for part in ("--backbone-arg", arg)]
    return [*RECIPE, "--tokenizer", tokenizer, "--epochs", str(epochs), "--seed", str(seed), *extra]


def recipe_differences(
    run_dir: Path, epochs: int, tokenizer: str, seed: int, backbone_args: list[str]
) -> list[str]:
    """What the finished run in ``run_dir`` has other than the recipe asked for (empty: same)."""
    config = read_run_config(run_dir)
    wanted = {"data": "shakespeare", "method": "mlm", "epochs": epochs, "tokenizer": tokenizer}
    wanted["seed"] = seed
    differ = [f"{k}={getattr(config, k)!r}" for k, v in wanted.items() if getattr(config, k) != v]
    for arg in backbone_args:
        key, _, value = arg.partition("=")
        if str(config.backbone_args.get(key)) != value:
            differ.append(f"backbone {key}={config.backbone_args.get(key)!r}")
    return differ


def trained_run(run_dir: Path, recipe: list[str], differences: list[str]) -> tuple[Path, bool]:
    """The finished run of ``recipe`` in ``run_dir`` (trained now unless one is there), and
    whether it was reused. A finished run of another recipe there (``differences``) is
    refused, not reused."""
    if (run_dir / "encoder.pt").is_file() and (run_dir / "results.json").is_file():
        if differences:
            raise SystemExit(
                f"{run_dir} holds another run ({', '.join(differences)}); choose another --run-dir"
            )
        return run_dir, True
    code = eblearn(["train", *recipe, "--run-dir", str(run_dir)])
    if code != 0:
        raise SystemExit(f"eblearn train failed with exit status {code}")
    return run_dir, False


def masked_token_table(results: dict, unit: str) -> str:
    rows = [["masked language model", results["masked_tokens"]]] + [
        [f"{b['name']} (add-0.1)", b] for b in results["baselines"]
    ]
    return markdown_table(
        ["model", "accuracy", f"nats/{unit}"],
        [[name, f"{s['accuracy']:.1%}", f"{s['nats_per_token']:.3f}"] for name, s in rows],
    )


TOKEN_BAGS = {"char": "bag of characters", "word": "bag of words", "bpe": "bag of subwords"}
"""The baseline of each tokenizer's windows: its tokens' frequencies in the same text."""


def window_text(count: int | None, seq_len: int, kind: str) -> str:
    """How much of each speech ``count`` windows read (``None``: all of it)."""
    if count is None:
        return "whole speech"
    unit = {"char": "chars", "word": "words", "bpe": "subwords"}[kind]
    return f"first {count * seq_len} {unit}" if count > 1 else "first window"


def speaker_rows(
    run_dir: Path, windows: list[int | None], folds: int, draws: int, split_seed: int
) -> tuple[list[list[str]], str]:
    """The probe's rows (choice, cross-validated accuracy, test accuracy) and sentences
    naming the selected encoder choice against the baselines that read the same text, each
    difference with its paired bootstrap interval on the test speeches. The speeches are
    split, folded and resampled with ``split_seed``, whatever seed trained the encoder, so
    that runs of several training seeds are read on the same test speeches."""
    pretrained = load_pretrained(run_dir)
    config, data = pretrained.config, pretrained.data
    encoder = pretrained.method.encoder
    inference = inference_setting(  # the run's precision, where this device runs it natively
        config.precision, config.memory_format, encoder, next(encoder.parameters()).device
    )
    kind = data.tokenizer.kind
    texts, labels, top = speaker_speeches(data.train_text + data.test_text)
    train, test = stratified_split(labels, TEST_FRACTION, split_seed)
    scored = []  # (choice, text read, features, is the encoder's)
    for count in windows:
        text = window_text(count, config.seq_len, kind)
        k = windows_to_cover(texts, data.tokenizer, config.seq_len) if count is None else count
        stack = speech_window_stack(texts, data.tokenizer, config.seq_len, k)
        bags = [(TOKEN_BAGS[kind], bag_of_characters(stack, data.tokenizer.vocab_size))]
        if count is None:  # the whole text: bags of any tokenizer's tokens read the same
            for other, tokenizer in (
                ("char", CharTokenizer.fit(data.train_text)),
                ("word", WordTokenizer.fit(data.train_text)),
            ):
                if other != kind:
                    whole = speech_windows(
                        texts, tokenizer, windows_to_cover(texts, tokenizer, 1)
                    )  # (N, longest)
                    bags.append((TOKEN_BAGS[other], bag_of_characters(whole, tokenizer.vocab_size)))
        for name, bag in sorted(bags):
            scored.append((f"{name}, {text}", text, bag, False))
        for layers, what in (("final", "output states"), ("all", "every stage")):
            features = layer_features(encoder, stack, layers, inference=inference)
            scored.append((f"encoder, {what}, {text}", text, features, True))
    # choice → (CV accuracy, test accuracy, out-of-fold hits on train, hits on test)
    measured: dict[str, tuple[float, float, Tensor, Tensor]] = {}
    for choice, _, features, _ in scored:
        cv_hits = cross_validated_hits(features, labels, train, folds, seed=split_seed)
        probe = LinearProbe(seed=split_seed).fit(features[train], labels[train], len(top))
        hits = probe.predict(features[test]) == labels[test]
        cv = float(cv_hits.float().mean())
        measured[choice] = (cv, float(hits.float().mean()), cv_hits, hits)
        print(f"{choice}: CV {cv:.1%}, test {measured[choice][1]:.1%}", flush=True)
    encoders = [(choice, text) for choice, text, _, is_encoder in scored if is_encoder]
    best, read = max(encoders, key=lambda pair: measured[pair[0]][0])
    majority = float((labels[test] == labels[train].mode().values).float().mean())
    against = []
    for choice, text, _, is_encoder in scored:
        if text == read and not is_encoder:
            gap = paired_bootstrap(measured[best][3], measured[choice][3], draws, seed=split_seed)
            cv_gap = paired_bootstrap(
                measured[best][2], measured[choice][2], draws, seed=split_seed
            )
            verdict = "above" if gap.difference > 0 else "not above"
            sure = ", interval above zero" if gap.low > 0 else ""
            against.append(
                f"{measured[choice][1]:.1%} for the {choice.split(',')[0]} ({verdict}{sure}: "
                f"test difference {gap}; out-of-fold difference on the training speeches "
                f"{cv_gap})"
            )
    sentence = (
        f"Selected by cross-validation on the {len(train)} training speeches: **{best}**, "
        f"{measured[best][1]:.1%} on the {len(test)} test speeches against "
        + "; against ".join(against)
        + f". Majority class {majority:.1%}."
    )
    rows = [[c, f"{cv:.1%}", f"{acc:.1%}"] for c, (cv, acc, _, _) in measured.items()]
    return rows, sentence


def window_counts(text: str) -> list[int | None]:
    """``"1,4,all"`` → ``[1, 4, None]`` (``all``: every window of each speech)."""
    counts: list[int | None] = []
    for part in text.split(","):
        if part == "all":
            counts.append(None)
        elif part.isdigit() and int(part) > 0:
            counts.append(int(part))
        else:
            raise SystemExit(f"--windows takes positive integers or 'all', got {part!r}")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4, help="training passes (default: 4)")
    parser.add_argument(
        "--tokenizer", choices=tuple(TOKEN_BAGS), default="char", help="(default: char)"
    )
    parser.add_argument("--seed", type=int, default=0, help="training seed (default: 0)")
    parser.add_argument(
        "--backbone-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Transformer option passed to eblearn train (repeatable), e.g. dim=128",
    )
    parser.add_argument(
        "--split-seed",
        type=int,
        default=0,
        help="seed of the speeches' train/test split, folds and bootstrap (default: 0)",
    )
    parser.add_argument(
        "--run-dir", type=Path, help="(default: runs/bench-text-mlm[-TOKENIZER][-seedN])"
    )
    parser.add_argument(
        "--windows", default="1,4,all", help="windows per speech to compare; all: every one"
    )
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    parser.add_argument("--draws", type=int, default=10_000, help="bootstrap resamplings")
    parser.add_argument("--append", action="store_true", help="append to BENCHMARKS.md")
    args = parser.parse_args()
    windows = window_counts(args.windows)
    torch.set_num_threads(1)
    for arg in args.backbone_arg:
        if "=" not in arg:
            raise SystemExit(f"--backbone-arg takes KEY=VALUE, got {arg!r}")
    suffix = "" if args.tokenizer == "char" else f"-{args.tokenizer}"
    suffix += f"-seed{args.seed}" if args.seed else ""
    run_dir = args.run_dir or Path(f"runs/bench-text-mlm{suffix}")
    recipe = recipe_arguments(args.epochs, args.tokenizer, args.seed, args.backbone_arg)
    differences = []
    if (run_dir / "config.yaml").is_file():
        differences = recipe_differences(
            run_dir, args.epochs, args.tokenizer, args.seed, args.backbone_arg
        )
    run_dir, reused = trained_run(run_dir, recipe, differences)
    results = json.loads((run_dir / "results.json").read_text())
    rows, sentence = speaker_rows(run_dir, windows, args.folds, args.draws, args.split_seed)
    config = read_run_config(run_dir)
    steps = f"{args.epochs} epochs of batch {config.batch_size}"
    trained = "reused: a finished run of the same recipe" if reused else "trained in this run"
    speaker = markdown_table(
        ["features (linear probe)", f"{args.folds}-fold CV, training speeches", "test"], rows
    )
    body = (
        f"`eblearn train {' '.join(recipe)}` ({steps}, "
        f"{results.get('training_seconds')} s of training on this machine; {trained}).\n\n"
        f"Masked tokens, {results['masked_tokens']['positions']} held-out positions:\n\n"
        f"{masked_token_table(results, 'char' if args.tokenizer == 'char' else 'token')}\n\n"
        f"Speaker of a speech, 10 most frequent speakers (split seed {args.split_seed}):\n\n"
        f"{speaker}\n\n{sentence}"
    )
    if args.append:
        append_section("Text: masked tokens vs n-grams, speaker probe vs bag of characters", body)
    else:
        print(body)


if __name__ == "__main__":
    main()
