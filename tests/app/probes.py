"""The reliability probes: bad or unlucky inputs, tried as a user would, each classified.

Every probe runs one command (through :func:`eblearn.cli.main`, in this process) or one
library call, and lands in one column:

- **clear**: it failed with the expected exit code (CLI) or exception type (library) and a
  message holding the expected words, and every file that existed before is unchanged;
- **traceback**: an exception escaped the command line, or the library raised something
  other than the documented error;
- **silent**: it succeeded although the input is wrong, or its message lacks the words that
  name the problem;
- **lost**: a file that existed before the probe changed or disappeared.

``tests/app/test_reliability.py`` asserts that every probe is *clear*;
``python -m tests.app.probes`` prints the table of docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

TINY = ["--batch-size", "128", "--backbone-arg", "width=4", "--no-progress"]
TINY += ["--method-arg", "projector_dims=[32,32]"]


@dataclass(frozen=True)
class Probe:
    """One bad input.

    Attributes:
        family: The group it is counted in (a row of the table).
        name: What is wrong, in a few words.
        make: Builds the probe in a fresh folder: returns the command's arguments (a list) or
            a zero-argument callable (a library call).
        expect: Words the error message must hold.
        exit_code: The CLI's expected exit code (2: bad input, 1: failure).
        error: The library call's expected exception type; ``None`` when the call must
            succeed and return a true value (an exact answer where a crash used to be).
        protect: Whether ``make``'s folder holds files that must survive untouched.
    """

    family: str
    name: str
    make: Callable[[Path], Any]
    expect: str
    exit_code: int = 2
    error: type[BaseException] | None = ValueError
    protect: bool = True


class _TrainedInsteadOfRefusing(BaseException):
    """Raised by the engine's ``fit`` during a probe: every probe must be refused before."""


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".eblearn")
    }


def run_probe(probe: Probe, folder: Path) -> tuple[str, str]:
    """Runs ``probe`` in ``folder``; returns (column, what was seen)."""
    from eblearn.cli import main

    target = probe.make(folder)
    before = _snapshot(folder)
    stderr = io.StringIO()
    if isinstance(target, list):
        try:
            with (
                contextlib.redirect_stderr(stderr),
                contextlib.redirect_stdout(io.StringIO()),
                mock.patch("eblearn.train.runs.fit", side_effect=_TrainedInsteadOfRefusing),
            ):
                code = main([str(a) for a in target])
        except _TrainedInsteadOfRefusing:
            return "silent", "it started training instead of refusing the input"
        except SystemExit as exit_:  # argparse's refusals
            code = exit_.code if isinstance(exit_.code, int) else 2
        except Exception as error:
            return "traceback", f"{type(error).__name__}: {error}"
        seen = stderr.getvalue()
        if code == 0 or probe.expect not in seen or code != probe.exit_code:
            column = "silent"
        else:
            column = "clear"
    elif probe.error is None:
        try:
            answer = bool(target())
        except Exception as error:
            return "traceback", f"{type(error).__name__}: {error}"
        seen, column = ("right answer", "clear") if answer else ("wrong answer", "silent")
    else:
        try:
            with contextlib.redirect_stderr(stderr):
                target()
        except probe.error as error:
            seen = str(error)
            column = "clear" if probe.expect in seen else "silent"
        except Exception as error:
            return "traceback", f"{type(error).__name__}: {error}"
        else:
            seen, column = "no error", "silent"
    if probe.protect and _snapshot(folder) != before:
        return "lost", seen
    return column, seen


# --- builders ---------------------------------------------------------------------------------


def train(*arguments: str) -> Callable[[Path], list[str]]:
    """``eblearn train ARGS --run-dir <folder>/run``."""

    def make(folder: Path) -> list[str]:
        return ["train", *arguments, "--run-dir", str(folder / "run")]

    return make


