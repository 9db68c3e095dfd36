"""TensorBoard event files of a run (``--logger tensorboard``), beside its ``log.csv``.

Lightning's :class:`~lightning.pytorch.loggers.TensorBoardLogger` writes the scalars; this
subclass keeps it inside the run folder's own layout:

- the event files go straight into ``RUN/tensorboard/`` (no ``lightning_logs/version_N``
  folders), and a resumed run adds a new event file there, which TensorBoard reads as the
  continuation of the same run;
- no ``hparams.yaml`` is written: the hyper-parameters live in the run's ``config.yaml``;
- every event file is handed to ``register`` as soon as it exists, before any scalar is
  written into it, so that the run folder's manifest lists it (and ``--overwrite`` deletes
  it, and nothing else).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

TENSORBOARD_DIR = "tensorboard"
"""The folder of a run that holds its TensorBoard event files."""
EVENT_FILES = "events.out.tfevents.*"
"""The names TensorBoard gives its event files."""


class RunTensorBoard(TensorBoardLogger):
    """TensorBoard event files in ``folder``, each registered as soon as it is created.

    Args:
        folder: Where the event files go (``RUN/tensorboard``).
        register: Called with the path of every event file this logger creates, before
            anything is written into it (``None``: nobody to tell).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp()) / "tensorboard"
        >>> seen = []
        >>> logger = RunTensorBoard(folder, seen.append)
        >>> logger.log_metrics({"train/loss": 1.5}, step=0)
        >>> logger.finalize("success")
        >>> [p.parent == folder and p.name.startswith("events.out.tfevents") for p in seen]
        [True]
    """

    def __init__(self, folder: Path, register: Callable[[Path], object] | None = None) -> None:
        super().__init__(
            save_dir=str(folder.parent), name=folder.name, version="", default_hp_metric=False
        )
        self.folder = folder
        self._register = register

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """Hyper-parameters live in the run's ``config.yaml``, not in the event files."""

    @rank_zero_only
    def save(self) -> None:
        """Flushes the event file (and writes no ``hparams.yaml``)."""
        if self._experiment is not None:
            self._experiment.flush()

    @property
    def experiment(self) -> Any:
        """The ``SummaryWriter``; creating it creates its event file, registered at once
        (only that file: older event files of a resumed run are already the run's, and a file
        another program put there is not eblearn's)."""
        if self._experiment is not None or getattr(rank_zero_only, "rank", 0) != 0:
            return super().experiment
        before = set(self.folder.glob(EVENT_FILES))
        writer = super().experiment
        for path in sorted(set(self.folder.glob(EVENT_FILES)) - before):
            if self._register is not None:
                self._register(path)
        return writer
