"""The training engine's overhead per modality: a step through ``eblearn``'s engine against the
same model, loss and optimizer written as a plain torch loop (target: overhead ≤ 10%).

Per modality, one method on its default data and recipe (sizes below):

* images: VICReg on the embedded digits (ConvNet, the digits view recipe);
* text: the masked language model on the embedded Tiny Shakespeare (character windows);
* speech: wav2vec 2.0 on generated FSDD-format recordings (or ``--fsdd PATH``).

**eblearn** is :func:`eblearn.train.runs.fit` — Lightning's loop, the per-step reseeding,
logging, finiteness check, learning-rate schedule, end-of-step hooks — stopped after
``--steps`` steps by a callback. **plain torch** is the loop a user would write with the same
objects: gather a batch of the pretraining tensor by a random permutation, make the views
with the same view maker, ``method(views)["loss"]``, backward, AdamW (the same parameter
groups, rate and weight decay) with the same warm-up-then-cosine schedule, and the method's
``on_step_end``. Both sides build the method afresh from the same seed.

A step's time is the wall-clock interval between the ends of consecutive steps (data
gathering and view making included), the first ``--warmup`` steps of each run dropped. The
two sides run in alternation, ``--repeats`` runs each (the order flipped every round), and the
table gives each side's median step, their ratio, and the overhead ``eblearn / plain − 1``.
The run's fixed costs (building the Trainer) are not steps and are left out on both sides.
Each engine run gets as many epochs as its steps need (digits at batch 256 has 5 steps per
epoch), so the intervals that span an epoch end (the checkpoint, end-of-epoch hooks) count on
eblearn's side, as they would in a user's run; the median keeps them from dominating.

    python benchmarks/bench_modality_overhead.py                 # about 3 minutes on a CPU
    python benchmarks/bench_modality_overhead.py --repeats 7 --append
    python benchmarks/bench_modality_overhead.py --smoke         # tiny: checks that it runs
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import lightning as L
import torch
from _report import append_section, machine, markdown_table

from eblearn.data.registry import load_dataset
from eblearn.data.speech import write_synthetic_fsdd
from eblearn.data.text import load_text
from eblearn.data.waveforms import load_speech
from eblearn.train.budget import StepSchedule
from eblearn.train.config import RunConfig, TrainConfig, resolve
from eblearn.train.optim import build_optimizer, parameter_groups
from eblearn.train.runs import build_components, fit


@dataclass(frozen=True)
class Setting:
    """One modality's measured run: the request and the data it loads."""

    modality: str
    request: TrainConfig
    load: Callable[[], Any]


def settings(args: argparse.Namespace, folder: Path) -> list[Setting]:
    """The three modalities at the benchmark's sizes (tiny ones with ``--smoke``)."""
    tiny = args.smoke
    common: dict[str, Any] = {
        "precision": "32",
        "accelerator": "cpu",
        "online_probe": False,
        "progress_bar": False,
        "optimizer": "adamw",
        "epochs": 1,
        "seed": 0,
    }
    fsdd = args.fsdd or str(
        write_synthetic_fsdd(folder / "fsdd.npz", num_speakers=2, num_takes=6 if tiny else 30)
    )
    crop = 1600 if tiny else 4000
    images = TrainConfig(
        data="digits",
        method="vicreg",
        batch_size=16 if tiny else 256,
        backbone_args={"width": 4} if tiny else {},
        method_args={"projector_dims": [32, 32]} if tiny else {},
        **common,
    )
    text = TrainConfig(
        data="shakespeare",
        method="mlm",
        seq_len=16 if tiny else 64,
        batch_size=8 if tiny else 64,
        backbone_args={"dim": 16, "depth": 1, "heads": 2} if tiny else {},
        **common,
    )
    speech = TrainConfig(
        data=f"fsdd:{fsdd}",
        method="wav2vec2",
        seq_len=crop,
        batch_size=8 if tiny else 32,
        backbone_args={"dim": 16, "depth": 1, "heads": 2, "channels": 8} if tiny else {},
        **common,
    )
    return [
        Setting("images", images, lambda: load_dataset("digits")),
        Setting("text", text, lambda: load_text("shakespeare", text.seq_len or 64)),
        Setting("speech", speech, lambda: load_speech(f"fsdd:{fsdd}", crop)),
    ]


def resolved(request: TrainConfig, data: Any, folder: Path) -> RunConfig:
    channels = getattr(data, "channels", 0)
    size = getattr(data, "image_size", 0)
    return resolve(request, channels, size, str(folder), modality=data.modality)


