"""``eblearn train`` and ``eblearn eval``: validate everything, claim the run folder, then act.

:func:`train_and_evaluate` is what ``eblearn train`` runs: :func:`prepare_training` turns the
request into objects (data, resolved configuration, method, transforms, run folder) and checks
all of them while only reading the disk; then the folder is claimed and locked, the method is
pretrained (:func:`eblearn.train.fit`), evaluated on the frozen encoder beside raw pixels, and
drawn.

Data without labels (a flat folder, a file list, an ``.npz`` without labels) is pretrained on
all the same: the probes are skipped, which the run says in one line and records in
``results.json``, unless ``--eval-data SPEC`` names a labeled data set to probe instead. The
evaluation data goes through the run's evaluation transform, which normalizes with the
*pretraining* data's per-channel mean and std (the statistics the encoder was trained with)
and resizes to the run's image size. A run folder holds::

    config.yaml            the resolved configuration (repeat a run with --config)
    precision.json         the precision chosen (auto: measured step times, see train.precision)
    checkpoints/last.ckpt  written atomically at the end of every epoch
    log.csv                one row per logged step (loss terms, probe, collapse metrics)
    tensorboard/           with --logger tensorboard: the same scalars as TensorBoard event
                           files (tensorboard --logdir RUN/tensorboard)
    data_stats.json        the pretraining images' per-channel mean and std and the side they
                           were decoded at (eval, embed and export normalize with them)
    encoder.pt             the trained encoder's state dict, at the end
    results.json           accuracies of the encoder and of raw pixels (eval.json for eval),
                           or why the probes were skipped
    loss_curve.png         loss terms, collapse metrics and online probe during training
    embedding.png          t-SNE of the test-set features, colored by class; without labels,
                           of a sample of the pretraining features, colored by K-means

A text run (``--data shakespeare`` or ``text:PATH`` with a ``tokens`` method, see
:func:`check_modalities`) writes the same files but ``embedding.png``, plus ``tokenizer.json``;
its ``results.json`` holds the scores of :mod:`eblearn.app.text_eval`.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eblearn.app.data_stats import STATS_FILE, DataStatistics, read_statistics, with_statistics
from eblearn.app.interrupt import interruptible
from eblearn.app.options import (
    HelpFormatter,
    add_precision,
    add_strict,
    duration,
    key_value,
    non_negative_float,
    positive_float,
    positive_int,
)
from eblearn.app.run_folder import Mode, RunFolder, default_run_path
from eblearn.app.timing import timing_line
from eblearn.data.images import DatasetSplits
from eblearn.data.registry import IMAGES, load_dataset, modality_of
from eblearn.data.text import BPE_VOCAB_SIZE, TOKENIZER_KINDS, TextSplits
from eblearn.data.tokenizers import Tokenizer
from eblearn.data.waveforms import SpeechSplits
from eblearn.evaluate.protocol import EvaluationReport
from eblearn.methods.base import Method
from eblearn.train.config import (
    ACCELERATORS,
    LOGGERS,
    MEMORY_FORMATS,
    OPTIMIZERS,
    RESUMABLE_OPTIONS,
    RunConfig,
    TrainConfig,
    keep_global_batch,
    resolve,
    resume_conflicts,
    warmup_warning,
)
from eblearn.train.errors import NonFiniteLossError, PeerLostError
from eblearn.train.process_group import leave_process_group

if TYPE_CHECKING:
    from eblearn.app.speech_eval import SpeechRunSummary
    from eblearn.app.text_eval import TextRunSummary
    from eblearn.train.runs import TrainingData

CONFIG_FILE = "config.yaml"
LAST_CHECKPOINT = "checkpoints/last.ckpt"
LOG_FILE = "log.csv"
ENCODER_FILE = "encoder.pt"
RESULTS_FILE = "results.json"
EVAL_FILE = "eval.json"
CURVE_FILE = "loss_curve.png"
EMBEDDING_FILE = "embedding.png"
RUN_DIR_ENV = "EBLEARN_RUN_DIR"
KEPT_ON_RESUME = ("run_dir", "devices", "num_nodes", "dist_timeout")
"""Resumable options that keep the saved run's value unless given again (the others take the
request's, default or not)."""
RESUME_HINT = "the checkpoint of the last finished epoch is kept: resume with --resume"
EMBEDDING_SAMPLE = 2000
"""Pretraining images drawn for the embedding figure of a run without labels."""
EMBEDDING_CLUSTERS = 10
"""K-means clusters that color the embedding figure of a run without labels."""
TABLE_FRACTIONS = (0.1,)
"""Few-label fractions shown in the printed table (results.json holds 1% as well)."""


def train_folder(path: str | os.PathLike[str]) -> RunFolder:
    """The run folder of a training run (its checkpoint and encoder are what must not be lost)."""
    return RunFolder(
        path, kind="train", precious=(LAST_CHECKPOINT, ENCODER_FILE), resumable=LAST_CHECKPOINT
    )


def is_launched_worker() -> bool:
    """True in every training process but the global rank 0 (which alone writes the folder).

    The ranks are read from the environment that Lightning's own launcher (``--devices``),
    ``torchrun`` or SLURM set (:func:`eblearn.train.cluster.is_global_zero`).
    """
    from eblearn.train.cluster import is_global_zero

    return not is_global_zero()


@dataclass
class TrainingPlan:
    """A validated training run: every object built, nothing on disk touched yet."""

    config: RunConfig
    data: TrainingData
    method: Method
    augment: Any
    eval_transform: Any
    folder: RunFolder
    mode: Mode
    started_at: float = field(default_factory=time.monotonic)
    """When the job started (``time.monotonic``): a time budget counts data preparation."""
    eval_data: DatasetSplits | None = None
    """The labeled data set of ``--eval-data``, probed instead of ``data``."""
    resized: bool = False
    """A resume on another number of processes (its ``config.yaml`` is rewritten)."""


def given_options(config: TrainConfig) -> dict[str, Any]:
    """The fields of ``config`` that differ from :class:`TrainConfig`'s defaults."""
    defaults = TrainConfig().to_dict()
    return {k: v for k, v in config.to_dict().items() if v != defaults[k]}