def among(files: dict[str, str], *arguments: str) -> Callable[[Path], list[str]]:
    """Writes ``files`` (a name ending in ``/`` is a folder), then the command ``ARGS``, where
    ``{f}`` stands for the probe's folder."""

    def make(folder: Path) -> list[str]:
        for name, text in files.items():
            path = folder / name
            if name.endswith("/"):
                path.mkdir(parents=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        return [a.replace("{f}", str(folder)) for a in arguments]

    return make


def command(name: str, *arguments: str) -> Callable[[Path], list[str]]:
    """``eblearn NAME ARGS --run-dir <folder>/run``."""

    def make(folder: Path) -> list[str]:
        return [name, *arguments, "--run-dir", str(folder / "run")]

    return make


def train_with_config(text: str | bytes) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        data = text.encode() if isinstance(text, str) else text
        (folder / "run.yaml").write_bytes(data)
        return ["train", "--config", str(folder / "run.yaml"), "--run-dir", str(folder / "run")]

    return make


def npz(**arrays: Any) -> Callable[[Path], list[str]]:
    """``eblearn train --data npz:<file>`` on arrays written by the probe."""

    def make(folder: Path) -> list[str]:
        path = folder / "data.npz"
        np.savez(path, **arrays)
        run = str(folder / "run")
        return ["train", *TINY, "--epochs", "1", "--data", f"npz:{path}", "--run-dir", run]

    return make


def _bench_on_unlabeled(folder: Path) -> list[str]:
    np.savez(folder / "unlabeled.npz", images=np.zeros((40, 8, 8), np.uint8))
    return ["bench", "--data", f"npz:{folder / 'unlabeled.npz'}", "--run-dir", str(folder / "b")]


def npz_bytes(content: Callable[[Path], bytes]) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        path = folder / "data.npz"
        path.write_bytes(content(folder))
        return ["train", "--data", f"npz:{path}", "--run-dir", str(folder / "run")]

    return make


def _valid_npz_bytes(folder: Path) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, images=np.zeros((40, 8, 8), np.uint8), labels=np.arange(40) % 2)
    return buffer.getvalue()


def image_folder(build: Callable[[Path], Path], *options: str) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        root = build(folder)
        run = str(folder / "run")
        return ["train", "--data", f"imagefolder:{root}", *options, "--run-dir", run]

    return make


def _jpeg_tree(folder: Path, truncate: bool) -> Path:
    from PIL import Image

    root = folder / "pictures"
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(5):
            Image.new("RGB", (12, 12), (i * 40, 0, 0)).save(root / cls / f"{i}.jpg")
    if truncate:
        broken = root / "dog" / "3.jpg"
        broken.write_bytes(broken.read_bytes()[:40])
    return root


