"""Text benchmarks on the embedded Tiny Shakespeare: the masked language model against n-gram
baselines, and the speaker probe against a bag of characters.

Training budget: ``--epochs`` passes of ``eblearn train --data shakespeare --method mlm``
(default 4, the out-of-the-box recipe: 980 steps of batch 64, about 2 minutes on one quiet CPU
core, well under 8), on one torch thread. The run folder (``--run-dir``) is kept; a finished
run of the same recipe found there is evaluated again instead of retrained.

1. **Masked tokens** — the run's own table (``results.json``): accuracy and cross-entropy on
   15% of the held-out text (BERT's 80/10/10 corruption, one seeded draw) for the model and
   for unigram, bigram and trigram models fitted on the training part.
2. **Speaker probe** — the speeches of the 10 most frequent speakers, split 80/20 stratified
   (the split of ``eblearn train``'s probe). Feature choices, each with the bag of
   characters of the same text beside it: the first window of each speech or up to
   ``--windows`` windows of it ("line context"); the encoder's output states mean-pooled
   (what ``eblearn train`` reports) or every stage's (embeddings, blocks, output). Each
   choice is scored by ``--folds``-fold cross-validation **inside the training speeches**;
   the encoder choice with the best such score is the one selected, and only then are the
   test speeches scored (for every row, so that the selection can be read against them).

    python benchmarks/bench_text.py                              # trains, then evaluates
    python benchmarks/bench_text.py --run-dir runs/bench-text --append
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from _report import append_section, markdown_table

from eblearn.app.train import load_pretrained, read_run_config
from eblearn.cli import main as eblearn
from eblearn.data.images import stratified_split
from eblearn.evaluate.linear import LinearProbe
from eblearn.evaluate.speakers import (
    TEST_FRACTION,
    bag_of_characters,
    cross_validated_accuracy,
    layer_features,
    speaker_speeches,
    speech_window_stack,
)

RECIPE = ["--data", "shakespeare", "--method", "mlm", "--no-progress"]


def trained_run(run_dir: Path, epochs: int) -> tuple[Path, bool]:
    """The finished run of the recipe in ``run_dir`` (trained now unless one is there), and
    whether it was reused."""
    if (run_dir / "encoder.pt").is_file() and (run_dir / "results.json").is_file():
        config = read_run_config(run_dir)
        same = (config.data, config.method, config.epochs) == ("shakespeare", "mlm", epochs)
        if not same:
            raise SystemExit(
                f"{run_dir} holds another run ({config.method} on {config.data}, "
                f"{config.epochs} epochs); choose another --run-dir"
            )
        return run_dir, True
    code = eblearn(["train", *RECIPE, "--epochs", str(epochs), "--run-dir", str(run_dir)])
    if code != 0:
        raise SystemExit(f"eblearn train failed with exit status {code}")
    return run_dir, False


def masked_token_table(results: dict) -> str:
    rows = [["masked language model", results["masked_tokens"]]] + [
        [f"{b['name']} (add-0.1)", b] for b in results["baselines"]
    ]
    return markdown_table(
        ["model", "accuracy", "nats/char"],
        [[name, f"{s['accuracy']:.1%}", f"{s['nats_per_token']:.3f}"] for name, s in rows],
    )


def speaker_rows(run_dir: Path, windows: list[int], folds: int) -> tuple[list[list[str]], str]:
    """The probe's rows (choice, cross-validated accuracy, test accuracy) and a sentence
    naming the selected encoder choice beside the bag of characters of the same text."""
    pretrained = load_pretrained(run_dir)
    config, data = pretrained.config, pretrained.data
    encoder = pretrained.method.encoder
    texts, labels, top = speaker_speeches(data.train_text + data.test_text)
    train, test = stratified_split(labels, TEST_FRACTION, config.seed)
    scored = []  # (choice, features, is the encoder's)
    for count in windows:
        stack = speech_window_stack(texts, data.tokenizer, config.seq_len, count)
        text = f"first {count * config.seq_len} chars" if count > 1 else "first window"
        bag = bag_of_characters(stack, data.tokenizer.vocab_size)
        scored.append((f"bag of characters, {text}", bag, False))
        for layers, what in (("final", "output states"), ("all", "every stage")):
            features = layer_features(encoder, stack, layers)
            scored.append((f"encoder, {what}, {text}", features, True))
    measured: dict[str, tuple[float, float]] = {}  # choice → (CV accuracy, test accuracy)
    for choice, features, _ in scored:
        cv = cross_validated_accuracy(features, labels, train, folds, seed=config.seed)
        probe = LinearProbe(seed=config.seed).fit(features[train], labels[train], len(top))
        measured[choice] = (cv, probe.score(features[test], labels[test]))
        print(f"{choice}: CV {cv:.1%}, test {measured[choice][1]:.1%}", flush=True)
    encoders = [choice for choice, _, is_encoder in scored if is_encoder]
    best = max(encoders, key=lambda choice: measured[choice][0])
    bag = f"bag of characters, {best.rsplit(', ', 1)[1]}"
    chosen, baseline = measured[best][1], measured[bag][1]
    majority = float((labels[test] == labels[train].mode().values).float().mean())
    sentence = (
        f"Selected by cross-validation on the {len(train)} training speeches: **{best}**, "
        f"{chosen:.1%} on the {len(test)} test speeches against {baseline:.1%} for the bag "
        f"of characters of the same text ({'above' if chosen > baseline else 'not above'}; "
        f"majority class {majority:.1%})."
    )
    rows = [[c, f"{cv:.1%}", f"{acc:.1%}"] for c, (cv, acc) in measured.items()]
    return rows, sentence


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4, help="training passes (default: 4)")
    parser.add_argument("--run-dir", type=Path, default=Path("runs/bench-text-mlm"))
    parser.add_argument("--windows", default="1,4", help="windows per speech to compare")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    parser.add_argument("--append", action="store_true", help="append to BENCHMARKS.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    run_dir, reused = trained_run(args.run_dir, args.epochs)
    results = json.loads((run_dir / "results.json").read_text())
    windows = [int(w) for w in args.windows.split(",")]
    rows, sentence = speaker_rows(run_dir, windows, args.folds)
    config = read_run_config(run_dir)
    steps = f"{args.epochs} epochs of batch {config.batch_size}"
    trained = "reused: a finished run of the same recipe" if reused else "trained in this run"
    speaker = markdown_table(
        ["features (linear probe)", f"{args.folds}-fold CV, training speeches", "test"], rows
    )
    body = (
        f"`eblearn train {' '.join(RECIPE)} --epochs {args.epochs}` ({steps}, "
        f"{results.get('training_seconds')} s of training on this machine; {trained}).\n\n"
        f"Masked tokens, {results['masked_tokens']['positions']} held-out positions:\n\n"
        f"{masked_token_table(results)}\n\n"
        f"Speaker of a speech, 10 most frequent speakers:\n\n{speaker}\n\n{sentence}"
    )
    if args.append:
        append_section("Text: masked tokens vs n-grams, speaker probe vs bag of characters", body)
    else:
        print(body)


if __name__ == "__main__":
    main()