def prepare_training(
    request: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    given: dict[str, Any] | None = None,
    data: TrainingData | None = None,
    method: Method | None = None,
) -> TrainingPlan:
    """Validates a training request completely, reading the disk only.

    Args:
        request: What to train.
        resume: Continue the run in ``request.run_dir``: its saved configuration is used, and
            an option in ``given`` that a resume cannot change is refused.
        overwrite: Replace the files eblearn wrote in ``request.run_dir``.
        given: The options the user set explicitly (default: those that differ from
            :class:`TrainConfig`'s defaults).
        data: Data to train on instead of loading ``request.data``.
        method: A method object to train instead of building ``request.method``.

    Raises:
        ValueError: On any bad option, name, value, data set or run folder, before anything
            is written.
    """
    started_at = time.monotonic()
    resized = False
    if resume and overwrite:
        raise ValueError("choose one of --resume (continue the run) and --overwrite (replace it)")
    mode = Mode.RESUME if resume else Mode.OVERWRITE if overwrite else Mode.NEW
    if resume:
        if request.run_dir is None:
            raise ValueError("--resume needs the run folder: pass --run-dir RUN_DIR")
        folder = train_folder(request.run_dir)
        if not is_launched_worker():  # the other ranks find the folder locked by rank 0
            folder.check(Mode.RESUME)
        saved = read_run_config(folder.path)
        from eblearn.train.checkpoint import load_checkpoint

        load_checkpoint(folder.path / LAST_CHECKPOINT)  # unreadable: refused before acting
        given = given if given is not None else given_options(request)
        conflicts = resume_conflicts(saved, given)
        if conflicts:
            raise ValueError(
                "--resume continues the saved run, so these options cannot change: "
                + "; ".join(conflicts)
                + f". A resume may change only {', '.join(RESUMABLE_OPTIONS)}; to train "
                "with other options, start a new run (another --run-dir, or --overwrite)"
            )
        world = keep_global_batch(
            saved,
            given.get("devices", saved.devices),
            given.get("num_nodes", saved.num_nodes),
        )
        resized = bool(world)
        request = replace(
            saved.as_request(),
            **{k: getattr(request, k) for k in RESUMABLE_OPTIONS if k not in KEPT_ON_RESUME},
            dist_timeout=given.get("dist_timeout", saved.dist_timeout),
            **world,
            run_dir=str(folder.path),
        )
    modality = check_modalities(request.data, request.method)
    if data is None:
        resumed = request.run_dir if resume else None  # read again as it was trained
        data = load_training_data(
            request,
            modality,
            tokenizer=read_run_tokenizer(resumed) if resumed and modality == "tokens" else None,
            stats=read_statistics(resumed) if resumed else None,
        )
    run_dir = (
        Path(request.run_dir)
        if request.run_dir
        else Path(os.environ[RUN_DIR_ENV])
        if is_launched_worker() and os.environ.get(RUN_DIR_ENV)  # the folder rank 0 chose
        else default_run_path(request.method, request.data.partition(":")[0])
    )
    if isinstance(data, TextSplits):
        if request.eval_data:
            raise ValueError(
                f"--eval-data probes an image encoder, and {request.data!r} is text; leave it "
                "out (a text run is scored on its held-out text)"
            )
        config = resolve(request, 0, 0, str(run_dir), modality=data.modality)
    elif isinstance(data, SpeechSplits):
        if request.eval_data:
            raise ValueError(
                f"--eval-data probes an image encoder, and {request.data!r} holds waveforms; "
                "leave it out (a speech run is probed on its own test takes)"
            )
        config = resolve(request, 0, 0, str(run_dir), modality=data.modality)
    else:
        config = resolve(request, data.channels, data.image_size, str(run_dir))
    if config.online_probe and data.pretrain_labels.lt(0).all():
        config = replace(config, online_probe=False)  # nothing to probe: say so in config.yaml
    eval_data = (
        load_eval_data(config.eval_data, config, data.channels, data.name, "--eval-data")
        if config.eval_data and isinstance(data, DatasetSplits)
        else None
    )
    from eblearn.train.runs import build_components, check_accelerator, check_batch
    from eblearn.train.seeding import seed_everything

    check_accelerator(config)
    if config.compile:
        from eblearn.train.compiling import check_compile
        from eblearn.train.runs import uses_gpu

        check_compile(uses_gpu(config))
    seed_everything(config.seed)  # the seed fixes the initial weights too
    built, augment, eval_transform = build_components(config, data)
    method = method if method is not None else built
    check_batch(config, method, data.pretrain_count)
    if config.eval_every and not data.has_labels:
        raise ValueError(
            f"--eval-every measures kNN accuracy on the labels of --data, and {data.name!r} "
            "has none"
            + (" (--eval-data is probed at the end of the run)" if eval_data is not None else "")
        )
    folder = train_folder(run_dir)
    if not is_launched_worker():
        folder.check(mode)
    return TrainingPlan(
        config, data, method, augment, eval_transform, folder, mode, started_at, eval_data, resized
    )


def check_modalities(data: str, method: str) -> str:
    """The modality of ``data``, after checking that ``method`` trains on it.

    Raises:
        ValueError: If the data set or the method is unknown, or their modalities differ:
            the message names both and the valid choices of each modality.
    """
    from eblearn.data.registry import modality_of
    from eblearn.methods.base import METHODS

    data_modality = modality_of(data)
    method_modality = METHODS.get(method).modality
    if data_modality != method_modality:
        from eblearn.data.registry import DATASETS
        from eblearn.data.text import TEXT_DATASETS, TEXT_NEEDS_ARGUMENT
        from eblearn.data.waveforms import SPEECH_DATASETS, SPEECH_NEEDS_ARGUMENT

        def methods_of(modality: str) -> str:
            return ", ".join(n for n in METHODS.names() if METHODS.get(n).modality == modality)

        data_of = {
            "images": ", ".join(DATASETS.names()),
            "tokens": ", ".join(
                f"{n}:PATH" if n in TEXT_NEEDS_ARGUMENT else n for n in TEXT_DATASETS.names()
            ),
            "waveforms": ", ".join(
                f"{n}:PATH" if n in SPEECH_NEEDS_ARGUMENT else n for n in SPEECH_DATASETS.names()
            ),
        }
        raise ValueError(
            f"method {method!r} trains on {method_modality} but data {data!r} holds "
            f"{data_modality}; for {data_modality} use --method one of "
            f"{methods_of(data_modality)}; {method!r} needs --data one of "
            f"{data_of.get(method_modality, '(none registered)')}"
        )
    return data_modality


