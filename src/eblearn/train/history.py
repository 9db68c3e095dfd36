"""The run's CSV log: one row per logged step, never lost on resume.

Lightning's own CSV logger deletes ``metrics.csv`` when a run resumes. This one keeps the rows
of the epochs the resumed checkpoint contains, drops those of the interrupted epoch (they are
logged again when the epoch is replayed), and rewrites the file atomically at each save.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers.logger import Logger
from lightning.pytorch.utilities import rank_zero_only

from eblearn._io import atomic_write_bytes

FIRST_COLUMNS = ("epoch", "step")


def read_history(path: str | os.PathLike[str]) -> list[dict[str, float]]:
    """The rows of a run's ``log.csv`` as dicts of floats (empty cells left out)."""
    path = Path(path)
    if not path.is_file():
        return []
    with path.open(newline="") as file:
        return [
            {key: float(value) for key, value in row.items() if value not in ("", None)}
            for row in csv.DictReader(file)
        ]


class RunHistory(Logger):
    """A Lightning logger writing ``log.csv`` in a run folder.

    Args:
        path: The CSV file.
        keep_epochs_below: On resume, the epoch the run restarts at: earlier rows are kept,
            later ones dropped. ``None`` starts a fresh file.
    """

    def __init__(self, path: str | os.PathLike[str], keep_epochs_below: int | None = None) -> None:
        super().__init__()
        self.path = Path(path)
        self.rows: list[dict[str, float]] = []
        if keep_epochs_below is not None:
            self.rows = [
                row for row in read_history(self.path) if row.get("epoch", 0) < keep_epochs_below
            ]

    @property
    def name(self) -> str:
        return "eblearn"

    @property
    def version(self) -> None:
        """One run per folder: no versions (and no ``v_num`` on the progress bar)."""
        return None

    @property
    def save_dir(self) -> str:
        return str(self.path.parent)

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """Hyper-parameters live in the run's ``config.yaml``, not in the log."""

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        row = {key: float(value) for key, value in metrics.items()}
        row["step"] = float(step if step is not None else len(self.rows))
        self.rows.append(row)

    @rank_zero_only
    def save(self) -> None:
        columns = sorted({key for row in self.rows for key in row} - set(FIRST_COLUMNS))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=[*FIRST_COLUMNS, *columns])
        writer.writeheader()
        for row in self.rows:
            writer.writerow({key: _format(value, key) for key, value in row.items()})
        atomic_write_bytes(buffer.getvalue().encode(), self.path)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.save()


def _format(value: float, key: str) -> str:
    return str(int(value)) if key in FIRST_COLUMNS else repr(value)
