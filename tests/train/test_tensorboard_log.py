"""The TensorBoard logger of a run: event files in RUN/tensorboard, each registered once."""

from __future__ import annotations

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from eblearn.train.tensorboard_log import TENSORBOARD_DIR, RunTensorBoard


def test_only_the_event_file_it_creates_is_registered_and_holds_the_scalars(tmp_path):
    board_dir = tmp_path / TENSORBOARD_DIR
    board_dir.mkdir()
    older = board_dir / "events.out.tfevents.0.elsewhere.1.0"  # a resumed run's, or foreign
    older.write_bytes(b"")
    seen = []
    logger = RunTensorBoard(board_dir, seen.append)
    logger.log_hyperparams({"lr": 0.1})
    for step, value in enumerate([3.0, 2.5, 1.25]):
        logger.log_metrics({"train/loss_step": value}, step=step)
    logger.save()
    logger.finalize("success")
    assert len(seen) == 1 and seen[0].parent == board_dir and seen[0] != older
    # no hparams.yaml, no version folders: the hyper-parameters live in config.yaml
    assert sorted(board_dir.iterdir()) == sorted([older, seen[0]])
    board = EventAccumulator(str(seen[0]))
    board.Reload()
    scalars = board.Scalars("train/loss_step")
    assert [(s.step, s.value) for s in scalars] == [(0, 3.0), (1, 2.5), (2, 1.25)]
