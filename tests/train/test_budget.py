"""Training for a wall-time budget, on a simulated clock: the schedule ends when the time does."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from eblearn.app import prepare_training
from eblearn.data.augment import EvalTransform
from eblearn.train.budget import WINDOW_STEPS, StepSchedule, TimeBudget, parse_duration
from eblearn.train.callbacks import ESTIMATE_SAMPLE, KnnMonitor
from eblearn.train.history import read_history
from eblearn.train.optim import warmup_cosine
from eblearn.train.runs import fit

from .conftest import STEPS_PER_EPOCH, tiny_config

SECONDS_PER_STEP = 0.5


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800.0), ("1h30m", 5400.0), ("90s", 90.0), ("1.5h", 5400.0), ("45", 45.0), (2, 2.0)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "0", "-5m", "30x", "nan", True])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="duration must be"):
        parse_duration(text)


def test_the_schedule_keeps_its_warmup_fraction_and_ends_at_zero():
    schedule = StepSchedule(1000, 100, warmup_fraction=0.1)
    schedule.lay_over(40)
    assert (schedule.total_steps, schedule.warmup_steps) == (40, 4)
    assert [schedule(s) for s in (0, 3, 4, 40)] == [warmup_cosine(s, 4, 40) for s in (0, 3, 4, 40)]
    assert schedule(40) == 0.0 and schedule(3) == 1.0
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    restored = StepSchedule(1, 1, warmup_fraction=0.1)
    other = torch.optim.lr_scheduler.LambdaLR(optimizer, restored)
    other.load_state_dict(scheduler.state_dict())  # a checkpoint carries the laid schedule
    assert (restored.total_steps, restored.warmup_steps) == (40, 4)


class SimulatedClock(Callback):
    """Time starts at ``prepared`` (data preparation), then each step takes 0.5 s."""

    def __init__(self, prepared: float) -> None:
        self.now = prepared
        self.learning_rates: list[float] = []

    def __call__(self) -> float:
        return self.now

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.now += SECONDS_PER_STEP
        self.learning_rates.append(trainer.optimizers[0].param_groups[0]["lr"])


class Killed(Exception):
    """Stands for a kill: Lightning passes it on (a KeyboardInterrupt it turns into exit 1)."""


class StopAfterEpoch(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, module):
        if trainer.current_epoch == self.epoch:
            raise Killed  # as a kill would, after the previous epoch's checkpoint


def budget_run(tmp_path, data, clock, resume=False, extra=(), **overrides):
    request = tiny_config(
        tmp_path / "run", time_budget="20s", epochs=None, warmup_epochs=None, **overrides
    )
    plan = prepare_training(request, data=data)
    assert plan.config.time_budget == 20.0 and plan.config.epochs == 1_000_000
    fit(
        plan.config,
        plan.method,
        plan.augment,
        plan.data,
        checkpoint_path=tmp_path / "last.ckpt",
        log_path=tmp_path / "log.csv",
        resume=resume,
        callbacks=[clock, *extra],
        started_at=0.0,
        clock=clock,
    )
    return torch.load(tmp_path / "last.ckpt", weights_only=True), plan.config.lr


def test_the_run_ends_on_time_with_a_finished_schedule(tmp_path, data):
    clock = SimulatedClock(prepared=2.0)
    checkpoint, peak = budget_run(tmp_path, data, clock)
    # 2 s of preparation + 36 steps × 0.5 s = the 20 s budget exactly.
    assert checkpoint["global_step"] == 36 and clock.now == 20.0
    assert max(clock.learning_rates) <= peak
    assert clock.learning_rates[-1] < 0.01 * peak  # the cosine reached its end
    assert clock.learning_rates[-1] == pytest.approx(peak * warmup_cosine(35, 4, 36))
    state = checkpoint["callbacks"]["TimeBudget"]
    assert state == {"used": 20.0, "seconds": 20.0}
    assert checkpoint["epoch"] == math.ceil(36 / STEPS_PER_EPOCH) - 1


def test_a_resumed_run_spends_only_what_is_left(tmp_path, data):
    first = SimulatedClock(prepared=2.0)
    with pytest.raises(Killed):
        budget_run(tmp_path, data, first, extra=[StopAfterEpoch(2)])
    saved = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 2 * STEPS_PER_EPOCH  # two epochs: 2 + 12 × 0.5 = 8 s used
    assert saved["callbacks"]["TimeBudget"]["used"] == 8.0

    second = SimulatedClock(prepared=1.0)  # the new process prepares its data again
    checkpoint, peak = budget_run(tmp_path, data, second, resume=True)
    # 8 s before + 1 s of preparation + (34 − 12) steps × 0.5 s = 20 s.
    assert checkpoint["global_step"] == 34
    assert checkpoint["callbacks"]["TimeBudget"]["used"] == 20.0
    assert second.learning_rates[-1] == pytest.approx(peak * warmup_cosine(33, 3, 34))


def test_epochs_cap_a_budgeted_run(tmp_path, data):
    request = tiny_config(tmp_path, time_budget="1h", epochs=2, warmup_epochs=None)
    plan = prepare_training(request, data=data)
    clock = SimulatedClock(prepared=0.0)
    fit(
        plan.config, plan.method, plan.augment, plan.data,
        checkpoint_path=tmp_path / "c.ckpt", log_path=tmp_path / "log.csv",
        callbacks=[clock], started_at=0.0, clock=clock,
    )  # fmt: skip
    assert torch.load(tmp_path / "c.ckpt", weights_only=True)["global_step"] == 2 * 6
    assert clock.learning_rates[-1] < 0.05 * max(clock.learning_rates)


def test_warmup_epochs_need_epochs_under_a_budget(tmp_path, data):
    with pytest.raises(ValueError, match="give --epochs too to set --warmup-epochs"):
        prepare_training(
            tiny_config(tmp_path, time_budget="10m", epochs=None, warmup_epochs=1), data=data
        )


def test_a_budget_callback_without_a_schedule_is_a_programming_error():
    assert TimeBudget(10, 0.0).state_key == "TimeBudget"


class EpochEndWork(Callback):
    """Every epoch end costs ``seconds`` (a kNN point, a checkpoint) on the simulated clock."""

    def __init__(self, clock: SimulatedClock, seconds: float) -> None:
        self.clock, self.seconds = clock, seconds

    def on_train_epoch_end(self, trainer, module):
        self.clock.now += self.seconds


def test_the_budget_reserves_time_for_the_work_at_epoch_ends(tmp_path, data):
    clock = SimulatedClock(prepared=2.0)
    checkpoint, peak = budget_run(tmp_path, data, clock, extra=[EpochEndWork(clock, 1.0)])
    # n steps of 0.5 s and one 1-s epoch end per started epoch of 6 steps fit in 20 − 2 s:
    # the most is n = 26 (13 s + 5 epoch ends), ending on the budget to the step.
    best = max(n for n in range(100) if 2.0 + 0.5 * n + math.ceil(n / STEPS_PER_EPOCH) <= 20.0)
    assert best == 26
    assert checkpoint["global_step"] == best and clock.now == 20.0
    assert clock.learning_rates[-1] == pytest.approx(peak * warmup_cosine(best - 1, 3, best))


def test_the_log_has_each_epoch_ends_plan_and_the_minute_the_steps_stopped(tmp_path, data):
    # The run above: 26 steps of 0.5 s in 5 epochs (the last stopped after 2 of its 6 steps),
    # each epoch end 1 s. Once an epoch end has been timed, every plan expects the end at 20 s.
    clock = SimulatedClock(prepared=2.0)
    budget_run(tmp_path, data, clock, extra=[EpochEndWork(clock, 1.0)])
    rows = [row for row in read_history(tmp_path / "log.csv") if "budget/total_steps" in row]
    assert [int(row["epoch"]) for row in rows] == [0, 1, 2, 3, 4]  # one row per epoch
    assert all(row["budget/total_steps"] == 26 for row in rows[1:])
    assert all(row["budget/step_seconds"] == 0.5 for row in rows)
    assert [row["budget/plain_end_seconds"] for row in rows] == [0.0, 1.0, 1.0, 1.0, 1.0]
    assert all(row["budget/expected_end_minutes"] == pytest.approx(20 / 60) for row in rows[1:])
    assert rows[2]["budget/used_minutes"] == pytest.approx((2 + 18 * 0.5 + 2 * 1.0) / 60)
    # The steps stopped at 19 s, and the last epoch end took the 1 s reserved for it.
    assert [("budget/stopped_minutes" in row) for row in rows] == [False] * 4 + [True]
    assert rows[-1]["budget/stopped_minutes"] == pytest.approx(19 / 60)


class KnnPointWork(Callback):
    """A kNN point costs ``seconds`` at the end of every ``every``-th epoch and of the last."""

    def __init__(self, clock: SimulatedClock, every: int, seconds: float) -> None:
        self.clock, self.every, self.seconds = clock, every, seconds
        self.evaluated_epochs: list[int] = []

    def on_train_epoch_end(self, trainer, module):
        epoch = trainer.current_epoch + 1
        if epoch % self.every == 0 or trainer.should_stop:
            self.clock.now += self.seconds
            self.evaluated_epochs.append(epoch)


def test_the_budget_reserves_a_kNN_point_for_the_last_epoch_end(tmp_path, data):
    # A kNN point after every 2nd epoch and after the last costs 3 s; the other epoch ends
    # nothing. Charged one mean over all ends (1 s after three epochs), this run made 25 steps
    # and ended at 23.5 s: its last end, a kNN point, was under-reserved.
    clock = SimulatedClock(prepared=2.0)
    knn = KnnPointWork(clock, every=2, seconds=3.0)
    checkpoint, _ = budget_run(tmp_path, data, clock, extra=[knn], eval_every=2)

    def seconds(n: int) -> float:  # preparation, n steps and the kNN points they lead to
        epochs = math.ceil(n / STEPS_PER_EPOCH)
        return 2.0 + 0.5 * n + 3.0 * (epochs // 2 + (1 if epochs % 2 else 0))

    best = max(n for n in range(100) if seconds(n) <= 20.0)
    assert (best, seconds(best)) == (24, 20.0)  # 12 s of steps, kNN points after epochs 2, 4
    assert knn.evaluated_epochs == [2, 4]
    assert checkpoint["global_step"] == best and clock.now == 20.0


class DrivenTrainer(SimpleNamespace):
    """What :class:`TimeBudget` reads of Lightning's trainer, driven by :func:`drive`."""


