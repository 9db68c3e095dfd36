"""Training for a wall-time budget: the schedule is laid over the measured step time.

``eblearn train --time-budget 30m`` must end on time *with a finished schedule*: a cosine
schedule cut off by a timer leaves the learning rate high and the encoder unconverged. So the
run measures its own step time and sets the number of steps it can afford:

    total_steps = steps_done + ⌊(budget − time_used) / seconds_per_step⌋

first after a few calibration steps, then again every ``REPLAN_EVERY`` steps and at every
epoch end and epoch start; the warm-up is a fixed fraction of ``total_steps`` and the cosine
decay reaches zero at the last step, when training stops.

``seconds_per_step`` is the mean over the last ``WINDOW_STEPS`` steps, not over the whole run:
step times drift as caches warm and as a shared machine's load changes, and a whole-run mean
lags behind. (A 30-minute run whose steps slowed from about 0.65 s to 0.78 s in its last five
minutes overran by 1.1 minutes with the whole-run mean, re-planned once per 2-minute epoch.)

The work done between epochs (``--eval-every``'s kNN points, checkpoints, collapse metrics)
is timed apart from the steps and reserved for every epoch end still ahead, the last one
included, so that the affordable steps ``n`` are the most with

    n · seconds_per_step + plain_ends(n) · seconds_per_plain_end
        + evaluated_ends(n) · seconds_per_evaluated_end ≤ budget − time_used.

An epoch end with a kNN point (every ``eval_every``-th, and always the last) costs far more
than one without, so the two are timed apart: charged the mean of all ends, the last end, a
kNN point, is under-reserved by two thirds of one with ``--eval-every 3`` (30-minute CIFAR-10
runs ended 6–36 s over; how much of that was this and how much drift was not separated).
Without any reservation, a 30-minute run with a 45-second kNN point per epoch overran by about
two minutes.

Each kind of end is reserved at the *longest* it has taken in this process, not its mean: the
kNN points of a 30-minute SwAV run on CIFAR-10 took 36, 44, 47, 48 and then 46.5 s, so the
mean (44.1 s) under-reserved the last one and training ended 2.4 s over the budget, its steps
having stopped on plan (traced with the ``budget/*`` columns below). The longest would have
ended it 1.9 s under. Over-reserving costs only at the last end: the ends before it are
re-planned around what they actually took. Until a kNN point has been timed, an estimate
stands in for one (``knn_point_estimate``): without it, a run whose only point was its last
reserved a plain end's 3.8 s for a 54-s point and ended 51 s over.
``time_used`` starts when the job starts, so the budget covers data preparation too (not the
final evaluation), and it is carried in the checkpoint, so a resumed run spends only what is
left.

Every plan is kept (:attr:`TimeBudget.plans`), and the one made at each epoch end and at the
run's last step is logged to the run's ``log.csv`` as ``budget/*`` columns: the minutes used,
the step time and the epoch-end costs the plan used, the steps it afforded and the minute it
expected training (the last kNN point included) to end at, and in the last row the minute the
steps stopped at. Beside ``eval/minutes`` they show where an overrun came from: steps that
ended later than planned (the step time was misjudged), or a last epoch end that cost more
than the plan reserved for it.
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightning as L

from eblearn.train.optim import warmup_cosine

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
CALIBRATION_STEPS = 5
"""Steps timed before the first estimate (the first step, with its one-off costs, is not)."""
WINDOW_STEPS = 100
"""The step time is the mean over at most this many of the latest steps."""
REPLAN_EVERY = 25
"""Steps between two re-plans inside an epoch (epoch ends and starts re-plan too)."""


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


@dataclass(frozen=True)
class BudgetPlan:
    """One re-plan: what was measured at ``step`` and what it laid the schedule over.

    ``expected_end`` is ``used`` plus the reservation for the epoch end under way, the
    ``total_steps − step`` steps still to make and every epoch end they lead to, in seconds
    of the budget: where the plan expects training (with its last kNN point) to end.
    """

    step: int
    used: float
    seconds_per_step: float
    seconds_per_plain_end: float
    seconds_per_knn_end: float
    total_steps: int
    expected_end: float

    def log_row(self) -> dict[str, float]:
        """The ``budget/*`` columns of the run's log (minutes where the name says so)."""
        return {
            "budget/used_minutes": self.used / 60.0,
            "budget/step_seconds": self.seconds_per_step,
            "budget/plain_end_seconds": self.seconds_per_plain_end,
            "budget/knn_end_seconds": self.seconds_per_knn_end,
            "budget/total_steps": float(self.total_steps),
            "budget/expected_end_minutes": self.expected_end / 60.0,
        }


class TimeBudget(L.Callback):
    """Ends training when the budget is spent, with the schedule laid over it (see module).

    The Lightning module must expose its :class:`StepSchedule` as ``module.schedule``.

    Args:
        seconds: The budget, for data preparation and training.
        started_at: ``clock()`` when the job started (data preparation counts).
        clock: Seconds, monotonic (a simulated clock in tests).
        max_steps: A cap from ``epochs`` (the run never trains longer than asked).
        eval_every: Epochs between kNN points (``--eval-every``; the last epoch always has
            one), or ``None`` when the run has none: then every epoch end is costed alike.
        knn_point_estimate: ``(trainer, module) -> seconds`` one kNN point should take
            (:meth:`~eblearn.train.callbacks.KnnMonitor.estimate_seconds`), called once when
            training starts; it stands in for the kNN points until one has been timed, so
            that a run whose only point is its last reserves time for it.
    """

    def __init__(
        self,
        seconds: float,
        started_at: float,
        clock: Callable[[], float] = time.monotonic,
        max_steps: int | None = None,
        eval_every: int | None = None,
        knn_point_estimate: Callable[[L.Trainer, Any], float] | None = None,
    ) -> None:
        self.seconds = float(seconds)
        self.started_at = started_at
        self.clock = clock
        self.max_steps = max_steps
        self.eval_every = eval_every
        self.knn_point_estimate = knn_point_estimate
        self._knn_estimate: float | None = None  # seconds, from knn_point_estimate
        self.used_before = 0.0  # spent by earlier processes of a resumed run (restored)
        self._timed_from: tuple[int, float] | None = None
        self._recent: deque[tuple[int, float]] = deque(maxlen=WINDOW_STEPS + 1)
        self._last_estimate: float | None = None
        self._epoch_ended: tuple[float, bool] | None = None  # clock(), evaluated? at an end
        self._between_epochs = 0.0  # seconds spent between epochs since _timed_from
        self._epoch_end_seconds = {False: _Longest(), True: _Longest()}  # by: has a kNN point
        self.plans: list[BudgetPlan] = []
        """Every plan this process made, in order (see :class:`BudgetPlan`)."""

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
        """The latest step-time estimate of this process, or ``None`` before calibration."""
        return self._last_estimate

    def seconds_per_epoch_end(self, evaluated: bool = False) -> float:
        """The longest time measured between an epoch's last step and the next one's first.

        Args:
            evaluated: For the epoch ends with a kNN point; while none has been timed, the
                ends without one stand in (and the other way round), plus the estimate of a
                kNN point where there is one.
        """
        longest = self._epoch_end_seconds[evaluated]
        if longest.count:
            return longest.value()
        other = self._epoch_end_seconds[not evaluated].value()
        if evaluated and self._knn_estimate is not None:  # an end's work and a kNN point
            return other + self._knn_estimate
        return other

    def on_train_start(self, trainer: L.Trainer, module: Any) -> None:
        if self.knn_point_estimate is not None and self.eval_every is not None:
            self._knn_estimate = float(self.knn_point_estimate(trainer, module))

    def on_train_batch_start(self, trainer: L.Trainer, module: Any, *args: Any) -> None:
        if self._epoch_ended is None:
            return
        now = self.clock()
        ended_at, evaluated = self._epoch_ended
        if self._timed_from is not None:
            self._between_epochs += now - ended_at
            self._epoch_end_seconds[evaluated].add(now - ended_at)
        self._epoch_ended = None
        if self._last_estimate is not None:  # now that the epoch end's cost is known
            self._lay_over(trainer, module, int(trainer.global_step))

    def on_train_batch_end(self, trainer: L.Trainer, module: Any, *args: Any) -> None:
        step = int(trainer.global_step)
        now = self.clock()
        epoch_end = bool(trainer.is_last_batch)
        if self._timed_from is None:  # the first step carries one-off costs: time from here
            self._timed_from = (step, now)
        self._recent.append((step, now - self._between_epochs))  # a clock of steps only
        if epoch_end:
            epoch = int(trainer.current_epoch) + 1  # as the kNN monitor counts it
            self._epoch_ended = (now, self._has_knn_point(epoch))
        timed = step - self._timed_from[0]
        if timed > 0 and self._replan_due(step, timed, epoch_end):
            first_step, first_time = self._recent[0]
            self._last_estimate = (self._recent[-1][1] - first_time) / (step - first_step)
            self._lay_over(trainer, module, step, pending=epoch_end)
        spent = step >= module.schedule.total_steps
        if spent:
            trainer.should_stop = True
        if (epoch_end or spent) and self.plans:
            row = self.plans[-1].log_row()
            if spent:  # when the steps ended, the last epoch end still to come
                row["budget/stopped_minutes"] = self.used() / 60.0
            _log(module, row)

    def _replan_due(self, step: int, timed: int, epoch_end: bool) -> bool:
        """After calibration, every ``REPLAN_EVERY`` steps and at epoch ends (and starts)."""
        if self._last_estimate is None:
            return timed >= CALIBRATION_STEPS or epoch_end
        return epoch_end or step % REPLAN_EVERY == 0

    def _has_knn_point(self, epoch: int) -> bool:
        """Whether the end of ``epoch`` (counted from 1), not the run's last, has a kNN point."""
        return self.eval_every is not None and epoch % self.eval_every == 0

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
        per_plain_end = self.seconds_per_epoch_end(evaluated=False)
        per_knn_end = self.seconds_per_epoch_end(evaluated=True)
        used = self.used()
        reserved = 0.0  # for the epoch end under way
        if pending and self._epoch_ended is not None:
            reserved = per_knn_end if self._epoch_ended[1] else per_plain_end
        left = self.seconds - used - reserved

        def cost(n: int) -> float:
            plain, with_knn = _epoch_ends_ahead(step, n, steps_per_epoch, self.eval_every)
            return n * per_step + plain * per_plain_end + with_knn * per_knn_end

        low, high = 0, max(0, math.floor(left / per_step))  # cost(high) may exceed left
        while low < high:  # the largest n with cost(n) <= left; cost grows with n
            middle = (low + high + 1) // 2
            low, high = (middle, high) if cost(middle) <= left else (low, middle - 1)
        affordable = step + low
        if self.max_steps is not None:
            affordable = min(affordable, self.max_steps)
        module.schedule.lay_over(trainer.strategy.broadcast(max(affordable, step), src=0))
        total = module.schedule.total_steps
        self.plans.append(
            BudgetPlan(
                step, used, per_step, per_plain_end, per_knn_end, total,
                expected_end=used + reserved + cost(total - step),
            )
        )  # fmt: skip


def _log(module: Any, row: dict[str, float]) -> None:
    """Logs ``row`` in the row of the epoch under way (call once per epoch: at its end, or at
    the run's last step); only a Lightning module logs (tests drive the hooks with stand-ins).
    """
    if isinstance(module, L.LightningModule):
        module.log_dict(row, on_step=False, on_epoch=True)


class _Longest:
    """The longest of the seconds spent at one kind of epoch end, and how many were timed."""

    def __init__(self) -> None:
        self.longest, self.count = 0.0, 0

    def add(self, seconds: float) -> None:
        self.longest = max(self.longest, seconds)
        self.count += 1

    def value(self) -> float:
        return self.longest


def _steps_per_epoch(trainer: L.Trainer) -> int | None:
    """Batches per epoch on this process, or ``None`` when the loader has no length."""
    batches = trainer.num_training_batches
    return int(batches) if math.isfinite(batches) and batches > 0 else None


def _epoch_ends_ahead(
    step: int, n: int, steps_per_epoch: int | None, eval_every: int | None = None
) -> tuple[int, int]:
    """Epoch ends among the next ``n`` steps after ``step``, the run's last one included:
    ``(without a kNN point, with one)``. With ``eval_every``, the end of every
    ``eval_every``-th epoch and the run's last end have a kNN point; without, none has.

    Example:
        >>> _epoch_ends_ahead(5, 8, 6), _epoch_ends_ahead(6, 6, 6), _epoch_ends_ahead(6, 0, 6)
        ((3, 0), (1, 0), (0, 0))
        >>> _epoch_ends_ahead(0, 20, 6, eval_every=2)  # ends of epochs 1, 2, 3 and the last
        (2, 2)
    """
    if n <= 0 or steps_per_epoch is None:
        return 0, 0
    end = step + n
    first, last = step // steps_per_epoch + 1, end // steps_per_epoch  # epochs finished
    ends = last - first + 1 + (1 if end % steps_per_epoch else 0)  # a run stopped mid-epoch
    if eval_every is None:
        return ends, 0
    with_knn = last // eval_every - (first - 1) // eval_every  # every eval_every-th epoch
    if end % steps_per_epoch or last % eval_every:  # the run's last end, if not one of them
        with_knn += 1
    return ends - with_knn, with_knn
