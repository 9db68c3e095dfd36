"""Errors a training run raises (kept apart from Lightning so the CLI can catch them cheaply)."""


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or Inf; training stops (checkpoints of finished epochs stay)."""


class PeerLostError(RuntimeError):
    """Another training process died or stopped answering; this one stops instead of waiting.

    Raised by :func:`eblearn.train.runs.fit` when a collective fails or times out (see
    :mod:`eblearn.train.faults`); the checkpoint of the last finished epoch stays.
    """