def drive(budget, now, step_seconds, steps_per_epoch, end_seconds=lambda epoch, last: 0.0):
    """Calls the budget's hooks as Lightning's loop would, with a simulated clock ``now[0]``:
    step ``s`` takes ``step_seconds(s)``, the end of epoch ``e`` takes ``end_seconds(e, last)``.
    Returns the steps made and the clock when the last epoch end is done."""
    module = SimpleNamespace(schedule=StepSchedule(10**6, 0, warmup_fraction=0.1))
    trainer = DrivenTrainer(
        global_step=0, is_last_batch=False, current_epoch=0, should_stop=False,
        num_training_batches=steps_per_epoch,
        strategy=SimpleNamespace(broadcast=lambda value, src=0: value),
    )  # fmt: skip
    budget.on_train_start(trainer, module)
    for step in range(1, 10**6):
        budget.on_train_batch_start(trainer, module)
        now[0] += step_seconds(step)
        trainer.global_step, trainer.current_epoch = step, (step - 1) // steps_per_epoch
        trainer.is_last_batch = step % steps_per_epoch == 0
        budget.on_train_batch_end(trainer, module)
        if trainer.is_last_batch or trainer.should_stop:
            now[0] += end_seconds(trainer.current_epoch + 1, trainer.should_stop)
        if trainer.should_stop:
            return step, now[0]
    raise AssertionError("the budget never stopped the run")


