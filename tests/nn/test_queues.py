"""FIFO queue, memory bank and prototypes: contents, checkpoints, errors."""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F

from eblearn.nn import FeatureQueue, MemoryBank, Prototypes


def _roundtrip(module: torch.nn.Module, fresh: torch.nn.Module) -> torch.nn.Module:
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    buffer.seek(0)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    return fresh


def test_queue_keeps_the_last_pushed_rows_in_order():
    queue = FeatureQueue(size=5, dim=2, normalize=False)
    reference: list[float] = []
    for start in (0, 3, 6, 9):
        rows = torch.arange(start, start + 3, dtype=torch.float32)
        queue.push(torch.stack([rows, torch.zeros(3)], 1))
        reference = (reference + rows.tolist())[-5:]
        assert queue.get()[:, 0].tolist() == reference
    assert queue.full
    queue.push(torch.stack([torch.arange(20.0, 27.0), torch.zeros(7)], 1))  # more than K at once
    assert queue.get()[:, 0].tolist() == [22.0, 23.0, 24.0, 25.0, 26.0]


def test_queue_normalizes_detaches_and_random_init_is_full_of_unit_vectors():
    queue = FeatureQueue(size=4, dim=3)
    x = torch.randn(2, 3, requires_grad=True)
    queue.push(x)
    assert torch.allclose(queue.get(), F.normalize(x.detach(), dim=1))
    assert not queue.get().requires_grad
    assert int(queue.count) == 2
    assert not queue.full
    moco = FeatureQueue(size=6, dim=3, random_init=True)
    assert moco.full
    assert torch.allclose(moco.get().norm(dim=1), torch.ones(6))


def test_queue_survives_a_checkpoint():
    queue = FeatureQueue(size=4, dim=2)
    queue.push(torch.randn(3, 2))
    restored = _roundtrip(queue, FeatureQueue(size=4, dim=2))
    assert torch.equal(restored.get(), queue.get())
    queue.push(torch.ones(2, 2))
    restored.push(torch.ones(2, 2))
    assert torch.equal(restored.get(), queue.get())
    assert int(restored.pointer) == 1


def test_memory_bank_momentum_update_against_the_formula():
    bank = MemoryBank(dim=3, size=5, momentum=0.5)
    first, second = torch.randn(2, 3), torch.randn(2, 3)
    index = torch.tensor([4, 1])
    bank.update(index, first)
    assert torch.allclose(bank.features[index], F.normalize(first, dim=1))
    bank.update(index, second)
    expected = F.normalize(
        0.5 * F.normalize(first, dim=1) + 0.5 * F.normalize(second, dim=1), dim=1
    )
    assert torch.allclose(bank.features[index], expected)
    assert bank.filled.tolist() == [False, True, False, False, True]


def test_memory_bank_grows_samples_filled_rows_and_excludes_the_batch():
    bank = MemoryBank(dim=2, momentum=0.0, normalize=False)
    bank.update(torch.tensor([7, 2]), torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert bank.size == 8
    drawn = bank.sample(50, exclude=torch.tensor([2]))
    assert torch.equal(drawn, torch.tensor([[1.0, 0.0]]).expand(50, 2))
    assert bank.sample(5, exclude=torch.tensor([2, 7])).shape == (0, 2)


def test_memory_bank_checkpoint_restores_a_grown_bank_into_a_fresh_one():
    bank = MemoryBank(dim=2)
    bank.update(torch.tensor([3, 0]), torch.randn(2, 2))
    bank.labels[3] = 5
    restored = _roundtrip(bank, MemoryBank(dim=2))
    assert restored.size == 4
    for name in ("features", "filled", "labels"):
        assert torch.equal(getattr(restored, name), getattr(bank, name))


def test_queue_and_bank_reject_bad_input():
    with pytest.raises(ValueError, match="queue size and dim must be >= 1"):
        FeatureQueue(size=0, dim=3)
    with pytest.raises(ValueError, match=r"must have 3 columns \(D\)"):
        FeatureQueue(size=2, dim=3).push(torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"momentum must lie in \[0, 1\)"):
        MemoryBank(dim=2, momentum=1.0)
    with pytest.raises(ValueError, match=r"indices must have shape \(2,\)"):
        MemoryBank(dim=2).update(torch.tensor([0]), torch.randn(2, 2))
    with pytest.raises(ValueError, match="indices must be >= 0"):
        MemoryBank(dim=2).update(torch.tensor([-1]), torch.randn(1, 2))


def test_prototypes_score_cosines_and_freeze_gives_zero_gradient():
    prototypes = Prototypes(dim=3, num_prototypes=4)
    z = torch.randn(5, 3)
    expected = F.normalize(z, dim=1) @ F.normalize(prototypes.weight, dim=1).T
    assert torch.allclose(prototypes(z), expected)
    prototypes(z, frozen=True).sum().backward()
    assert prototypes.weight.grad is not None
    assert torch.equal(prototypes.weight.grad, torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"centroids must have shape \(4, 3\)"):
        prototypes.set_(torch.randn(3, 3))
