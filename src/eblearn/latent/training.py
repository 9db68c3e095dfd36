"""A small training loop for the latent-variable networks (autoencoders, LISTA, VAEs).

These models train on tensors that fit in memory; the loop is minibatch Adam over shuffled
rows, nothing more. Self-supervised methods on images use the Lightning engine instead
(``eblearn train``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from eblearn.latent._estimator import check_int


def fit_model(
    model: nn.Module,
    loss_fn: Callable[..., Tensor],
    data: Tensor | Sequence[Tensor],
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    seed: int = 0,
) -> list[float]:
    """Minimizes ``loss_fn(*batch)`` over minibatches of ``data`` with Adam.

    Args:
        model: The module whose parameters are trained (put in training mode, then eval).
        loss_fn: Called with one minibatch slice of each tensor in ``data``; returns a scalar.
        data: A tensor ``(N, ...)`` or several with the same first dimension.
        epochs: Passes over the data.
        batch_size: Rows per step (the last, smaller batch is kept).
        lr: Adam's learning rate.
        weight_decay: Adam's (L2) weight decay.
        seed: Seed of the shuffling.

    Returns:
        The mean loss of each epoch.

    Raises:
        ValueError: If the tensors differ in length, or a setting is out of range.

    Example:
        >>> torch.manual_seed(0)
        <torch._C.Generator object at ...>
        >>> line = nn.Linear(1, 1)
        >>> x = torch.linspace(-1, 1, 64)[:, None]
        >>> losses = fit_model(line, lambda b: (line(b) - 3 * b).pow(2).mean(), x, epochs=200,
        ...                    batch_size=64, lr=0.05)
        >>> losses[-1] < 1e-3 < losses[0]
        True
    """
    tensors = [data] if isinstance(data, Tensor) else list(data)
    if not tensors or len({len(t) for t in tensors}) != 1:
        raise ValueError(
            f"data must be one tensor or tensors of equal length, got lengths "
            f"{[len(t) for t in tensors]}"
        )
    check_int(epochs, "epochs")
    check_int(batch_size, "batch_size")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    n = len(tensors[0])
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    history = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator).to(tensors[0].device)
        total, count = 0.0, 0
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            loss = loss_fn(*(t[index] for t in tensors))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(index)
            count += len(index)
        history.append(total / count)
    model.eval()
    return history