def load_training_data(
    request: TrainConfig,
    modality: str,
    tokenizer: Tokenizer | None = None,
    stats: DataStatistics | None = None,
) -> TrainingData:
    """Reads ``request.data``: an image data set, a corpus cut into windows (by
    ``tokenizer`` when given, a run's saved one, else by one fitted as the request says), or
    recordings cut into crops of ``seq_len`` samples.

    ``stats``, a run's saved statistics (:mod:`eblearn.app.data_stats`), make images read
    again exactly as they were trained on: decoded at the saved side (an image folder's
    native size, which ``request.image_size``, the view size, may exceed) and normalized with
    the saved mean and std.
    """
    if modality == "waveforms":
        from eblearn.data.waveforms import CROP_SAMPLES, load_speech

        return load_speech(request.data, request.seq_len or CROP_SAMPLES, request.download)
    if modality == "tokens":
        from eblearn.data.text import load_text
        from eblearn.methods.base import METHODS
        from eblearn.train.config import default_seq_len, tokenizer_kind

        method = METHODS.get(request.method)
        kind = tokenizer_kind(method, request.tokenizer)
        return load_text(
            request.data,
            request.seq_len or default_seq_len(method),
            tokenizer if tokenizer is not None else kind,
            request.vocab_size if kind == "bpe" else None,
        )
    images = load_dataset(
        request.data,
        request.data_root,
        request.download,
        stats.image_size if stats is not None else request.image_size,
        strict=request.strict,
        stream=request.stream,
    )
    return with_statistics(images, stats) if stats is not None else images


def load_eval_data(
    spec: str, config: RunConfig, channels: int, trained_on: str, option: str = "--eval-data"
) -> DatasetSplits:
    """Loads and checks a labeled data set to probe an encoder trained on ``trained_on``
    (a data spec), whose images have ``channels`` channels.

    Image folders and file lists are read at the run's image size (unreadable image files
    skipped with a warning, or refused when ``config.strict``); other images are resized to
    it by the evaluation transform, which also normalizes them with the training data's
    statistics.

    Raises:
        ValueError: Naming ``option`` and ``spec``: the data set does not load, lacks labels
            in its train or test split, or has another number of channels than ``data``.
    """
    try:
        eval_data = load_dataset(
            spec, config.data_root, config.download, config.image_size, strict=config.strict
        )
    except ValueError as error:
        raise ValueError(f"{option} {spec!r}: {error}") from None
    if not eval_data.has_labels:
        which = (
            "no image has a label"
            if not (eval_data.train.has_labels or eval_data.test.has_labels)
            else f"its {'train' if not eval_data.train.has_labels else 'test'} split has none"
        )
        raise ValueError(
            f"{option} {spec!r} has no labels ({which}); the probes need a labeled data set: "
            "class subfolders (imagefolder:ROOT/<class>/...), an .npz with 'labels', or a "
            "named one such as digits"
        )
    if eval_data.channels != channels:
        raise ValueError(
            f"{option} {spec!r} has {eval_data.channels}-channel images but the encoder is "
            f"trained on {channels}-channel ones ({trained_on!r}); expected the same "
            "number of channels"
        )
    return eval_data


def read_run_tokenizer(run_dir: str | os.PathLike[str]) -> Tokenizer | None:
    """The tokenizer a text run saved (``tokenizer.json``), or ``None`` if it has none.

    Reading it back, rather than fitting again, keeps a run's encoding exactly as trained.

    Raises:
        ValueError: If the file is not a saved tokenizer.
    """
    import json

    from eblearn.app.text_eval import TOKENIZER_FILE
    from eblearn.data.tokenizers import tokenizer_from_dict

    path = Path(run_dir) / TOKENIZER_FILE
    if not path.is_file():
        return None
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{str(path)!r} is not a readable tokenizer file: {error}") from None
    try:
        return tokenizer_from_dict(values)
    except ValueError as error:
        raise ValueError(f"{str(path)!r}: {error}") from None


def prepare_agreed(request: TrainConfig, **options: Any) -> TrainingPlan:
    """:func:`prepare_training` on every process, then their agreement
    (:func:`eblearn.train.agreement.agree`) when ``torchrun`` or SLURM started several.

    A process's refusal reaches all of them before anything is written, so none waits for a
    process that has left, and all exit non-zero.

    Raises:
        ValueError: As :func:`prepare_training` on the process that refused; a
            :class:`~eblearn.train.agreement.RunRefused` naming it on the others, or naming
            the keys when the processes resolved the request differently.
    """
    from eblearn.train.agreement import agree
    from eblearn.train.config import DEFAULT_DIST_TIMEOUT, check_dist_timeout

    try:
        plan = prepare_training(request, **options)
    except Exception as error:
        try:
            timeout = check_dist_timeout(request.dist_timeout)
        except ValueError:
            timeout = float(DEFAULT_DIST_TIMEOUT)
        agree(error, None, timeout)  # tells the others, then re-raises this error
        raise
    agree(None, plan.config.to_dict(), plan.config.dist_timeout)
    return plan


def read_run_config(run_dir: str | os.PathLike[str]) -> RunConfig:
    """The configuration a run folder was trained with.

    Raises:
        ValueError: If the folder has no ``config.yaml`` or it is malformed.
    """
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"{str(Path(run_dir))!r} is not a run folder: it has no {CONFIG_FILE}")
    return RunConfig.from_yaml(path)


