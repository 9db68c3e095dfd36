"""The one line that says where a job's seconds went, shared by every modality's summary."""

from __future__ import annotations


def timing_line(seconds: float, training_seconds: float | None) -> str:
    """``"123 s: training 100 s, evaluation 23 s"``, or the total alone when nothing trained
    (``eblearn eval``).

    Example:
        >>> timing_line(123.4, 100.2), timing_line(7.0, None)
        ('123 s: training 100 s, evaluation 23 s', '7 s')
    """
    if training_seconds is None:
        return f"{seconds:.0f} s"
    return (
        f"{seconds:.0f} s: training {training_seconds:.0f} s, "
        f"evaluation {seconds - training_seconds:.0f} s"
    )