def test_the_step_time_follows_a_machine_that_slows_down():
    # 0.5 s per step for 500 steps (250 s), then 0.8 s: the 600-s budget affords
    # 500 + ⌊350 / 0.8⌋ = 937 steps. A whole-run mean, re-planned at 200-step epoch ends only,
    # still said 0.61 s at step 800 and the run made 979 steps and overran by 33 s.
    now = [0.0]
    budget = TimeBudget(600, started_at=0.0, clock=lambda: now[0])
    steps, finished = drive(budget, now, lambda s: 0.5 if s <= 500 else 0.8, 200)
    assert steps == 937 and 600 - 0.8 < finished <= 600
    assert budget.seconds_per_step() == pytest.approx(0.8)


def test_the_step_time_is_the_mean_of_the_latest_steps():
    now = [0.0]
    budget = TimeBudget(10_000, started_at=0.0, clock=lambda: now[0])
    module = SimpleNamespace(schedule=StepSchedule(10**6, 0, warmup_fraction=0.1))
    trainer = DrivenTrainer(
        global_step=0, is_last_batch=False, current_epoch=0, should_stop=False,
        num_training_batches=10**4, strategy=SimpleNamespace(broadcast=lambda v, src=0: v),
    )  # fmt: skip
    for step in range(1, 301):  # 1 s per step, then 2 s from step 201 on
        now[0] += 1.0 if step <= 200 else 2.0
        trainer.global_step = step
        budget.on_train_batch_end(trainer, module)
    # Re-planned at step 300 over the last WINDOW_STEPS steps (201..300), all of 2 s.
    assert WINDOW_STEPS == 100 and budget.seconds_per_step() == 2.0
    assert module.schedule.total_steps == 300 + (10_000 - now[0]) // 2.0


