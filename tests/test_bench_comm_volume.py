"""benchmarks/bench_comm_volume.py counts what the math says each exchange holds.

On two gloo processes, one step: the gradient all-reduce carries every trainable parameter
once (4 bytes each), the buffer broadcast every buffer but MoCo's queue (the same on every
process, its keys gathered), VICReg's loss gathers its two
embeddings from both processes and scatters their gradients back (2 views × 2 directions ×
P·B·D floats), and BYOL exchanges nothing but gradients and buffers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from tests.gloo import spawn_gloo

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
ARGS = argparse.Namespace(
    backbone="convnet", backbone_arg=[("width", 4)], image_size=16, batch_size=4
)


@pytest.fixture(autouse=True)
def _benchmarks_importable():
    sys.path.insert(0, str(BENCHMARKS))
    yield
    sys.path.remove(str(BENCHMARKS))


def rank_bytes(rank: int, world_size: int) -> dict[str, dict[str, int]]:
    sys.path.insert(0, str(BENCHMARKS))
    import bench_comm_volume as bench

    counter = bench.Counter()
    bench.count_buffer_broadcasts(counter)
    bench.count_collectives(counter)
    return bench.measure_methods(["vicreg", "byol", "mocov2"], ARGS, counter)


def test_counts_match_the_sizes_of_what_is_exchanged(tmp_path):
    import bench_comm_volume as bench

    from eblearn.train.config import SMALL_HEADS

    measured = spawn_gloo(rank_bytes, 2, tmp_path)
    assert measured[0] == measured[1]  # every process exchanges the same
    for method in ("vicreg", "byol"):
        model = bench.build(method, ARGS)
        trainable = sum(4 * p.numel() for p in model.parameters() if p.requires_grad)
        buffers = sum(b.numel() * b.element_size() for b in model.buffers())
        assert measured[0][method]["gradients"] == trainable, method
        assert measured[0][method]["buffers"] == buffers, method
    moco = bench.build("mocov2", ARGS)
    queue = sum(b.numel() * b.element_size() for b in moco.queue.buffers())
    others = sum(b.numel() * b.element_size() for b in moco.buffers()) - queue
    assert queue > 0 and measured[0]["mocov2"]["buffers"] == others
    dim = SMALL_HEADS["vicreg"]["projector_dims"][-1]
    assert measured[0]["vicreg"]["method"] == 2 * 2 * (2 * ARGS.batch_size * dim) * 4
    assert measured[0]["byol"].get("method", 0) == 0


def test_the_line_through_two_counts_extrapolates():
    import bench_comm_volume as bench

    intercept, slope = bench.fit_line({4: 700, 2: 500})
    assert (intercept, slope) == (300.0, 100.0)
    assert bench.human(2.5e6) == "2.5 MB" and bench.human(12) == "12 B"
