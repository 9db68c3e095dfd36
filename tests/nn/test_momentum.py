import math

import pytest
import torch
from torch import nn

from eblearn.nn import cosine_momentum, ema_update, momentum_copy


def test_ema_update_follows_the_formula():
    online = nn.Linear(3, 2)
    target = momentum_copy(online)
    assert all(not p.requires_grad for p in target.parameters())
    with torch.no_grad():
        online.weight.add_(1.0)
    before = target.weight.clone()
    ema_update(target, online, momentum=0.9)
    torch.testing.assert_close(target.weight, 0.9 * before + 0.1 * online.weight)
    with pytest.raises(ValueError, match="momentum must lie in"):
        ema_update(target, online, momentum=1.5)


def test_cosine_momentum_schedule():
    assert cosine_momentum(0, 10, base=0.99) == pytest.approx(0.99)
    assert cosine_momentum(5, 10, base=0.99) == pytest.approx(
        1 - 0.01 * (math.cos(math.pi / 2) + 1) / 2
    )
    assert cosine_momentum(10, 10, base=0.99) == pytest.approx(1.0)