def test_epoch_ends_with_a_kNN_point_are_costed_apart():
    # 10 steps of 1 s per epoch; kNN every 3 epochs costs 20 s, other ends 1 s. The 300-s
    # budget affords n steps with n + plain ends + 20 × kNN ends (the last one included) ≤ 300:
    # 169. Charged one mean over all ends, the run made 180 steps and ended at 312 s.
    now = [0.0]
    budget = TimeBudget(300, started_at=0.0, clock=lambda: now[0], eval_every=3)

    def end_seconds(epoch, last):
        return 20.0 if last or epoch % 3 == 0 else 1.0

    steps, finished = drive(budget, now, lambda s: 1.0, 10, end_seconds)

    def seconds(n: int) -> float:
        epochs = math.ceil(n / 10)
        knn = epochs // 3 + (1 if n % 10 or epochs % 3 else 0)
        return n + 20.0 * knn + 1.0 * (epochs - knn)

    best = max(n for n in range(400) if seconds(n) <= 300)
    assert (steps, finished) == (best, seconds(best))
    assert budget.seconds_per_epoch_end(evaluated=True) == 20.0
    assert budget.seconds_per_epoch_end(evaluated=False) == 1.0
    # Every plan fits the budget by what it knew; each one made once a kNN point had been timed
    # expected the end where it came (the earlier ones, with a plain end's second standing in
    # for a kNN point's 20, afforded more steps than the run could make).
    timed = [plan for plan in budget.plans if plan.seconds_per_knn_end == 20.0]
    assert all(plan.expected_end <= 300 for plan in budget.plans)
    assert timed[0].step == 30 and all(plan.expected_end == finished for plan in timed)
    assert all(plan.total_steps > steps for plan in budget.plans[: -len(timed)])