def _train(plan: TrainingPlan, callbacks: Sequence[Any]) -> Any:
    """Trains in the (claimed) folder and writes the encoder; returns a ``Pretrained``."""
    from eblearn.train.precision import choose_precision
    from eblearn.train.runs import Pretrained, fit

    folder = plan.folder
    config, precision = choose_precision(
        plan.config, plan.method, plan.augment, plan.data.pretrain_inputs
    )
    worker = is_launched_worker()
    if not worker:
        if plan.mode is not Mode.RESUME or plan.resized:
            folder.write_yaml(CONFIG_FILE, config.to_dict())
        if isinstance(plan.data, DatasetSplits) and (
            plan.mode is not Mode.RESUME or not (folder.path / STATS_FILE).is_file()
        ):  # a resumed run keeps the statistics it started with (an older run gets them now)
            folder.write_json(STATS_FILE, DataStatistics.of(plan.data).to_dict())
        if plan.mode is not Mode.RESUME:
            folder.write_json("precision.json", precision.as_dict())
            if isinstance(plan.data, TextSplits):
                from eblearn.app.text_eval import TOKENIZER_FILE

                folder.write_json(TOKENIZER_FILE, plan.data.tokenizer.to_dict())
        if config.devices > 1:
            os.environ[RUN_DIR_ENV] = str(folder.path)
    note = warmup_warning(config)
    if note is not None and not worker:
        warnings.warn(note, UserWarning, stacklevel=2)
    checkpoint = folder.path / LAST_CHECKPOINT if worker else folder.file(LAST_CHECKPOINT)
    log = folder.path / LOG_FILE if worker else folder.file(LOG_FILE)
    try:
        is_zero = fit(
            config,
            plan.method,
            plan.augment,
            plan.data,
            checkpoint_path=checkpoint,
            log_path=log,
            resume=plan.mode is Mode.RESUME,
            callbacks=callbacks,
            started_at=plan.started_at,
            register_file=None if worker else folder.register,
        )
    except (NonFiniteLossError, PeerLostError) as error:
        kept = (
            f"the checkpoint of the last finished epoch is kept in {str(checkpoint)!r}"
            if checkpoint.is_file()
            else "no epoch finished, so no checkpoint was saved; a plain rerun may reuse the folder"
        )
        if isinstance(error, PeerLostError) and checkpoint.is_file():
            kept += (
                "; continue with --resume, on the same or another number of processes "
                "(--devices, --num-nodes: the global batch is kept)"
            )
        raise type(error)(f"{error} ({kept})") from None
    if is_zero:
        from eblearn.train.checkpoint import save_checkpoint

        save_checkpoint(plan.method.encoder.state_dict(), folder.file(ENCODER_FILE))
    return Pretrained(plan.method, config, plan.data, folder.path, plan.eval_transform, is_zero)


def _claim(plan: TrainingPlan) -> Any:
    """The folder claimed for the run (nothing to claim in DDP worker processes)."""
    if is_launched_worker():
        from contextlib import nullcontext

        return nullcontext(plan.folder)
    return plan.folder.claimed(plan.mode, command="eblearn train")


def pretrain(
    config: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    method: Method | None = None,
    data: TrainingData | None = None,
    callbacks: Sequence[Any] = (),
) -> Any:
    """Pretrains a method in its run folder (validated first) and returns the ``Pretrained``.

    Args:
        config: What to train.
        resume: Continue the run in ``config.run_dir`` from its last checkpoint.
        overwrite: Replace the files eblearn wrote in ``config.run_dir``.
        method: A method object to train instead of building ``config.method``.
        data: Data to train on instead of loading ``config.data``.
        callbacks: Extra Lightning callbacks.

    Raises:
        ValueError: On bad options or run folders (before anything is written).
        CheckpointError: If the checkpoint to resume from is corrupted.
        NonFiniteLossError: If a loss term becomes NaN or Inf.
        Interrupted: On SIGINT or SIGTERM (the last epoch's checkpoint is kept).
    """
    plan = prepare_agreed(config, resume=resume, overwrite=overwrite, data=data, method=method)
    with _claim(plan), interruptible(RESUME_HINT):
        return _train(plan, callbacks)


@dataclass
class RunSummary:
    """What a run measured.

    Attributes:
        run_dir: The run folder.
        config: The resolved configuration.
        encoder: Probe accuracies of the pretrained encoder.
        pixels: The same probes on raw pixels.
        seconds: Wall-clock time of the job.
        figures: Paths of the PNGs written.
        training_seconds: The part of ``seconds`` spent before the evaluation (data
            preparation and training, what ``--time-budget`` bounds); ``None`` for ``eval``.
    """

    run_dir: Path
    config: RunConfig
    encoder: EvaluationReport | None
    pixels: EvaluationReport | None
    seconds: float
    figures: list[Path] = field(default_factory=list)
    probed: str = ""
    """The data set probed (``config.data``, ``--eval-data`` or ``eval --data``)."""
    skipped: str = ""
    """Why the probes were skipped and how to get them (``encoder`` is then ``None``)."""
    training_seconds: float | None = None

    @property
    def evaluation_seconds(self) -> float:
        """Wall-clock time of the probes, the raw-pixel baseline and the figures."""
        return self.seconds - (self.training_seconds or 0.0)

    def timing(self) -> str:
        """``"123 s: training 100 s, evaluation 23 s"`` (or the total alone for ``eval``)."""
        return timing_line(self.seconds, self.training_seconds)

    def table(self, fractions: Sequence[float] = TABLE_FRACTIONS) -> str:
        """A small text table: each probe on the encoder beside the same probe on pixels."""
        if self.encoder is None or self.pixels is None:
            return self.skipped
        rows = [
            (f"kNN (k={self.config.knn_k}, cosine)", self.encoder.knn, self.pixels.knn),
            ("linear probe", self.encoder.linear, self.pixels.linear),
        ]
        rows += [
            (
                f"linear probe, {f:.0%} of labels",
                self.encoder.few_label[f],
                self.pixels.few_label[f],
            )
            for f in fractions
        ]
        name = f"{self.config.method} ({self.config.backbone})"
        width = max(len(r[0]) for r in rows)
        lines = [
            f"{'test accuracy on ' + (self.probed or self.config.data):<{width}}  {name:>18}  "
            f"{'raw pixels':>10}"
        ]
        lines += [
            f"{label:<{width}}  {ours:>18.1%}  {pixels:>10.1%}" for label, ours, pixels in rows
        ]
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {
            "data": self.config.data,
            "method": self.config.method,
            "backbone": self.config.backbone,
            "eval_data": self.probed if self.probed not in ("", self.config.data) else None,
            "encoder": None if self.encoder is None else self.encoder.as_dict(),
            "raw_pixels": None if self.pixels is None else self.pixels.as_dict(),
            "probes_skipped": self.skipped or None,
            "seconds": round(self.seconds, 1),
            "training_seconds": (
                None if self.training_seconds is None else round(self.training_seconds, 1)
            ),
            "evaluation_seconds": round(self.evaluation_seconds, 1),
        }


