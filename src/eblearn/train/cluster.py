"""Training on several machines: which launcher started this process, and which rank it is.

eblearn writes no launcher. A run on ``num_nodes`` machines is started by ``torchrun`` (one
call per machine) or by SLURM's ``srun`` (one task per device), and Lightning reads the
ranks and the rendezvous address from the environment those launchers set
(``TorchElasticEnvironment``, ``SLURMEnvironment``). This module only recognizes them, to
refuse a multi-node request that nothing would join, and tells the global rank 0 (the one
process that writes the run folder) from the others before Lightning has started.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

TORCHRUN_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "GROUP_RANK")
"""What ``torchrun`` sets in every process it starts."""
SLURM_VARIABLE = "SLURM_NTASKS"
"""What SLURM sets in a job's processes (``srun`` starts ``SLURM_NTASKS`` of them)."""
RANK_VARIABLES = ("RANK", "GROUP_RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID", "SLURM_NODEID")
"""Ranks set by torchrun, by Lightning's own launcher (``LOCAL_RANK``, ``NODE_RANK``) and by
SLURM: a process is the global rank 0 only if none of them is above 0."""


def cluster_environment(environ: Mapping[str, str] | None = None) -> str | None:
    """``"torchrun"``, ``"slurm"`` or ``None``: the launcher that started this process.

    ``torchrun`` is recognized by its four variables (:data:`TORCHRUN_VARIABLES`), SLURM by
    ``SLURM_NTASKS``; these are the environments Lightning picks up by itself.
    """
    environ = os.environ if environ is None else environ
    if all(name in environ for name in TORCHRUN_VARIABLES):
        return "torchrun"
    if SLURM_VARIABLE in environ:
        return "slurm"
    return None


def launched_processes(environ: Mapping[str, str] | None = None) -> int | None:
    """The number of processes the launcher started in all (``None`` without a launcher).

    Raises:
        ValueError: If the launcher's variable is not an integer.
    """
    environ = os.environ if environ is None else environ
    kind = cluster_environment(environ)
    if kind is None:
        return None
    name = "WORLD_SIZE" if kind == "torchrun" else SLURM_VARIABLE
    try:
        return int(environ[name])
    except ValueError:
        raise ValueError(
            f"the environment variable {name}={environ[name]!r} set by {kind} is not an integer"
        ) from None


def is_global_zero(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process is the global rank 0 (also true outside any launcher).

    Rank variables that are not integers are ignored (they are not a launcher's).
    """
    environ = os.environ if environ is None else environ
    for name in RANK_VARIABLES:
        value = environ.get(name, "0").strip()
        if value.isdigit() and int(value) > 0:
            return False
    return True


def multi_node_commands(num_nodes: int, devices: int) -> str:
    """The two ways of starting a run on ``num_nodes`` machines, as command lines."""
    return (
        f"  torchrun --nnodes {num_nodes} --nproc-per-node {devices} --node-rank <0..."
        f"{num_nodes - 1}> --master-addr <first machine> --master-port 29500 -m eblearn.cli "
        f"train --num-nodes {num_nodes} --devices {devices} ...   (on every machine)\n"
        f"  srun --nodes {num_nodes} --ntasks-per-node {devices} eblearn train --num-nodes "
        f"{num_nodes} --devices {devices} ...   (in an sbatch script)"
    )


def check_nodes(num_nodes: int, devices: int, environ: Mapping[str, str] | None = None) -> None:
    """Refuses a multi-node run that no launcher started, or whose size is not the launcher's.

    Raises:
        ValueError: If ``num_nodes > 1`` and neither ``torchrun`` nor SLURM started this
            process (with both command lines), or if the launcher started another number of
            processes than ``num_nodes × devices``.
    """
    if num_nodes == 1:
        return
    environ = os.environ if environ is None else environ
    kind = cluster_environment(environ)
    if kind is None:
        raise ValueError(
            f"--num-nodes {num_nodes} needs one process per device on each of {num_nodes} "
            "machines, and eblearn does not start them: no torchrun variables "
            f"({', '.join(TORCHRUN_VARIABLES)}) nor {SLURM_VARIABLE} are set here. Start it "
            "with:\n" + multi_node_commands(num_nodes, devices)
        )
    processes = launched_processes(environ)
    if processes != num_nodes * devices:
        raise ValueError(
            f"--num-nodes {num_nodes} × --devices {devices} asks for {num_nodes * devices} "
            f"processes, but {kind} started {processes}; give torchrun --nnodes {num_nodes} "
            f"--nproc-per-node {devices}, or srun --nodes {num_nodes} --ntasks-per-node {devices}"
        )
