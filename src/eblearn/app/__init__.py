"""The application layer: the jobs behind each ``eblearn`` command.

Every job turns names and options into objects once, validates all of them while only
reading the disk, and only then claims its :class:`RunFolder` (locked, deleting only files
eblearn wrote) and acts. SIGINT and SIGTERM end a job with :class:`Interrupted` (exit codes
130 and 143 from the command line), keeping the last checkpoint.

    train     :func:`train_and_evaluate`, :func:`pretrain`  (``eblearn train``)
    eval      :func:`evaluate_run`, :func:`load_pretrained`  (``eblearn eval``)
    lab       :mod:`eblearn.app.lab`    (``eblearn lab``)
    bench     :mod:`eblearn.app.bench`  (``eblearn bench``)
    world     :mod:`eblearn.app.world`  (``eblearn world collect|train|plan``)
"""

from eblearn.app.interrupt import Interrupted, interruptible
from eblearn.app.run_folder import FolderInUseError, Mode, RunFolder, default_run_path
from eblearn.app.train import (
    RunSummary,
    evaluate_run,
    load_pretrained,
    prepare_training,
    pretrain,
    read_run_config,
    train_and_evaluate,
)

__all__ = [
    "FolderInUseError",
    "Interrupted",
    "Mode",
    "RunFolder",
    "RunSummary",
    "default_run_path",
    "evaluate_run",
    "interruptible",
    "load_pretrained",
    "prepare_training",
    "pretrain",
    "read_run_config",
    "train_and_evaluate",
]
