"""The processes of a launched run agree on the request before anything is written.

Under ``torchrun`` or SLURM every process runs ``eblearn train`` by itself and validates the
request by itself, reading only. Were they to go their own ways after that, a process that
refused (rank 0 finding the run folder taken, an option one machine rejects) would exit while
the others waited for it in the rendezvous until ``--dist-timeout`` ran out, and processes
that resolved the request differently (another ``--lr`` on one machine, another data set
behind the same path) would train together on different settings. So they meet once, first:
each joins the process group that training will use (the one Lightning would create from its
cluster environment, with the same timeout; Lightning then finds it ready and uses it), and
they all-gather their :class:`Finding`: a refusal, or the resolved configuration. Every process
then refuses the run if any process refused (naming the rank and its reason) or if the
resolved configurations differ (naming the keys and each rank's value), before rank 0 claims
the run folder or writes a file.

Runs started by Lightning's own launcher (``--devices N`` on one machine) need no meeting:
rank 0 validates before it starts the other processes, and starts none if it refuses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

IGNORED_KEYS = ("run_dir",)
"""Keys that may differ between processes: only rank 0 writes, in the folder it names."""


@dataclass(frozen=True)
class Finding:
    """What one process made of the request.

    Attributes:
        rank: The process's global rank.
        refusal: Why it refused the request (the error's message), or ``None``.
        config: Its resolved configuration (``RunConfig.to_dict()``), ``None`` if it refused.
    """

    rank: int
    refusal: str | None
    config: dict[str, Any] | None


def launcher_environment() -> Any:
    """Lightning's cluster environment of a run that ``torchrun`` or SLURM started with more
    than one process, or ``None`` (one process, or Lightning's own launcher)."""
    from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    for kind in (TorchElasticEnvironment, SLURMEnvironment):
        if kind.detect():
            environment = kind()
            return environment if environment.world_size() > 1 else None
    return None


def join_process_group(environment: Any, timeout_s: float) -> None:
    """Joins the default process group as Lightning's DDP strategy would, from ``environment``.

    The backend serves both devices (``cpu:gloo,cuda:nccl`` where CUDA is available, else
    ``gloo``): CPU tensors, such as the findings, go through gloo; a GPU run's collectives
    through NCCL, which starts only when first used.
    """
    from lightning.fabric.utilities.distributed import _init_dist_connection

    nccl = torch.cuda.is_available() and dist.is_nccl_available()
    backend = "cpu:gloo,cuda:nccl" if nccl else "gloo"
    _init_dist_connection(environment, backend, timeout=timedelta(seconds=timeout_s))


def disagreement(findings: Sequence[Finding]) -> str | None:
    """Why the processes cannot train together, or ``None`` when they agree.

    Example:
        >>> ok = {"lr": 0.1, "run_dir": "a"}
        >>> disagreement([Finding(0, None, ok), Finding(1, None, {"lr": 0.1, "run_dir": "b"})])
        >>> print(disagreement([Finding(0, None, ok), Finding(1, None, {**ok, "lr": 0.5})]))
        the processes resolved different configurations: lr = 0.1 on rank 0 but 0.5 on rank 1
        >>> print(disagreement([Finding(0, "the folder is taken", None), Finding(1, None, ok)]))
        rank 0 refused the run: the folder is taken
    """
    refusals = [f for f in findings if f.refusal is not None]
    if refusals:
        return "; ".join(f"rank {f.rank} refused the run: {f.refusal}" for f in refusals)
    reference = findings[0]
    differences = []
    for finding in findings[1:]:
        differences += _differences(reference, finding)
    if differences:
        return "the processes resolved different configurations: " + "; ".join(differences)
    return None


def _differences(reference: Finding, other: Finding) -> list[str]:
    ours: Mapping[str, Any] = reference.config or {}
    theirs: Mapping[str, Any] = other.config or {}
    keys = sorted((set(ours) | set(theirs)) - set(IGNORED_KEYS))
    return [
        f"{key} = {ours.get(key)!r} on rank {reference.rank} but {theirs.get(key)!r} on rank "
        f"{other.rank}"
        for key in keys
        if ours.get(key) != theirs.get(key)
    ]


class RunRefused(ValueError):
    """Another process refused the run, or the processes resolved it differently."""


def agree(refusal: BaseException | None, config: dict[str, Any] | None, timeout_s: float) -> None:
    """Meets the other processes of a launched run and compares their findings.

    Does nothing on one process, under Lightning's own launcher, or when a process group
    exists already. Otherwise it is a collective of every process of the run: call it on
    each, with this process's ``refusal`` (the error it raised while validating) or its
    resolved ``config``. A process that refused re-raises its own error afterwards.

    Raises:
        RunRefused: On every process that did not refuse, when another one refused or the
            resolved configurations differ; it names the ranks and what differed.
    """
    environment = launcher_environment()
    if environment is None or (dist.is_available() and dist.is_initialized()):
        return
    join_process_group(environment, timeout_s)
    mine = Finding(dist.get_rank(), None if refusal is None else str(refusal), config)
    findings: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(findings, mine)
    problem = disagreement(findings)
    if problem is None:
        return  # the group stays: Lightning trains in it
    dist.destroy_process_group()
    if refusal is not None:
        raise refusal
    raise RunRefused(
        f"{problem}. Every process stops before anything is written; fix the request on the "
        "machine named and start every process again"
    )