def train_and_evaluate(
    config: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    given: dict[str, Any] | None = None,
    data: TrainingData | None = None,
    callbacks: Sequence[Any] = (),
) -> RunSummary | TextRunSummary | SpeechRunSummary | None:
    """Pretrains, evaluates and draws (``eblearn train``). Returns ``None`` on non-zero ranks.

    A text run is scored on its held-out text (:mod:`eblearn.app.text_eval`) instead of the
    image probes.

    Raises:
        As :func:`pretrain`.
    """
    start = time.perf_counter()
    plan = prepare_agreed(config, resume=resume, overwrite=overwrite, given=given, data=data)
    with _claim(plan), interruptible(RESUME_HINT):
        pretrained = _train(plan, callbacks)
        trained_at = time.perf_counter()
        sequences = isinstance(plan.data, (TextSplits, SpeechSplits))
        features = None if sequences else shared_probe_features(pretrained, plan.eval_data)
        leave_process_group()  # the last collective is behind; rank 0 evaluates alone
        if not pretrained.is_global_zero:
            return None
        if isinstance(plan.data, TextSplits):
            from eblearn.app.text_eval import evaluate_text_and_write

            return evaluate_text_and_write(pretrained, plan.folder, start, RESULTS_FILE, trained_at)
        if isinstance(plan.data, SpeechSplits):
            from eblearn.app.speech_eval import evaluate_speech_and_write

            return evaluate_speech_and_write(
                pretrained, plan.folder, start, RESULTS_FILE, trained_at
            )
        return _evaluate_and_write(
            pretrained, plan.folder, start, RESULTS_FILE, plan.eval_data, trained_at, features
        )


def shared_probe_features(pretrained: Any, eval_data: DatasetSplits | None) -> Any:
    """The probes' features extracted by all processes of a distributed run, each its shard
    (:func:`eblearn.app.evaluation.probe_features`); ``None`` on one process or without
    labels to probe (rank 0 then extracts what it needs alone)."""
    from eblearn._distributed import world_size
    from eblearn.app.evaluation import probe_features

    probed = eval_data if eval_data is not None else pretrained.data
    if world_size() == 1 or not probed.has_labels:
        return None
    return probe_features(pretrained, eval_data)


def load_pretrained(
    run_dir: str | os.PathLike[str], data: TrainingData | None = None, strict: bool = False
) -> Any:
    """Rebuilds a run's method from its ``config.yaml`` and last checkpoint (``weights_only``).

    Args:
        run_dir: A folder written by ``eblearn train``.
        data: The run's training data, already loaded (default: read again as it was
            trained, skipping unreadable image files unless the run was trained ``strict``;
            images at the saved decoding size and with the saved normalization statistics,
            see :mod:`eblearn.app.data_stats`, or recomputed for a run folder without them).
        strict: Refuse unreadable image files of the training data even if the run skipped
            them.

    Raises:
        ValueError: If ``run_dir`` is not a run folder or its configuration is malformed.
        CheckpointError: If the checkpoint is missing, corrupted or does not fit.
    """
    from eblearn.train.runs import Pretrained, build_components, load_method_state

    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"{str(run_dir)!r} is a file, not a run folder")
    config = read_run_config(run_dir)
    if data is None:
        modality = modality_of(config.data)
        data = load_training_data(  # without saved statistics, a stream's come from its sample
            replace(config.as_request(), strict=strict or config.strict),
            modality,
            tokenizer=read_run_tokenizer(run_dir) if modality == "tokens" else None,
            stats=read_statistics(run_dir) if modality == IMAGES else None,
        )
    method, _, eval_transform = build_components(config, data)
    load_method_state(method, run_dir / LAST_CHECKPOINT)
    return Pretrained(method, config, data, run_dir, eval_transform)


def evaluate_run(
    run_dir: str | os.PathLike[str], data: str | None = None, strict: bool = False
) -> RunSummary | TextRunSummary | SpeechRunSummary:
    """Evaluates the last checkpoint of a run folder (``eblearn eval``), writing ``eval.json``.

    Args:
        run_dir: A folder written by ``eblearn train``.
        data: A labeled data set spec to probe the encoder on (``eval --data``); default the
            run's ``eval_data``, else the data it was trained on.
        strict: Refuse image files of the data probed that cannot be decoded, instead of
            skipping them with a warning (``eval --strict``; a run trained ``strict`` is
            probed strictly anyway). A run folder with saved normalization statistics
            (:mod:`eblearn.app.data_stats`) probed on ``data`` does not read its training
            data at all; an older one reads it, as it was trained, to recompute them.

    Raises:
        ValueError: If the folder is not a run folder or is in use, if the data to probe has
            no labels (a run trained without labels needs ``data``) or another number of
            channels, has unreadable image files and ``strict`` is set, or if the encoder
            gives non-finite features; all before anything is written.
    """
    start = time.perf_counter()
    folder = train_folder(run_dir)
    if folder.path.exists() and not folder.path.is_dir():
        raise ValueError(f"{str(folder.path)!r} is a file, not a run folder")
    saved = read_run_config(folder.path)
    spec = data or saved.eval_data
    stats = read_statistics(folder.path) if spec and modality_of(saved.data) == IMAGES else None
    probe_data = None
    if stats is not None:  # the saved statistics stand for the training data
        strictly = replace(saved, strict=strict or saved.strict)
        probe_data = load_eval_data(spec, strictly, stats.channels, stats.data, "--data")
        pretrained = load_pretrained(run_dir, data=with_statistics(probe_data, stats))
    else:
        pretrained = load_pretrained(run_dir, strict=strict and not spec)  # probed without spec
    config = pretrained.config
    if isinstance(pretrained.data, TextSplits):
        if data:
            raise ValueError(
                f"run {str(folder.path)!r} was trained on text ({config.data!r}); it is scored "
                "on its own held-out text, so eval takes no --data"
            )
        from eblearn.app.text_eval import evaluate_text_and_write

        with folder.claimed(Mode.ADD, command="eblearn eval"), interruptible():
            return evaluate_text_and_write(pretrained, folder, start, EVAL_FILE)
    if isinstance(pretrained.data, SpeechSplits):
        if data:
            raise ValueError(
                f"run {str(folder.path)!r} was trained on speech ({config.data!r}); it is "
                "probed on its own test takes, so eval takes no --data"
            )
        from eblearn.app.speech_eval import evaluate_speech_and_write

        with folder.claimed(Mode.ADD, command="eblearn eval"), interruptible():
            return evaluate_speech_and_write(pretrained, folder, start, EVAL_FILE)
    if spec and probe_data is None:
        strictly = replace(config, strict=strict or config.strict)
        probe_data = load_eval_data(
            spec, strictly, pretrained.data.channels, pretrained.data.name, "--data"
        )
    elif not pretrained.data.has_labels:
        raise ValueError(
            f"run {str(folder.path)!r} was pretrained on {config.data!r}, which has no labels, "
            f"so there is nothing to probe; give a labeled data set: eblearn eval "
            f"{folder.path!s} --data SPEC"
        )
    mode = Mode.ADD if folder.manifest() is not None else Mode.RESUME  # RESUME adopts old runs
    with folder.claimed(mode, command="eblearn eval"), interruptible():
        return _evaluate_and_write(pretrained, folder, start, EVAL_FILE, probe_data)


