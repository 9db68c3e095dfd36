"""``benchmarks/_children.py``: a benchmark stopped by SIGTERM stops the processes it launched
(``eblearn train`` once ran on orphaned, sharing the cores with the next benchmark)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.benchmark_scripts import benchmark_script

SLEEPER = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(120)"
"""A child that writes its pid to the file named by its argument, then sleeps for 2 minutes."""


@pytest.fixture(scope="module")
def children():
    with benchmark_script("_children") as module:
        yield module


def sigterm_when_written(pid_file: Path) -> None:
    """SIGTERM to this process, from a thread, a second after ``pid_file`` holds a pid: the
    child runs, and the benchmark waits on it (a signal while ``subprocess.Popen`` is still
    returning would orphan the child, a window of microseconds on an idle machine but longer
    on a loaded one)."""

    def stop() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (pid_file.exists() and pid_file.read_text()):
            time.sleep(0.05)
        time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop, daemon=True).start()


def assert_stopped_with_child(children, start_child: Callable[[], object], pid_file: Path):
    """Runs ``start_child`` under ``exit_on_sigterm``, SIGTERMs this process once the child
    started, and checks that the benchmark exits 143 at once and leaves no child behind."""
    before = signal.getsignal(signal.SIGTERM)
    sigterm_when_written(pid_file)
    started = time.monotonic()
    with pytest.raises(SystemExit) as stopped, children.exit_on_sigterm():
        start_child()
    assert stopped.value.code == 128 + signal.SIGTERM
    assert time.monotonic() - started < 60  # not the child's 120 s
    with pytest.raises(ProcessLookupError):  # ended and reaped
        os.kill(int(pid_file.read_text()), 0)
    assert signal.getsignal(signal.SIGTERM) == before  # the benchmark's handler is gone


def test_a_failed_process_fails_the_launch(children):
    with pytest.raises(subprocess.CalledProcessError):
        children.launch([sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ))


def test_a_stopped_benchmark_stops_what_it_launched(children, tmp_path):
    pid_file = tmp_path / "pid"
    command = [sys.executable, "-c", SLEEPER, str(pid_file)]
    assert_stopped_with_child(
        children, lambda: children.launch(command, dict(os.environ)), pid_file
    )


def test_a_stopped_benchmark_stops_what_subprocess_run_started(children, tmp_path):
    """The scripts that call ``subprocess.run`` under ``exit_on_sigterm`` (bench_streaming,
    bench_process_threads, bench_unlabeled_folder) rely on it killing its child on SystemExit."""
    pid_file = tmp_path / "pid"
    command = [sys.executable, "-c", SLEEPER, str(pid_file)]
    run = lambda: subprocess.run(command, capture_output=True)  # noqa: E731
    assert_stopped_with_child(children, run, pid_file)


def test_a_stopped_gpu_window_stops_its_running_part(children, tmp_path):
    """gpu_all runs each part in a session of its own, so the part's group must be killed."""
    pid_file = tmp_path / "pid"
    script = tmp_path / "sleeping_part.py"
    script.write_text(SLEEPER.replace("; ", "\n"))
    with benchmark_script("gpu_all") as gpu_all:
        part = gpu_all.Part("sleeper", "A part that sleeps", str(script), [], [], 120.0)
        assert_stopped_with_child(
            children, lambda: gpu_all.run_part(part, [str(pid_file)], timeout=120), pid_file
        )