def epochs_for(steps: int, data: Any, batch_size: int) -> int:
    """Epochs that hold ``steps`` steps (and one more) of full batches.

    Example:
        >>> from types import SimpleNamespace
        >>> epochs_for(30, SimpleNamespace(pretrain_inputs=range(1437)), 256)
        7
    """
    per_epoch = max(1, len(data.pretrain_inputs) // batch_size)
    return math.ceil((steps + 1) / per_epoch)


class StepClock(L.Callback):
    """Records the time at the end of every step and stops the run after ``steps``."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.ends: list[float] = []

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self.ends.append(time.perf_counter())
        if len(self.ends) >= self.steps:
            trainer.should_stop = True


def engine_run(config: RunConfig, data: Any, steps: int, folder: Path) -> list[float]:
    """Step intervals of ``steps`` steps through eblearn's engine."""
    torch.manual_seed(config.seed)
    method, augment, _ = build_components(config, data)
    clock = StepClock(steps)
    fit(
        config,
        method,
        augment,
        data,
        checkpoint_path=folder / "last.ckpt",
        log_path=folder / "log.csv",
        callbacks=[clock],
    )
    return [b - a for a, b in pairwise(clock.ends)]


def plain_run(config: RunConfig, data: Any, steps: int) -> list[float]:
    """Step intervals of ``steps`` steps of the same method in a plain torch loop."""
    torch.manual_seed(config.seed)
    method, augment, _ = build_components(config, data)
    method.train()
    inputs = data.pretrain_inputs
    method.prepare(len(inputs))
    optimizer = build_optimizer(
        "adamw", parameter_groups(method, config.weight_decay), config.lr, config.weight_decay
    )
    total = max(1, len(inputs) // config.batch_size) * config.epochs
    warmup = min(total, int(total * config.warmup_epochs / config.epochs))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, StepSchedule(total, warmup))
    order = torch.randperm(len(inputs))
    ends = []
    for step in range(steps):
        start = (step * config.batch_size) % (len(inputs) - config.batch_size + 1)
        index = order[start : start + config.batch_size]
        views = augment(inputs[index])
        out = method(views, indices=index) if method.uses_indices else method(views)
        loss = out["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        method.on_step_end(step, total)
        ends.append(time.perf_counter())
    return [b - a for a, b in pairwise(ends)]


def measure(setting: Setting, args: argparse.Namespace, folder: Path) -> dict[str, float]:
    data = setting.load()
    epochs = epochs_for(args.steps, data, setting.request.batch_size or 1)
    config = resolved(dataclasses.replace(setting.request, epochs=epochs), data, folder)
    samples: dict[str, list[float]] = {"eblearn": [], "plain torch": []}
    runs = {
        "eblearn": lambda: engine_run(config, data, args.steps, folder),
        "plain torch": lambda: plain_run(config, data, args.steps),
    }
    for round_ in range(args.repeats):
        order = list(runs) if round_ % 2 == 0 else list(reversed(runs))
        for name in order:
            samples[name] += runs[name]()[args.warmup :]
    eblearn = statistics.median(samples["eblearn"])
    plain = statistics.median(samples["plain torch"])
    return {"eblearn": eblearn, "plain": plain, "batch": config.batch_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="steps per run (default: 30)")
    parser.add_argument("--warmup", type=int, default=5, help="steps dropped per run")
    parser.add_argument("--repeats", type=int, default=5, help="runs per side (default: 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--fsdd", default=None, help="an FSDD .npz (default: generated)")
    parser.add_argument("--modalities", default="images,text,speech", help="comma-separated subset")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check it runs")
    parser.add_argument("--append", action="store_true", help="append the table to BENCHMARKS.md")
    args = parser.parse_args()
    if args.smoke:
        args.steps, args.warmup, args.repeats = 3, 0, 1
    torch.set_num_threads(args.threads)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # Trainer's notes
    wanted = args.modalities.split(",")
    rows = []
    with tempfile.TemporaryDirectory(prefix="eblearn-overhead-") as name:
        folder = Path(name)
        for setting in settings(args, folder):
            if setting.modality not in wanted:
                continue
            result = measure(setting, args, folder)
            ratio = result["eblearn"] / result["plain"]
            rows.append(
                [
                    f"{setting.modality}: {setting.request.method} on "
                    f"{setting.request.data.partition(':')[0]}, batch {int(result['batch'])}",
                    f"{1000 * result['eblearn']:.1f}",
                    f"{1000 * result['plain']:.1f}",
                    f"{ratio:.3f}",
                    f"{100 * (ratio - 1):+.1f}%",
                ]
            )
            print(rows[-1], flush=True)
    table = markdown_table(
        ["setting", "eblearn ms/step", "plain torch ms/step", "ratio", "overhead"], rows
    )
    body = (
        f"Median step (wall clock) over {args.repeats} alternating runs of {args.steps} steps "
        f"per side, the first {args.warmup} of each run dropped; {args.threads} torch "
        f"thread(s). Target: overhead ≤ 10%.\n\n{table}"
    )
    if args.append and not args.smoke:
        append_section("Engine overhead per modality (a step against plain torch)", body)
    else:
        if args.append:
            print("--append is ignored with --smoke")
        print(f"Machine: {machine()}\n\n{body}")


if __name__ == "__main__":
    main()
