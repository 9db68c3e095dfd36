"""The processes of a run started by torchrun agree before anything is written.

Two torchrun "machines" of one process each on this host (gloo): when rank 0 refuses the
request (its run folder holds files eblearn did not write; only rank 0 checks the folder) or
when the machines were given different options, both processes exit non-zero with a message
that names the refusing rank or the differing key, instead of one waiting in the rendezvous
for a peer that left, and no file is written anywhere. ``--dist-timeout 1h`` makes a wait for
the missing peer outlast the test's own limit on each process, so a hang fails the test. Unit
tests check the comparison itself.
"""

from __future__ import annotations

import sys

import pytest

from eblearn.train.agreement import Finding, disagreement
from tests.train.launch import finish_nodes, start_nodes, tiny_npz, train_args

WAIT = ["--dist-timeout", "1h"]


def files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.skipif(sys.platform == "win32", reason="torchrun and gloo on one host")
def test_rank_zero_refusing_stops_every_node_before_anything_is_written(tmp_path):
    data = tiny_npz(tmp_path)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("the user's, not eblearn's")
    nodes = start_nodes(tmp_path, [*train_args(data, taken), *WAIT])
    (code0, _, err0), (code1, _, err1) = finish_nodes(nodes)
    assert code0 != 0 and code1 != 0
    # each worker's own one-line message (torchrun then reports the failed worker)
    reason = "is not empty and was not written by eblearn"
    assert f"eblearn: error: run folder {str(taken)!r} {reason}" in err0, err0[-3000:]
    assert "eblearn: error: rank 0 refused the run: " in err1, err1[-3000:]
    assert reason in err1
    assert files_under(taken) == ["notes.txt"]  # nothing written, nothing claimed
    assert files_under(tmp_path / "node0") == files_under(tmp_path / "node1") == []


@pytest.mark.skipif(sys.platform == "win32", reason="torchrun and gloo on one host")
def test_machines_given_different_options_all_refuse_naming_the_key(tmp_path):
    data = tiny_npz(tmp_path)
    run = tmp_path / "run"
    nodes = start_nodes(tmp_path, [*train_args(data, run), *WAIT], node_args=[[], ["--lr", "0.5"]])
    results = finish_nodes(nodes)
    for code, _, err in results:
        assert code != 0
        assert "eblearn: error: the processes resolved different configurations: lr = " in err, err[
            -3000:
        ]
        assert "0.5 on rank 1" in err
    assert not run.exists()
    assert files_under(tmp_path / "node0") == files_under(tmp_path / "node1") == []


def test_findings_agree_when_only_the_folder_name_differs():
    config = {"lr": 0.1, "seed": 3, "run_dir": "runs/a"}
    same = [Finding(0, None, config), Finding(1, None, {**config, "run_dir": "runs/b"})]
    assert disagreement(same) is None


def test_every_refusal_and_every_differing_key_is_named():
    config = {"lr": 0.1, "seed": 3, "method": "vicreg"}
    findings = [
        Finding(0, None, config),
        Finding(1, None, {**config, "seed": 4, "method": "simclr"}),
        Finding(2, None, config),
    ]
    assert disagreement(findings) == (
        "the processes resolved different configurations: "
        "method = 'vicreg' on rank 0 but 'simclr' on rank 1; seed = 3 on rank 0 but 4 on rank 1"
    )
    refused = [
        Finding(0, "bad folder", None),
        Finding(1, None, config),
        Finding(2, "no data", None),
    ]
    assert disagreement(refused) == (
        "rank 0 refused the run: bad folder; rank 2 refused the run: no data"
    )