def skipped_probes(config: RunConfig, run_dir: Path) -> str:
    """The one line a run without labels prints: probes skipped, and how to get them."""
    why = "is streamed (read unlabeled)" if config.stream else "has no labels"
    return (
        f"probes skipped: {config.data} {why}; to probe the encoder on a labeled data "
        f"set, train with --eval-data SPEC or run: eblearn eval {run_dir} --data SPEC"
    )


def _evaluate_and_write(
    pretrained: Any,
    folder: RunFolder,
    start: float,
    results_file: str,
    probe_data: DatasetSplits | None = None,
    trained_at: float | None = None,
    features: Any = None,
) -> RunSummary:
    """Probes the encoder beside raw pixels, then writes the results file and the figures.

    The probes run on ``probe_data`` when given, else on the pretraining data; when that has
    no labels they are skipped (the summary says why) and the embedding figure shows a
    sample of the pretraining features colored by a K-means clustering of them. ``features``
    are the probes' train and test features when the processes of a distributed run have
    extracted them together (:func:`shared_probe_features`).
    """
    from eblearn.app.evaluation import cluster_features, evaluate_pretrained, sample_features
    from eblearn.plot.curves import plot_training_curves
    from eblearn.plot.embedding import plot_embedding
    from eblearn.train.history import read_history

    config = pretrained.config
    probed = probe_data if probe_data is not None else pretrained.data
    title = f"{config.method} on {config.data}"
    if probed.has_labels:
        encoder_report, pixel_report, test_features = evaluate_pretrained(
            pretrained, probe_data, features
        )
        summary = RunSummary(
            folder.path,
            config,
            encoder_report,
            pixel_report,
            time.perf_counter() - start,
            probed=probed.name,
        )
        where = "" if probed.name == config.data else f" {probed.name}"
        embedding = (
            test_features,
            probed.test.labels,
            probed.test.classes,
            f"{title}: t-SNE of{where} test features (kNN {encoder_report.knn:.1%})",
            "class",
        )
    else:
        features = sample_features(pretrained, EMBEDDING_SAMPLE)
        clusters = min(EMBEDDING_CLUSTERS, len(features))
        summary = RunSummary(
            folder.path,
            config,
            None,
            None,
            time.perf_counter() - start,
            skipped=skipped_probes(config, folder.path),
        )
        embedding = (
            features,
            cluster_features(features, clusters, config.seed),
            tuple(str(k) for k in range(clusters)),
            f"{title} (no labels): t-SNE of {len(features)} pretraining images,\n"
            f"colored by a K-means clustering (k={clusters}) of the features",
            "K-means cluster",
        )
    history = read_history(folder.path / LOG_FILE)
    summary.figures.append(plot_training_curves(history, folder.file(CURVE_FILE), title))
    features, labels, classes, caption, legend = embedding
    summary.figures.append(
        plot_embedding(
            features,
            labels,
            folder.file(EMBEDDING_FILE),
            classes,
            title=caption,
            seed=config.seed,
            legend_title=legend,
        )
    )
    summary.seconds = time.perf_counter() - start  # the figures count
    if trained_at is not None:
        summary.training_seconds = trained_at - start
    folder.write_json(results_file, summary.to_json())
    return summary


# --- command line ---------------------------------------------------------------------------

TRAIN_EPILOG = """\
examples:
  eblearn train                                   # VICReg on the embedded digits (~1.5 min on CPU)
  eblearn train --data cifar10 --data-root ~/data --download --epochs 200
  eblearn train --data npz:cifar10/ --backbone resnet18 --batch-size 512
  eblearn train --data npz:cifar10/ --backbone regnet_y_400mf     # a torchvision RegNet
  eblearn train --data npz:cifar10/ --backbone timm:convnext_atto # any timm model, by name
  eblearn train --data imagefolder:~/photos --image-size 64 --eval-data imagefolder:~/labeled
  eblearn train --data filelist:images.txt --image-size 64       # one image path per line
  eblearn train --data imagefolder:~/big --stream --image-size 64  # decoded from disk as it trains
  eblearn train --method-arg projector_dims=[1024,1024,1024] --method-arg nu_param=2
  eblearn train --config my_run.yaml --seed 1     # YAML keys are the long options, with _
  eblearn train --run-dir runs/mine --resume      # continue an interrupted run
  eblearn train --data shakespeare --method mlm   # masked characters on the embedded text
  eblearn train --data fsdd:fsdd.npz --method wav2vec2  # spoken digits (--download fetches FSDD)
  torchrun --nnodes 2 --nproc-per-node 4 --node-rank 0 --master-addr HOST -m eblearn.cli \
      train --num-nodes 2 --devices 4 --run-dir /shared/run   # on each machine (its rank)

A run folder receives config.yaml, checkpoints/last.ckpt (every epoch, written atomically),
log.csv, encoder.pt, results.json, loss_curve.png and embedding.png. Data without labels (a
folder without class subfolders, a file list, an .npz without labels) is pretrained on and the
probes are skipped: add --eval-data SPEC, or run eblearn eval RUN --data SPEC later. The
evaluation data is normalized with the pretraining data's statistics. Image files that cannot
be decoded are skipped with one warning naming them; --strict refuses them instead (exit code
2, nothing written). --resume may change only --run-dir, --no-progress, --data-root,
--download, --accelerator, --strict, --dist-timeout, --devices and --num-nodes; other options
are the saved run's. Resumed on another number of processes, a run keeps its global batch
(--batch-size becomes global / processes, so the learning rate and schedule still hold).
SIGINT or SIGTERM stop a run with exit code 130 or 143, keeping the checkpoint of the last
finished epoch. A process that dies stops the others within --dist-timeout (exit code 1).
"""