def test_the_last_kNN_point_is_reserved_at_the_longest_one_timed():
    # 10 steps of 1 s per epoch, plain ends 1 s, kNN points after epochs 3 and 6 and the last
    # taking 10, 15 and 14 s (a 30-minute SwAV run's took 36, 44, 47, 48 and 46.5 s). At the end
    # of epoch 6 (89 s used), the longest point so far (15 s) leaves 41 − 15 s for the steps and
    # two plain ends of epochs 7 and 8: 24 steps, ending at 129 s. Charged their mean (12.5 s),
    # the run would have made 26 and ended at 131 s, over the 130-s budget.
    now = [0.0]
    budget = TimeBudget(130, started_at=0.0, clock=lambda: now[0], eval_every=3)
    knn_points = iter([10.0, 15.0, 14.0])

    def end_seconds(epoch, last):
        return next(knn_points) if last or epoch % 3 == 0 else 1.0

    steps, finished = drive(budget, now, lambda s: 1.0, 10, end_seconds)
    assert (steps, finished) == (60 + 24, 129.0)
    assert budget.seconds_per_epoch_end(evaluated=True) == 15.0
    assert budget.plans[-1].expected_end == 130.0


def test_a_run_whose_only_kNN_point_is_its_last_reserves_the_estimate_of_one():
    # 10 steps of 1 s per epoch, plain ends 1 s, one kNN point (the last) of 20 s in a 100-s
    # budget. With the 20-s estimate, n steps, the plain ends before the last and the last end
    # (its plain work and the point) fit when n + (⌈n / 10⌉ − 1) + 21 <= 100: n = 72, ending
    # at 100 s. Without it, a plain end's 1 s stood in for the point: 90 steps, ending at 119 s.
    def end_seconds(epoch, last):
        return 20.0 + 1.0 if last else 1.0  # the last end does a plain end's work too

    def run(estimate):
        now = [0.0]
        budget = TimeBudget(
            100, started_at=0.0, clock=lambda: now[0], eval_every=1000,
            knn_point_estimate=estimate,
        )  # fmt: skip
        return drive(budget, now, lambda s: 1.0, 10, end_seconds)

    assert run(lambda trainer, module: 20.0) == (72, 100.0)
    assert run(None) == (90, 119.0)


def test_a_kNN_point_is_estimated_from_one_timed_batch_of_training_images(data):
    # A clock that ticks 1 s per reading: each pass over the sample "takes" 1 s, so a point is
    # estimated at (400 training + 100 test images) / 256 sampled, halved over two processes.
    ticks = iter(range(1000))
    monitor = KnnMonitor(
        1, data, EvalTransform(8, data.mean, data.std), clock=lambda: float(next(ticks))
    )
    encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 4))
    module = SimpleNamespace(method=SimpleNamespace(encoder=encoder), device=torch.device("cpu"))
    estimate = monitor.estimate_seconds(SimpleNamespace(world_size=2), module)
    assert ESTIMATE_SAMPLE == 256 and estimate == pytest.approx(500 / 256 / 2)
    assert encoder.training  # its mode restored


class RankOneView:
    """What rank 1 of two sees: its own step count is offered, rank 0's is laid over."""

    def __init__(self, rank_zero_steps: int) -> None:
        self.rank_zero_steps = rank_zero_steps
        self.offered: list[int] = []

    def broadcast(self, value, src=0):
        assert src == 0
        self.offered.append(value)
        return self.rank_zero_steps


def test_every_process_lays_over_rank_zeros_step_count():
    # Rank 1's clock says 1 s per step, so on its own it could afford (20 − 6) / 1 = 14 more
    # steps after step 6; rank 0 measured faster steps and affords 30 in all. Both must
    # stop at the same step with the same learning rate, so rank 1 takes rank 0's count.
    now = [0.0]
    budget = TimeBudget(20, started_at=0.0, clock=lambda: now[0])
    module = SimpleNamespace(schedule=StepSchedule(1000, 100, warmup_fraction=0.1))
    strategy = RankOneView(rank_zero_steps=30)
    trainer = SimpleNamespace(
        global_step=0, is_last_batch=False, num_training_batches=100, strategy=strategy
    )
    for step in range(1, 7):
        now[0] = float(step)
        trainer.global_step = step
        budget.on_train_batch_end(trainer, module)
    assert strategy.offered == [6 + 14]
    assert (module.schedule.total_steps, module.schedule.warmup_steps) == (30, 3)
