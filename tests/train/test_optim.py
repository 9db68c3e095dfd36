import pytest
import torch
from torch import nn

from eblearn.train import LARS, build_optimizer, warmup_cosine
from eblearn.train.optim import parameter_groups


def test_lars_step_follows_the_formula():
    weight = torch.tensor([[3.0, 4.0]], requires_grad=True)  # ||w|| = 5
    bias = torch.tensor([1.0], requires_grad=True)
    optimizer = LARS(
        [
            {"params": [weight], "weight_decay": 0.1},
            {"params": [bias], "weight_decay": 0.0, "lars_adaptation": False},
        ],
        lr=0.5,
        momentum=0.9,
        trust_coefficient=0.01,
    )
    weight.grad = torch.tensor([[0.0, 1.0]])
    bias.grad = torch.tensor([2.0])
    optimizer.step()
    update = torch.tensor([[0.0, 1.0]]) + 0.1 * torch.tensor([[3.0, 4.0]])
    trust = 0.01 * 5.0 / float(update.norm())
    torch.testing.assert_close(weight.detach(), torch.tensor([[3.0, 4.0]]) - 0.5 * trust * update)
    torch.testing.assert_close(bias.detach(), torch.tensor([1.0 - 0.5 * 2.0]))
    # Second step: momentum accumulates the scaled update.
    weight.grad = torch.tensor([[0.0, 1.0]])
    bias.grad = torch.tensor([2.0])
    before = bias.detach().clone()
    optimizer.step()
    torch.testing.assert_close(bias.detach(), before - 0.5 * (0.9 * 2.0 + 2.0))


def test_parameter_groups_exempt_biases_and_norms_from_decay():
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    decay, no_decay = parameter_groups(model, 0.05)
    assert [p.shape for p in decay["params"]] == [torch.Size([3, 4])]
    assert len(no_decay["params"]) == 3 and no_decay["weight_decay"] == 0.0


def test_build_optimizer_names():
    groups = parameter_groups(nn.Linear(2, 2), 0.1)
    assert isinstance(build_optimizer("adamw", groups, 0.1, 0.1), torch.optim.AdamW)
    assert isinstance(build_optimizer("sgd", groups, 0.1, 0.1), torch.optim.SGD)
    assert isinstance(build_optimizer("lars", groups, 0.1, 0.1), LARS)
    with pytest.raises(
        ValueError, match="unknown optimizer 'adam'; valid choices: adamw, sgd, lars"
    ):
        build_optimizer("adam", groups, 0.1, 0.1)


def test_warmup_then_cosine():
    assert warmup_cosine(0, 4, 20) == pytest.approx(0.25)
    assert warmup_cosine(3, 4, 20) == pytest.approx(1.0)
    assert warmup_cosine(12, 4, 20) == pytest.approx(0.5)
    assert warmup_cosine(20, 4, 20) == pytest.approx(0.0)
    assert warmup_cosine(20, 4, 20, final_ratio=0.1) == pytest.approx(0.1)