def _unreadable_folder(folder: Path) -> Path:
    """A folder whose every "image" is broken: empty, a text file, a JPEG cut short."""
    root = folder / "broken"
    root.mkdir()
    (root / "empty.png").write_bytes(b"")
    (root / "notes.jpg").write_text("not a picture")
    (root / "cut.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(20))
    return root


def unlabeled_npz(folder: Path) -> Path:
    """An .npz of 40 gray 8×8 images without labels, in ``folder``."""
    path = folder / "unlabeled.npz"
    np.savez(path, images=np.arange(40 * 64, dtype=np.uint8).reshape(40, 8, 8))
    return path


def eval_data(build: Callable[[Path], str]) -> Callable[[Path], list[str]]:
    """``eblearn train --eval-data SPEC`` (on the digits) with a spec built in the folder."""

    def make(folder: Path) -> list[str]:
        spec = build(folder)
        return ["train", *TINY, "--eval-data", spec, "--run-dir", str(folder / "run")]

    return make


def eval_other_data(folder: Path) -> list[str]:
    """``eblearn eval RUN --data npz:<unlabeled>`` on a copy of the finished run."""
    import shutil

    shutil.copytree(finished_run(), folder / "run")
    return ["eval", str(folder / "run"), "--data", f"npz:{unlabeled_npz(folder)}"]


def existing_run(*arguments: str) -> Callable[[Path], list[str]]:
    """Copies the shared finished run into the probe's folder, then ``train ARGS`` on it."""

    def make(folder: Path) -> list[str]:
        import shutil

        shutil.copytree(finished_run(), folder / "run")
        return ["train", *arguments, "--run-dir", str(folder / "run")]

    return make


def on_run(command: str, edit: Callable[[Path], None]) -> Callable[[Path], list[str]]:
    """Copies the finished run, edits it, then ``eblearn COMMAND <run>``."""

    def make(folder: Path) -> list[str]:
        import shutil

        shutil.copytree(finished_run(), folder / "run")
        edit(folder / "run")
        return [command, str(folder / "run")]

    return make


def on_world(step: str, *arguments: str) -> Callable[[Path], list[str]]:
    """Copies the shared world run (pendulum, trained model), then ``world STEP ARGS``."""

    def make(folder: Path) -> list[str]:
        import shutil

        shutil.copytree(world_run(), folder / "run")
        return ["world", step, *arguments, "--run-dir", str(folder / "run")]

    return make


_WORLD: list[Path] = []


def world_run() -> Path:
    """Pendulum transitions and a small trained forward model, made once per process."""
    if not _WORLD:
        import tempfile

        from eblearn.cli import main

        path = Path(tempfile.mkdtemp()) / "world"
        with contextlib.redirect_stdout(io.StringIO()):
            collect = ["world", "collect", "--env", "pendulum", "--steps", "60"]
            assert main([*collect, "--run-dir", str(path)]) == 0
            train = ["world", "train", "--epochs", "1", "--hidden", "8,8"]
            assert main([*train, "--run-dir", str(path)]) == 0
        _WORLD.append(path)
    return _WORLD[0]


_FINISHED: list[Path] = []


def finished_run() -> Path:
    """A one-epoch training run, made once per process."""
    if not _FINISHED:
        import tempfile

        from eblearn.cli import main

        path = Path(tempfile.mkdtemp()) / "finished"
        arguments = [*TINY, "--epochs", "1", "--warmup-epochs", "0", "--run-dir", str(path)]
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["train", *arguments]) == 0
        _FINISHED.append(path)
    return _FINISHED[0]


def _poison_encoder(run: Path) -> None:
    import torch

    path = run / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(path, weights_only=True)
    for name, value in checkpoint["state_dict"].items():
        if name.startswith("method.encoder") and value.is_floating_point():
            value.fill_(float("inf"))
    torch.save(checkpoint, path)


class _Payload:
    def __reduce__(self) -> tuple[Any, ...]:
        return (print, ("this must never run",))


def _malicious_checkpoint(run: Path) -> None:
    import torch

    torch.save({"state_dict": {}, "payload": _Payload()}, run / "checkpoints" / "last.ckpt")