def add_train_parser(subparsers: Any) -> None:
    """Adds ``eblearn train``."""
    train = subparsers.add_parser(
        "train",
        help="pretrain a method, then evaluate it (kNN, linear and 10%%-label probes)",
        description="Pretrain a self-supervised method, then evaluate the frozen encoder "
        "beside raw pixels. With no options: VICReg on the embedded digits. Options left "
        "out are chosen from the data set ('chosen from the data').",
        epilog=TRAIN_EPILOG,
        formatter_class=HelpFormatter,
        argument_default=argparse.SUPPRESS,  # only the options given reach the config
    )
    what, _ = add_training_options(train)
    what.add_argument(
        "--stream",
        action="store_true",
        help="keep the images of an imagefolder:, filelist: or tar: --data on disk and decode each "
        "batch in DataLoader workers while training, for data larger than memory; the images "
        "are read unlabeled, so probe with --eval-data (default: decode all into memory)",
    )
    what.add_argument(
        "--eval-data",
        metavar="SPEC",
        help="a labeled data set to probe the encoder on after pretraining (e.g. when --data "
        "has no labels); normalized with --data's statistics, resized to --image-size "
        "(default: none, probe --data)",
    )
    where = train.add_argument_group("where results go")
    where.add_argument(
        "--run-dir", metavar="DIR", help="run folder (default: runs/<method>-<data>-<time>)"
    )
    where.add_argument(
        "--resume", action="store_true", default=False, help="continue the run in --run-dir"
    )
    where.add_argument(
        "--overwrite",
        action="store_true",
        default=False,
        help="replace the files eblearn wrote in --run-dir",
    )
    where.add_argument(
        "--no-progress", dest="progress_bar", action="store_false", help="hide the progress bar"
    )
    train.set_defaults(handler=_train_command)


def add_training_options(parser: argparse.ArgumentParser, single_method: bool = True) -> Any:
    """The "what to train" and "how to train" options, shared by ``train`` and ``bench``.

    Args:
        parser: A parser built with ``argument_default=argparse.SUPPRESS`` (so that only the
            options given reach :func:`build_config`).
        single_method: Add ``--method`` and ``--method-arg`` (``bench`` has its own).

    Returns:
        The two argument groups, for a command to add its own options to.
    """
    from eblearn.data.augment import AUGMENTATIONS
    from eblearn.data.registry import DATASETS, NEEDS_ARGUMENT
    from eblearn.methods.base import METHODS
    from eblearn.nn.backbones import BACKBONES

    chosen = "chosen from the data"
    what = parser.add_argument_group("what to train")
    what.add_argument(
        "--config", metavar="FILE", help="YAML file of options (keys as below; default: none)"
    )
    if single_method:
        what.add_argument(
            "--method",
            help=f"one of {', '.join(METHODS.names())} (default: vicreg); mlm and "
            "collobert-weston train on text, wav2vec2 and cpc on speech",
        )
    what.add_argument(
        "--data",
        help=f"one of {', '.join(n for n in DATASETS.names() if n not in NEEDS_ARGUMENT)}"
        ", npz:PATH, imagefolder:PATH, filelist:PATH or tar:PATH_OR_GLOB (webdataset shards); "
        "the last four may be unlabeled; "
        "text: shakespeare (embedded) or text:PATH (UTF-8, or .gz); speech: fsdd:PATH (an "
        "FSDD .npz; --download builds it) (default: digits)",
    )
    what.add_argument(
        "--data-root", metavar="DIR", help="folder of downloadable data sets (default: ./data)"
    )
    what.add_argument(
        "--download", action="store_true", help="allow downloading a missing data set"
    )
    add_strict(what)
    what.add_argument(
        "--backbone",
        help=f"one of {', '.join(BACKBONES.names())}, or timm:NAME for any timm model "
        f"(pip install timm) ({chosen})",
    )
    what.add_argument(
        "--augmentation", help=f"one of {', '.join(AUGMENTATIONS.names())} ({chosen})"
    )
    what.add_argument(
        "--image-size",
        type=positive_int,
        metavar="PX",
        help=f"side of the images the encoder trains on and is evaluated at ({chosen})",
    )
    what.add_argument(
        "--view-size",
        type=positive_int,
        metavar="PX",
        help="side of the training views, e.g. 24 for cheaper steps on 32 px images; the "
        "encoder is still evaluated, embedded and exported at --image-size (default: "
        "--image-size)",
    )
    what.add_argument(
        "--seq-len",
        type=positive_int,
        metavar="T",
        help="tokens per window of a text run (default: 64); samples per crop of a speech "
        "run (default: 4000)",
    )
    what.add_argument(
        "--tokenizer",
        choices=list(TOKENIZER_KINDS),
        help="how a text run cuts its corpus into tokens: characters, words, or BPE subwords "
        "learned on the training part (default: char for mlm, word for collobert-weston)",
    )
    what.add_argument(
        "--vocab-size",
        type=positive_int,
        metavar="V",
        help=f"vocabulary of --tokenizer bpe, special tokens included (default: {BPE_VOCAB_SIZE})",
    )
    if single_method:
        what.add_argument(
            "--method-arg",
            action="append",
            type=key_value,
            metavar="KEY=VALUE",
            help="method hyper-parameter (repeatable), e.g. nu_param=2 (default: chosen from "
            "the data)",
        )
    what.add_argument(
        "--augmentation-arg",
        action="append",
        type=key_value,
        metavar="KEY=VALUE",
        help="field of the view recipe set on every view (repeatable), e.g. brightness=0.8 or "
        "crop_scale=[0.2,1.0] (default: the recipe's)",
    )
    what.add_argument(
        "--backbone-arg",
        action="append",
        type=key_value,
        metavar="KEY=VALUE",
        help="backbone option (repeatable), e.g. width=64, or a timm.create_model argument "
        "such as drop_path_rate=0.1 (default: the backbone's)",
    )

    how = parser.add_argument_group("how to train")
    how.add_argument("--epochs", type=positive_int, help=f"passes over the data ({chosen})")
    how.add_argument(
        "--batch-size",
        type=positive_int,
        help="images (text: windows) per step and device (default: 256; text: 64)",
    )
    how.add_argument("--optimizer", choices=OPTIMIZERS, help=f"({chosen})")
    how.add_argument(
        "--lr", type=positive_float, help="peak learning rate (default: scales with the batch)"
    )
    how.add_argument("--weight-decay", type=non_negative_float, help=f"({chosen})")
    how.add_argument(
        "--warmup-epochs", type=non_negative_float, help="warm-up (default: 10%% of the run)"
    )
    how.add_argument(
        "--time-budget",
        type=duration,
        metavar="DURATION",
        help="wall time for data preparation and training, e.g. 30m or 1h30m: the schedule "
        "is laid over the measured step time and ends on time (default: none; --epochs caps)",
    )
    how.add_argument(
        "--eval-every",
        type=positive_int,
        metavar="EPOCHS",
        help="kNN test accuracy every EPOCHS epochs during training, in log.csv and "
        "loss_curve.png (default: at the end only)",
    )
    how.add_argument(
        "--logger",
        choices=LOGGERS,
        help="csv: the run's log.csv; tensorboard: log.csv and TensorBoard event files in "
        "RUN/tensorboard (pip install tensorboard) (default: csv)",
    )
    how.add_argument("--seed", type=int, help="seed of everything random (default: 0)")
    how.add_argument(
        "--deterministic", action="store_true", help="use deterministic algorithms only"
    )
    add_precision(how)
    how.add_argument(
        "--memory-format",
        choices=MEMORY_FORMATS,
        help="layout of a convolutional encoder's weights and views, in training and in "
        "feature extraction (image runs); auto: measured with --precision auto, else "
        "channels_last under bf16 (default: auto)",
    )
    how.add_argument("--accelerator", choices=ACCELERATORS, help="(default: auto)")
    how.add_argument(
        "--devices",
        type=positive_int,
        help="devices per machine; >1 process in all trains with DDP (default: 1)",
    )
    how.add_argument(
        "--num-nodes",
        type=positive_int,
        metavar="N",
        help="machines; >1 must be started by torchrun or srun on each (default: 1)",
    )
    how.add_argument(
        "--dist-timeout",
        type=duration,
        metavar="DURATION",
        help="how long a process waits for the others in a collective, e.g. 60s or 10m: a "
        "process that died or hangs stops the run with an error naming it (default: 30m)",
    )
    how.add_argument(
        "--sync-batchnorm",
        action="store_true",
        help="batch norm uses the statistics of the global batch, across all processes "
        "(needs more than one process)",
    )
    how.add_argument(
        "--compile",
        action="store_true",
        help="compile the encoder with torch.compile (TorchInductor; a C++ compiler on the "
        "CPU): faster steps after a compilation that counts in the run's time and budget",
    )
    how.add_argument(
        "--no-online-probe",
        dest="online_probe",
        action="store_false",
        help="skip the online linear probe",
    )
    return what, how


