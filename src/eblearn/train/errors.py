"""Errors a training run raises (kept apart from Lightning so the CLI can catch them cheaply)."""


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or Inf; training stops (checkpoints of finished epochs stay)."""
