"""``--num-nodes``: launchers recognized from their variables, ranks, and what is refused."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import yaml

from eblearn.data import DatasetSplits
from eblearn.train import TrainConfig, resolve
from eblearn.train.cluster import (
    check_nodes,
    cluster_environment,
    is_global_zero,
    launched_processes,
)
from eblearn.train.config import RunConfig
from eblearn.train.precision import SEVERAL_MACHINES, choose_precision
from eblearn.train.runs import build_components, check_batch

TORCHRUN = {"WORLD_SIZE": "4", "RANK": "0", "LOCAL_RANK": "0", "GROUP_RANK": "0"}


def test_launchers_are_recognized_by_their_variables():
    assert cluster_environment({}) is None
    assert cluster_environment(TORCHRUN) == "torchrun"
    assert launched_processes(TORCHRUN) == 4
    lightning_child = {"LOCAL_RANK": "1", "WORLD_SIZE": "2", "NODE_RANK": "0"}
    assert cluster_environment(lightning_child) is None  # Lightning's own launcher: one node
    assert cluster_environment({"SLURM_NTASKS": "8", "SLURM_PROCID": "3"}) == "slurm"
    assert launched_processes({"SLURM_NTASKS": "8"}) == 8
    assert launched_processes({}) is None
    with pytest.raises(ValueError, match="WORLD_SIZE='four' set by torchrun is not an integer"):
        launched_processes({**TORCHRUN, "WORLD_SIZE": "four"})


@pytest.mark.parametrize(
    ("environ", "zero"),
    [
        ({}, True),
        (TORCHRUN, True),
        ({**TORCHRUN, "RANK": "2", "LOCAL_RANK": "0", "GROUP_RANK": "1"}, False),  # node 1
        ({"LOCAL_RANK": "1"}, False),  # a child of Lightning's launcher
        ({"SLURM_NTASKS": "4", "SLURM_PROCID": "0", "SLURM_NODEID": "0"}, True),
        ({"SLURM_NTASKS": "4", "SLURM_PROCID": "2", "SLURM_NODEID": "1"}, False),
        ({"RANK": "not a rank"}, True),
    ],
)
def test_only_the_global_rank_zero_is_zero(environ, zero):
    assert is_global_zero(environ) is zero


def test_one_node_needs_no_launcher():
    check_nodes(1, 1, {})
    check_nodes(1, 4, {})


def test_several_nodes_without_a_launcher_are_refused_with_both_command_lines():
    with pytest.raises(ValueError) as error:
        check_nodes(2, 4, {"LOCAL_RANK": "0"})
    message = str(error.value)
    assert "--num-nodes 2" in message and "eblearn does not start them" in message
    assert "torchrun --nnodes 2 --nproc-per-node 4" in message
    assert "--master-addr" in message and "-m eblearn.cli train --num-nodes 2" in message
    assert "srun --nodes 2 --ntasks-per-node 4 eblearn train --num-nodes 2" in message


@pytest.mark.parametrize(
    ("environ", "launcher"),
    [({**TORCHRUN, "WORLD_SIZE": "3"}, "torchrun started 3"), ({"SLURM_NTASKS": "2"}, "slurm")],
)
def test_a_launcher_of_another_size_is_refused(environ, launcher):
    with pytest.raises(ValueError, match=f"asks for 4 processes, but {launcher}"):
        check_nodes(2, 2, environ)
    check_nodes(2, 2, {**environ, "WORLD_SIZE": "4", "SLURM_NTASKS": "4"})


def test_num_nodes_resolves_and_is_range_and_type_checked():
    config = resolve(TrainConfig(num_nodes=3, devices=2), channels=1, native_size=8)
    assert config.num_nodes == 3 and config.world_size == 6
    assert resolve(TrainConfig(), channels=1, native_size=8).world_size == 1
    with pytest.raises(ValueError, match="num_nodes must be >= 1, got 0"):
        resolve(TrainConfig(num_nodes=0), channels=1, native_size=8)
    with pytest.raises(ValueError, match=r"num_nodes must be an integer, got 1\.5"):
        TrainConfig.from_dict({"num_nodes": 1.5})
    with pytest.raises(ValueError, match="num_nodes must be an integer, got 'two'"):
        TrainConfig.from_dict({"num_nodes": "two"})


def test_a_config_yaml_written_before_num_nodes_resumes_on_one_node(tmp_path):
    values = resolve(TrainConfig(), channels=1, native_size=8).to_dict()
    del values["num_nodes"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(values))
    assert RunConfig.from_yaml(tmp_path / "config.yaml").num_nodes == 1


def tiny_data(n: int = 40) -> DatasetSplits:
    from eblearn.data.images import ImageSet

    images = torch.zeros(n, 1, 8, 8, dtype=torch.uint8)
    split = ImageSet(images, torch.arange(n) % 2, ("a", "b"))
    return DatasetSplits("tiny", split, split, None, (0.5,), (0.25,))


def test_batch_statistics_are_gathered_across_machines_as_across_devices():
    data = tiny_data()
    for devices, num_nodes in ((2, 1), (1, 2)):
        config = resolve(
            TrainConfig(devices=devices, num_nodes=num_nodes, method_args={"projector_dims": [8]}),
            channels=1,
            native_size=8,
        )
        method, _, _ = build_components(config, data)
        assert method.loss.gather_distributed  # VICReg's variance over the global batch
    single = resolve(TrainConfig(method_args={"projector_dims": [8]}), channels=1, native_size=8)
    assert not build_components(single, data)[0].loss.gather_distributed


def test_the_global_batch_counts_every_machine():
    config = resolve(TrainConfig(batch_size=16, num_nodes=2), channels=1, native_size=8)
    method, _, _ = build_components(
        dataclasses.replace(config, method_args={"projector_dims": [8]}), tiny_data()
    )
    check_batch(config, method, 32)
    with pytest.raises(ValueError, match=r"batch size 16 × 2 process\(es\) exceeds the 31"):
        check_batch(config, method, 31)


def test_auto_precision_is_not_measured_on_several_machines():
    config = resolve(
        TrainConfig(num_nodes=2, accelerator="cpu", method_args={"projector_dims": [8]}),
        channels=1,
        native_size=8,
    )

    def timer(precision: str) -> float:
        raise AssertionError("a run on several machines must not probe")

    chosen, choice = choose_precision(
        config, torch.nn.Linear(1, 1), list, torch.zeros(1), timer=timer, native=True
    )
    assert chosen.precision == "32" and choice.source == SEVERAL_MACHINES
    assert "--precision bf16-mixed" in choice.source


def test_the_command_line_refuses_several_nodes_without_a_launcher(tmp_path, monkeypatch, capsys):
    from eblearn.cli import main

    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "GROUP_RANK", "SLURM_NTASKS"):
        monkeypatch.delenv(name, raising=False)
    run_dir = tmp_path / "run"
    assert main(["train", "--num-nodes", "2", "--run-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "--num-nodes 2 needs one process per device on each of 2 machines" in err
    assert "torchrun --nnodes 2" in err and "srun --nodes 2" in err
    assert not run_dir.exists()


def test_other_ranks_resume_from_the_folder_that_rank_zero_holds(tmp_path, monkeypatch):
    """Rank 0 locks the folder before the other ranks validate the same resume request."""
    from eblearn.app.run_folder import FolderInUseError, Mode
    from eblearn.app.train import LAST_CHECKPOINT, prepare_training, train_folder
    from eblearn.train.checkpoint import save_checkpoint

    for name in ("RANK", "LOCAL_RANK", "GROUP_RANK", "NODE_RANK", "SLURM_PROCID", "SLURM_NODEID"):
        monkeypatch.delenv(name, raising=False)
    run_dir = tmp_path / "run"
    request = TrainConfig(
        epochs=2, batch_size=8, backbone_args={"width": 2}, method_args={"projector_dims": [8]}
    )
    saved = resolve(request, channels=1, native_size=8, run_dir=str(run_dir))
    folder = train_folder(run_dir)
    with folder.claimed(Mode.NEW):
        folder.write_yaml("config.yaml", saved.to_dict())
        save_checkpoint({"state_dict": {}, "epoch": 0}, folder.file(LAST_CHECKPOINT))
    resume = TrainConfig(run_dir=str(run_dir))
    with folder.claimed(Mode.RESUME):  # what rank 0 holds while training
        with pytest.raises(FolderInUseError, match="is in use"):
            prepare_training(resume, resume=True)  # a second rank 0 is refused
        monkeypatch.setenv("RANK", "1")
        plan = prepare_training(resume, resume=True)
    assert plan.config == saved and plan.mode is Mode.RESUME