def _truncate(name: str) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        data = (run / name).read_bytes()
        (run / name).write_bytes(data[: len(data) // 3])

    return edit


def _set_in_config(key: str, value: Any) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        import yaml

        config = yaml.safe_load((run / "config.yaml").read_text())
        config[key] = value
        (run / "config.yaml").write_text(yaml.safe_dump(config))

    return edit


def _write(name: str, text: str) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        (run / name).write_text(text)

    return edit


def library(call: Callable[[], Any]) -> Callable[[Path], Callable[[], Any]]:
    """A library call (no files involved)."""
    return lambda folder: call


def _data(dtype: Any = np.float64) -> np.ndarray:
    generator = np.random.default_rng(0)
    return generator.normal(size=(60, 4)).astype(dtype)


def _estimator(name: str, k: int) -> Any:
    from eblearn import latent

    if name == "PCA":
        return latent.PCA(n_components=k)
    size = "n_clusters" if name == "KMeans" else "n_components"
    return getattr(latent, name)(**{size: k, "random_state": 0})


def _complex_fit(name: str) -> Callable[[], Any]:
    def call() -> Any:
        from eblearn.latent import SparseCoder

        data = _data() + 1j * _data()
        if name == "SparseCoder":
            return SparseCoder(np.eye(4), alpha=0.1).transform(data)
        return _estimator(name, 2).fit(data)

    return call


def _sparse_coder(**options: Any) -> Callable[[], Any]:
    def call() -> Any:
        from eblearn.latent import SparseCoder

        return SparseCoder(np.eye(4), **options).transform(_data())

    return call


def _zero_dictionary(algorithm: str) -> Callable[[], bool]:
    def call() -> bool:
        import torch

        from eblearn.latent import SparseCoder

        codes = SparseCoder(np.zeros((3, 4)), alpha=0.3, algorithm=algorithm).transform(_data())
        return bool(torch.as_tensor(codes).abs().max() == 0)

    return call


def _half_precision_fit(name: str) -> Callable[[], bool]:
    """float16 data are fitted in float32: the same state as a float32 fit of the same values."""

    def call() -> bool:
        import torch

        half = torch.as_tensor(_data(np.float32)).half()
        state = "cluster_centers_" if name == "KMeans" else "means_"
        fitted = getattr(_estimator(name, 3).fit(half), state)
        reference = getattr(_estimator(name, 3).fit(half.float()), state)
        return fitted.dtype == torch.float32 and bool(torch.equal(fitted, reference))

    return call


def _gmm_start(**start: Any) -> Callable[[], Any]:
    def call() -> Any:
        from eblearn.latent import GaussianMixture

        return GaussianMixture(n_components=2, **start).fit(_data())

    return call


def _sinkhorn_far_sample() -> bool:
    import torch

    from eblearn.losses.swav import sinkhorn

    scores = torch.randn(32, 8, generator=torch.Generator().manual_seed(0)) * 0.1
    scores[0] *= 100
    q = sinkhorn(scores, epsilon=0.005)
    return bool(torch.isfinite(q).all() and torch.allclose(q.sum(1), torch.ones(32)))


# --- the probes -------------------------------------------------------------------------------

PROBES: list[Probe] = [
    # Numbers on the command line: zero is never "the default".
    *(
        Probe("train: numbers and choices", f"{option} {value}", train(option, value), option)
        for option, value in (
            ("--epochs", "0"),
            ("--epochs", "-3"),
            ("--epochs", "two"),
            ("--batch-size", "0"),
            ("--image-size", "0"),
            ("--devices", "0"),
            ("--lr", "0"),
            ("--lr", "nan"),
            ("--lr", "inf"),
            ("--weight-decay", "-1"),
            ("--warmup-epochs", "-1"),
            ("--optimizer", "adam"),
            ("--precision", "64"),
            ("--accelerator", "tpu"),
            ("--seed", "1.5"),
            ("--time-budget", "0"),
            ("--time-budget", "soon"),
            ("--eval-every", "0"),
        )
    ),
    Probe("train: numbers and choices", "--image-size 2", train("--image-size", "2"), ">= 8"),
    Probe(
        "train: numbers and choices",
        "--batch-size 1 (VICReg needs 2)",
        train("--batch-size", "1"),
        "at least 2 samples",
    ),
    Probe(
        "train: numbers and choices",
        "batch larger than the data",
        train("--batch-size", "100000"),
        "exceeds the",
    ),
    # Names and settings.
    Probe("train: names and settings", "--method nope", train("--method", "nope"), "valid methods"),
    Probe("train: names and settings", "--data nope", train("--data", "nope"), "valid datasets"),
    Probe(
        "train: names and settings", "--backbone vgg", train("--backbone", "vgg"), "valid backbones"
    ),
    Probe(
        "train: names and settings",
        "--augmentation nope",
        train("--augmentation", "nope"),
        "unknown augmentation",
    ),
    Probe(
        "train: names and settings",
        "--accelerator gpu without one",
        train("--accelerator", "gpu"),
        "none is available",
    ),
    Probe(
        "train: names and settings",
        "malformed --method-arg YAML",
        train("--method-arg", "projector_dims=[1,"),
        "not valid YAML",
    ),
    Probe(
        "train: names and settings",
        "--method-arg without =",
        train("--method-arg", "projector_dims"),
        "expected KEY=VALUE",
    ),
    Probe(
        "train: names and settings",
        "unknown --method-arg",
        train("--method-arg", "colour=2"),
        "no hyper-parameter(s) colour",
    ),
    Probe(
        "train: names and settings",
        "--method-arg of the wrong type",
        train("--method-arg", "projector_dims=abc"),
        "cannot be built",
    ),
    Probe(
        "train: names and settings",
        "unknown --backbone-arg",
        train("--backbone-arg", "depth=3"),
        "has no option(s) depth",
    ),
    Probe(
        "train: names and settings",
        "--backbone-arg of the wrong type",
        train("--backbone-arg", "width=wide"),
        "cannot be built",
    ),
    Probe(
        "train: names and settings",
        "--data npz: without a path",
        train("--data", "npz:"),
        "needs a path",
    ),
    Probe(
        "train: names and settings",
        "--data digits:extra",
        train("--data", "digits:x"),
        "takes no argument",
    ),
    # Configuration files.
    *(
        Probe("config files", name, train_with_config(text), expect)
        for name, text, expect in (
            ("YAML syntax error", "epochs: [1\n", "not valid YAML at line"),
            ("epochs: two", 'epochs: "two"\n', "epochs must be an integer"),
            ("epochs: 1.5", "epochs: 1.5\n", "epochs must be an integer"),
            ("batch_size: [64]", "batch_size: [64]\n", "batch_size must be an integer"),
            ("lr: abc", 'lr: "abc"\n', "lr must be a number"),
            ("method_args: 5", "method_args: 5\n", "method_args must be a mapping"),
            ("run_dir: 5", "run_dir: 5\n", "run_dir must be a string"),
            ("online_probe: no (a string)", 'online_probe: "no"\n', "must be true or false"),
            ("epochs: 0", "epochs: 0\n", "epochs must be >= 1"),
            ("image_size: 0", "image_size: 0\n", "image_size must be"),
            ("a list, not a mapping", "- 1\n", "must hold a mapping"),
            ("unknown key", "learning_rate: 0.1\n", "unknown config key(s) learning_rate"),
            ("binary file", b"\xff\xfe\x00", "not a text file"),
        )
    ),
    Probe(
        "config files",
        "missing --config file",
        lambda folder: ["train", "--config", str(folder / "none.yaml")],
        "does not exist",
    ),
    # Run folders.
    Probe(
        "run folders",
        "--run-dir is a file",
        among({"f": "x"}, "train", "--run-dir", "{f}/f"),
        "is a file, not a folder",
    ),
    Probe(
        "run folders",
        "--run-dir below a file",
        among({"f": "x"}, "train", "--run-dir", "{f}/f/run"),
        "is a file",
    ),
    Probe(
        "run folders",
        "a foreign non-empty folder",
        among({"mine/notes.txt": "x"}, "train", "--run-dir", "{f}/mine"),
        "was not written by eblearn",
    ),
    Probe(
        "run folders",
        "--overwrite on a foreign folder with checkpoints/",
        among(
            {"mine/checkpoints/last.ckpt": "theirs"},
            "train",
            "--run-dir",
            "{f}/mine",
            "--overwrite",
        ),
        "not eblearn's to delete",
    ),
    Probe(
        "run folders",
        "a finished run without --resume/--overwrite",
        existing_run(),
        "already holds a run",
    ),
    Probe(
        "run folders",
        "--overwrite with --method nope",
        existing_run("--overwrite", "--method", "nope"),
        "unknown method",
    ),
    Probe(
        "run folders",
        "--overwrite with --epochs 0",
        existing_run("--overwrite", "--epochs", "0"),
        "--epochs",
    ),
    Probe(
        "run folders",
        "--resume and --overwrite together",
        existing_run("--resume", "--overwrite"),
        "choose one of --resume",
    ),
    Probe(
        "run folders",
        "--resume with nothing to resume",
        train("--resume"),
        "nothing to resume",
    ),
    Probe(
        "run folders",
        "--resume without --run-dir",
        lambda folder: ["train", "--resume"],
        "--resume needs the run folder",
    ),
    *(
        Probe(
            "run folders",
            f"--resume {option} {value}",
            existing_run("--resume", option, value),
            "cannot change",
        )
        for option, value in (
            ("--lr", "0.5"),
            ("--epochs", "5"),
            ("--batch-size", "64"),
            ("--method", "simclr"),
            ("--method-arg", "nu_param=3"),
            ("--seed", "4"),
        )
    ),
    # Data files.
    Probe("data files", "npz images as strings", npz(images=np.array(["a"] * 20)), "strings"),
    Probe(
        "data files",
        "npz complex images",
        npz(images=np.zeros((20, 8, 8), np.complex64)),
        "complex",
    ),
    Probe(
        "data files",
        "npz object array",
        npz(images=np.array([None] * 20, dtype=object)),
        "object array",
    ),
    Probe("data files", "npz truncated", npz_bytes(lambda f: _valid_npz_bytes(f)[:100]), "npz"),
    Probe("data files", "npz empty file", npz_bytes(lambda f: b""), "empty"),
    Probe("data files", "a text file named .npz", npz_bytes(lambda f: b"hello"), ".npz"),
    Probe(
        "data files",
        "npz negative label",
        npz(images=np.zeros((20, 8, 8), np.uint8), labels=np.r_[np.arange(19) % 2, -3]),
        "below -1",
    ),
    Probe(
        "data files",
        "npz fractional label",
        npz(images=np.zeros((20, 8, 8), np.uint8), labels=np.r_[np.arange(19) % 2, 1.5]),
        "fractional",
    ),
    Probe(
        "data files",
        "npz label 10^6",
        npz(images=np.zeros((20, 8, 8), np.uint8), labels=np.r_[np.arange(19) % 2, 10**6]),
        "remap",
    ),
    Probe(
        "data files",
        "npz too few class names",
        npz(
            images=np.zeros((20, 8, 8), np.uint8),
            labels=np.arange(20) % 8,
            classes=np.array(["a", "b", "c"]),
        ),
        "has 3 names",
    ),
    Probe(
        "data files",
        "npz labels of another length",
        npz(images=np.zeros((20, 8, 8), np.uint8), labels=np.arange(15) % 2),
        "15 labels",
    ),
    Probe(
        "data files",
        "npz uint16 values above 255",
        npz(images=np.full((20, 8, 8), 300, np.uint16), labels=np.arange(20) % 2),
        "[0, 255]",
    ),
    Probe(
        "data files",
        "imagefolder with a truncated JPEG, --strict",
        image_folder(lambda folder: _jpeg_tree(folder, truncate=True), "--strict"),
        "'dog/3.jpg' (truncated or corrupt",
    ),
    Probe(
        "data files",
        "imagefolder of only unreadable files",
        image_folder(_unreadable_folder),
        "holds no readable image: its 3 image file(s) cannot be read",
    ),
    Probe(
        "data files",
        "imagefolder path is a file",
        among({"x.png": "x"}, "train", "--data", "imagefolder:{f}/x.png"),
        "got a file",
    ),
    Probe(
        "data files",
        "imagefolder empty",
        among({"empty/": ""}, "train", "--data", "imagefolder:{f}/empty"),
        "no image files",
    ),
    Probe(
        "data files",
        "filelist naming a missing file",
        among(
            {"list.txt": "# mine\nmissing.png\n"},
            *("train", "--data", "filelist:{f}/list.txt", "--run-dir", "{f}/run"),
        ),
        "line 2: 'missing.png'",
    ),
    Probe(
        "data files",
        "filelist path is a folder",
        among({"pics/": ""}, "train", "--data", "filelist:{f}/pics", "--run-dir", "{f}/run"),
        "is a folder",
    ),
    Probe(
        "data files",
        "npz with some labels missing",
        npz(images=np.zeros((20, 8, 8), np.uint8), labels=np.r_[np.arange(17) % 2, [-1] * 3]),
        "3 of 20 images have no label",
    ),
    Probe(
        "data files",
        "--eval-data without labels",
        eval_data(lambda folder: f"npz:{unlabeled_npz(folder)}"),
        "has no labels",
    ),
    Probe(
        "data files",
        "--eval-data with RGB images for a gray encoder",
        eval_data(lambda folder: f"imagefolder:{_jpeg_tree(folder, truncate=False)}"),
        "3-channel images but the encoder is trained on 1-channel",
    ),
    Probe(
        "data files",
        "eval --data without labels",
        eval_other_data,
        "has no labels",
    ),
    # Reading runs back.
    Probe(
        "eval and checkpoints",
        "eval on a missing folder",
        lambda f: ["eval", str(f / "no")],
        "is not a run folder",
    ),
    Probe(
        "eval and checkpoints",
        "eval on a file",
        among({"f": "x"}, "eval", "{f}/f"),
        "is a file",
    ),
    Probe(
        "eval and checkpoints",
        "eval with a YAML syntax error",
        on_run("eval", _write("config.yaml", "epochs: [\n")),
        "not valid YAML",
        protect=False,
    ),
    Probe(
        "eval and checkpoints",
        "eval with a config of wrong types",
        on_run("eval", _set_in_config("epochs", "two")),
        "epochs must be an integer",
        protect=False,
    ),
    Probe(
        "eval and checkpoints",
        "eval with NaN/Inf features",
        on_run("eval", _poison_encoder),
        "NaN or Inf features",
        protect=False,
    ),
    Probe(
        "eval and checkpoints",
        "eval with a truncated checkpoint",
        on_run("eval", _truncate("checkpoints/last.ckpt")),
        "corrupted or truncated",
        protect=False,
    ),
    Probe(
        "eval and checkpoints",
        "eval with a malicious checkpoint",
        on_run("eval", _malicious_checkpoint),
        "will not unpickle",
        protect=False,
    ),
    Probe(
        "eval and checkpoints",
        "--resume from a truncated checkpoint",
        lambda folder: [
            *on_run("train", _truncate("checkpoints/last.ckpt"))(folder)[:1],
            "--resume",
            "--run-dir",
            str(folder / "run"),
        ],
        "corrupted or truncated",
        protect=False,
    ),
    # The energy lab.
    *(
        Probe("lab and bench", f"lab {option} {value}", command("lab", option, value), option)
        for option, value in (
            ("--steps", "0"),
            ("--resolution", "0"),
            ("--n", "0"),
            ("--batch-size", "0"),
            ("--margin", "-1"),
            ("--hidden", "64,0"),
            ("--betas", "0"),
            ("--sampler", "gibbs"),
        )
    ),
    Probe("lab and bench", "lab --loss nope", command("lab", "--loss", "nope"), "unknown loss"),
    Probe(
        "lab and bench",
        "lab --model kmeans --loss hinge (a fitted model has no loss)",
        command("lab", "--model", "kmeans", "--loss", "hinge"),
        "--loss does not apply to --model kmeans",
    ),
    Probe(
        "lab and bench",
        "lab --model pca --components 3 (2-D)",
        command("lab", "--model", "pca", "--components", "3"),
        "at most 2 component(s)",
    ),
    Probe(
        "lab and bench",
        "lab --components 0",
        command("lab", "--model", "gmm", "--components", "0"),
        "--components",
    ),
    Probe("lab and bench", "lab --data nope", command("lab", "--data", "nope"), "toy data set"),
    Probe(
        "lab and bench",
        "lab into a foreign folder with --overwrite",
        among({"run/energy.png": "theirs"}, "lab", "--run-dir", "{f}/run", "--overwrite"),
        "not eblearn's to delete",
    ),
    # The bench.
    Probe(
        "lab and bench",
        "bench with a bad third method name",
        command("bench", "--methods", "simclr,byol,nope"),
        "unknown method 'nope'",
    ),
    Probe(
        "lab and bench",
        "bench with a method named twice",
        command("bench", "--methods", "simclr,simclr"),
        "more than once",
    ),
    Probe(
        "lab and bench",
        "bench with a bad hyper-parameter of the third method",
        command("bench", "--methods", "simclr,byol,vicreg", "--method-arg", "vicreg:nu=1"),
        "no hyper-parameter(s) nu",
    ),
    Probe("lab and bench", "bench --epochs 0", command("bench", "--epochs", "0"), "--epochs"),
    Probe(
        "lab and bench",
        "bench on data without labels",
        _bench_on_unlabeled,
        "which need labels",
    ),
    Probe(
        "lab and bench",
        "bench --devices 2",
        command("bench", "--devices", "2"),
        "on one device",
    ),
    # World models: collect, train, plan.
    Probe(
        "world",
        "collect --env nope",
        command("world", "collect", "--env", "nope"),
        "unknown environment",
    ),
    *(
        Probe(
            "world",
            f"collect {option} 0",
            command("world", "collect", "--env", "pendulum", option, "0"),
            option,
        )
        for option in ("--steps", "--episode-steps")
    ),
    Probe("world", "train --epochs 0", on_world("train", "--epochs", "0"), "--epochs"),
    Probe("world", "train --hidden 128,0", on_world("train", "--hidden", "128,0"), "--hidden"),
    Probe(
        "world",
        "train over an existing model without --overwrite",
        on_world("train", "--epochs", "1"),
        "pass --overwrite to replace it",
    ),
    *(
        Probe("world", f"plan {option} 0", on_world("plan", option, "0"), option)
        for option in ("--horizon", "--episodes", "--batch")
    ),
    Probe("world", "plan --planner nope", on_world("plan", "--planner", "nope"), "unknown planner"),
    Probe(
        "world",
        "plan with an unknown --planner-arg",
        on_world("plan", "--planner", "mppi", "--planner-arg", "popsize=3"),
        "unknown option 'popsize' of planner 'mppi'",
    ),
    Probe(
        "world",
        "train on a folder that is not a world run",
        among({"notes.txt": "x"}, "world", "train", "--run-dir", "{f}"),
        "is not a world run folder",
    ),
    # The library's estimators and losses, called directly.
    *(
        Probe(
            "estimators and losses",
            f"{name} on complex data",
            library(_complex_fit(name)),
            "complex",
        )
        for name in ("PCA", "KMeans", "GaussianMixture", "SparseCoder")
    ),
    Probe(
        "estimators and losses",
        "SparseCoder(tol=nan)",
        library(_sparse_coder(tol=float("nan"))),
        "tol must be",
    ),
    Probe(
        "estimators and losses",
        "SparseCoder(alpha=inf)",
        library(_sparse_coder(alpha=float("inf"))),
        "alpha must be",
    ),
    *(
        Probe(
            "estimators and losses",
            f"all-zero dictionary under {algorithm}",
            library(_zero_dictionary(algorithm)),
            "",
            error=None,
        )
        for algorithm in ("ista", "fista", "admm")
    ),
    *(
        Probe(
            "estimators and losses",
            f"{name} on float16",
            library(_half_precision_fit(name)),
            "",
            error=None,
        )
        for name in ("KMeans", "GaussianMixture")
    ),
    Probe(
        "estimators and losses",
        "GaussianMixture with a non-PD precisions_init",
        library(_gmm_start(precisions_init=np.stack([np.eye(4), -np.eye(4)]))),
        "not positive definite",
    ),
    Probe(
        "estimators and losses",
        "GaussianMixture weights_init not summing to 1",
        library(_gmm_start(weights_init=np.array([0.6, 0.5]))),
        "must sum to 1",
    ),
    Probe(
        "estimators and losses",
        "Sinkhorn at ε=0.005 with one far sample",
        library(_sinkhorn_far_sample),
        "",
        error=None,
    ),
]


def table(results: list[tuple[Probe, str, str]]) -> str:
    """The markdown table of docs/reliability.md: one row per family."""
    columns = ("clear", "traceback", "silent", "lost")
    families: dict[str, Counter[str]] = {}
    for probe, column, _ in results:
        families.setdefault(probe.family, Counter())[column] += 1
    lines = [
        "| probe family | tried | " + " | ".join(columns) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in columns) + " |",
    ]
    total: Counter[str] = Counter()
    for family, counts in families.items():
        total.update(counts)
        cells = " | ".join(str(counts[c]) for c in columns)
        lines.append(f"| {family} | {sum(counts.values())} | {cells} |")
    cells = " | ".join(f"**{total[c]}**" for c in columns)
    lines.append(f"| **all** | **{sum(total.values())}** | {cells} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import tempfile

    outcomes = []
    for probe in PROBES:
        column, seen = run_probe(probe, Path(tempfile.mkdtemp()))
        outcomes.append((probe, column, seen))
        if column != "clear":
            print(f"{column}: {probe.family}: {probe.name}: {seen[:300]}")
    print(table(outcomes))