DICT_OPTIONS = {
    "method_arg": "method_args",
    "backbone_arg": "backbone_args",
    "augmentation_arg": "augmentation_args",
}
"""Repeatable ``--X-arg KEY=VALUE`` options and the config mapping each one fills."""


def build_config(args: argparse.Namespace) -> tuple[TrainConfig, dict[str, Any]]:
    """The request of ``eblearn train`` (YAML, then options) and the options given."""
    values: dict[str, Any] = {}
    config_file = getattr(args, "config", None)
    if config_file:
        values = TrainConfig.from_yaml(config_file).to_dict()
        values = {k: v for k, v in values.items() if v != getattr(TrainConfig(), k)}
    keys = {f for f in TrainConfig().to_dict()}
    for key in keys:
        if key in vars(args) and key not in DICT_OPTIONS.values():
            values[key] = getattr(args, key)
    for option, key in DICT_OPTIONS.items():
        for name, value in getattr(args, option, None) or []:
            values[key] = {**values.get(key, {}), name: value}
    return TrainConfig.from_dict(values, "options"), values


def _train_command(args: argparse.Namespace) -> int:
    config, given = build_config(args)
    summary = train_and_evaluate(config, resume=args.resume, overwrite=args.overwrite, given=given)
    if summary is None:
        return 0
    print()
    print(summary.table())
    print(f"\nrun folder: {summary.run_dir}  ({summary.timing()})")
    return 0


def add_eval_parser(subparsers: Any) -> None:
    """Adds ``eblearn eval``."""
    evaluate = subparsers.add_parser(
        "eval",
        help="evaluate a run folder's encoder (kNN, linear, 1%%/10%%-label probes)",
        description="Evaluate the last checkpoint of a run folder beside raw pixels; writes "
        "eval.json and the figures into the folder.",
        epilog="examples:\n  eblearn eval runs/mine\n  eblearn eval runs/mine --data "
        "imagefolder:~/labeled   # another labeled set",
        formatter_class=HelpFormatter,
    )
    evaluate.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by eblearn train")
    evaluate.add_argument(
        "--data",
        metavar="SPEC",
        default=argparse.SUPPRESS,  # its help says the default
        help="a labeled data set to probe the encoder on, normalized with the training data's "
        "statistics (default: the run's --eval-data, else its --data)",
    )
    add_strict(evaluate, default=False)
    evaluate.set_defaults(handler=_eval_command)


def _eval_command(args: argparse.Namespace) -> int:
    summary = evaluate_run(args.run_dir, getattr(args, "data", None), strict=args.strict)
    if not isinstance(summary, RunSummary):  # text or speech: their own tables
        print(summary.table())
        print(f"\nwritten: {summary.run_dir / EVAL_FILE}")
        return 0
    if summary.encoder is None or summary.pixels is None:  # evaluate_run refuses this
        print(summary.skipped)
        return 0
    print(summary.table(fractions=(0.01, 0.1)))
    print(
        f"linear probe top-5: {summary.encoder.linear_top5:.1%} "
        f"(raw pixels {summary.pixels.linear_top5:.1%})"
    )
    print(f"\nwritten: {summary.run_dir / EVAL_FILE}")
    return 0
