"""Training for a wall-time budget: the schedule is laid over the measured step time.

``eblearn train --time-budget 30m`` must end on time *with a finished schedule*: a cosine
schedule cut off by a timer leaves the learning rate high and the encoder unconverged. So the
run measures its own step time and sets the number of steps it can afford:

    total_steps = steps_done + ⌊(budget − time_used) / seconds_per_step⌋

first after a few calibration steps, then again at every epoch end and epoch start (step
times drift as caches warm and as the machine's load changes); the warm-up is a fixed fraction
of ``total_steps`` and the cosine decay reaches zero at the last step, when training stops.

The work done between epochs (``--eval-every``'s kNN points, checkpoints, collapse metrics)
is timed apart from the steps and reserved for every epoch end still ahead, the last one
included, so that the affordable steps ``n`` are the most with

    n · seconds_per_step + epoch_ends(n) · seconds_per_epoch_end ≤ budget − time_used.

Without it, a 30-minute run with a 45-second kNN point per epoch overran by about two minutes.
``time_used`` starts when the job starts, so the budget covers data preparation too (not the
final evaluation), and it is carried in the checkpoint, so a resumed run spends only what is
left.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from typing import Any

import lightning as L

from eblearn.train.optim import warmup_cosine

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
CALIBRATION_STEPS = 5
"""Steps timed before the first estimate (the first step, with its one-off costs, is not)."""


def parse_duration(value: str | float | int) -> float:
    """Seconds from ``90``, ``"90s"``, ``"30m"``, ``"1.5h"`` or ``"1h30m"``.

    Raises:
        ValueError: On anything else, or a duration that is not positive.

    Example:
        >>> parse_duration("1h30m"), parse_duration("45s"), parse_duration(20)
        (5400.0, 45.0, 20.0)
    """
    if isinstance(value, bool):
        raise ValueError(f"a duration must be like 30m, 1h30m or 90s, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().lower()
        parts = re.fullmatch(r"((\d+(\.\d+)?)\s*([smhd])\s*)+", text)
        if not parts:
            try:
                seconds = float(text)
            except ValueError:
                raise ValueError(
                    f"a duration must be like 30m, 1h30m, 90s or a number of seconds, got {value!r}"
                ) from None
        else:
            seconds = sum(
                float(number) * _UNITS[unit]
                for number, _, unit in re.findall(r"(\d+(\.\d+)?)\s*([smhd])", text)
            )
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return seconds


class StepSchedule:
    """The learning-rate multiplier: linear warm-up, then cosine decay to 0 at ``total_steps``.

    A callable object (not a lambda) so that ``LambdaLR`` saves its fields in checkpoints and a
    resumed run continues the same schedule.

    Args:
        total_steps: Steps of the whole run.
        warmup_steps: Steps of the linear warm-up.
        warmup_fraction: If set, :meth:`lay_over` keeps the warm-up at this fraction of the run.
    """

    def __init__(
        self, total_steps: int, warmup_steps: int, warmup_fraction: float | None = None
    ) -> None:
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.warmup_fraction = warmup_fraction

    def __call__(self, step: int) -> float:
        return warmup_cosine(step, self.warmup_steps, self.total_steps)

    def lay_over(self, total_steps: int) -> None:
        """Stretches or shrinks the schedule to end at ``total_steps``."""
        self.total_steps = max(1, int(total_steps))
        if self.warmup_fraction is not None:
            self.warmup_steps = round(self.warmup_fraction * self.total_steps)
        self.warmup_steps = min(self.warmup_steps, self.total_steps)


class TimeBudget(L.Callback):
    """Ends training when the budget is spent, with the schedule laid over it (see module).

    The Lightning module must expose its :class:`StepSchedule` as ``module.schedule``.

    Args:
        seconds: The budget, for data preparation and training.
        started_at: ``clock()`` when the job started (data preparation counts).
        clock: Seconds, monotonic (a simulated clock in tests).
        max_steps: A cap from ``epochs`` (the run never trains longer than asked).
    """

    def __init__(
        self,
        seconds: float,
        started_at: float,
        clock: Callable[[], float] = time.monotonic,
        max_steps: int | None = None,
    ) -> None:
        self.seconds = float(seconds)
        self.started_at = started_at
        self.clock = clock
        self.max_steps = max_steps
        self.used_before = 0.0  # spent by earlier processes of a resumed run (restored)
        self._timed_from: tuple[int, float] | None = None
        self._last_estimate: float | None = None
        self._epoch_ended_at: float | None = None  # clock() after an epoch's last step
        self._between_epochs = 0.0  # seconds spent between epochs since _timed_from
        self._epoch_ends = 0  # how many such gaps were timed

    @property
    def state_key(self) -> str:
        return "TimeBudget"

    def used(self) -> float:
        """Seconds of the budget spent so far, over every process of the run."""
        return self.used_before + (self.clock() - self.started_at)

    def state_dict(self) -> dict[str, Any]:
        return {"used": self.used(), "seconds": self.seconds}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.used_before = float(state_dict["used"])

    def seconds_per_step(self) -> float | None:
        """The step time measured in this process, or ``None`` before calibration."""
        return self._last_estimate

    def seconds_per_epoch_end(self) -> float:
        """The mean time measured between an epoch's last step and the next one's first."""
        return self._between_epochs / self._epoch_ends if self._epoch_ends else 0.0

    def on_train_batch_start(self, trainer: L.Trainer, module: Any, *args: Any) -> None:
        if self._epoch_ended_at is None:
            return
        now = self.clock()
        if self._timed_from is not None:
            self._between_epochs += now - self._epoch_ended_at
            self._epoch_ends += 1
        self._epoch_ended_at = None
        if self._last_estimate is not None:  # now that the epoch end's cost is known
            self._lay_over(trainer, module, int(trainer.global_step))

    def on_train_batch_end(self, trainer: L.Trainer, module: Any, *args: Any) -> None:
        step = int(trainer.global_step)
        now = self.clock()
        epoch_end = bool(trainer.is_last_batch)
        if self._timed_from is None:  # the first step carries one-off costs: time from here
            self._timed_from = (step, now)
        else:
            first_step, first_time = self._timed_from
            timed = step - first_step
            calibrated = self._last_estimate is not None
            if timed > 0 and (
                (not calibrated and (timed >= CALIBRATION_STEPS or epoch_end))
                or (calibrated and epoch_end)
            ):
                self._last_estimate = (now - first_time - self._between_epochs) / timed
                self._lay_over(trainer, module, step, pending=epoch_end)
        if epoch_end:
            self._epoch_ended_at = now
        if step >= module.schedule.total_steps:
            trainer.should_stop = True

    def _lay_over(self, trainer: L.Trainer, module: Any, step: int, pending: bool = False) -> None:
        """Lays the schedule over the most steps whose time and epoch ends fit what is left.

        ``pending``: the epoch end that just began is still to be paid for. Under data
        parallelism every process measures its own clock, so rank 0's count is broadcast and
        laid over by all: the processes keep one learning rate and stop at the same step (one
        stopping early would leave the others waiting in a collective). Every process calls
        this at the same steps, so the broadcast cannot deadlock.
        """
        steps_per_epoch = _steps_per_epoch(trainer)
        per_step = max(self._last_estimate or 0.0, 1e-9)
        per_end = self.seconds_per_epoch_end()
        left = self.seconds - self.used() - (per_end if pending else 0.0)

        def cost(n: int) -> float:
            return n * per_step + _epoch_ends_ahead(step, n, steps_per_epoch) * per_end

        low, high = 0, max(0, math.floor(left / per_step))  # cost(high) may exceed left
        while low < high:  # the largest n with cost(n) <= left; cost grows with n
            middle = (low + high + 1) // 2
            low, high = (middle, high) if cost(middle) <= left else (low, middle - 1)
        affordable = step + low
        if self.max_steps is not None:
            affordable = min(affordable, self.max_steps)
        module.schedule.lay_over(trainer.strategy.broadcast(max(affordable, step), src=0))


def _steps_per_epoch(trainer: L.Trainer) -> int | None:
    """Batches per epoch on this process, or ``None`` when the loader has no length."""
    batches = trainer.num_training_batches
    return int(batches) if math.isfinite(batches) and batches > 0 else None


def _epoch_ends_ahead(step: int, n: int, steps_per_epoch: int | None) -> int:
    """Epoch ends among the next ``n`` steps after ``step``, the run's last one included.

    Example:
        >>> _epoch_ends_ahead(5, 8, 6), _epoch_ends_ahead(6, 6, 6), _epoch_ends_ahead(6, 0, 6)
        (3, 1, 0)
    """
    if n <= 0 or steps_per_epoch is None:
        return 0
    end = step + n
    finished = end // steps_per_epoch - step // steps_per_epoch
    return finished + (1 if end % steps_per_epoch else 0)  # a run stopped mid-epoch ends it
