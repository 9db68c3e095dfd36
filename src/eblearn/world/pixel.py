"""A JEPA-style world model from pixels: an image encoder and a predictor in its latent space.

``e[t] = Enc(o[t])`` embeds an image; ``ê[t+1] = Pred(ê[t], a[t])`` predicts the next
embedding from the current one and the action, and is unrolled for ``T`` steps from ``e[0]``.
Training minimizes, at every step, the VICReg loss [1] between the predicted ``ê[t]`` and the
encoded ``e[t]``: its invariance term is the prediction error in embedding space (the energy
``F(o[t], a, o[t+1]) = ||Pred(Enc(o[t]), a) - Enc(o[t+1])||²``), and its variance and
covariance terms keep the encoder from collapsing to a constant, which would make every
prediction trivially perfect. No pixel is ever reconstructed.

Planning happens in embedding space: the goal image is encoded, ``GoalCost`` measures the
squared distance of the predicted embeddings to it, and any planner runs on ``Pred`` as its
forward model (a :class:`~eblearn.world.dynamics.Dynamics` on embeddings).

[0] LeCun, A path towards autonomous machine intelligence, 2022,
    https://openreview.net/forum?id=BZ5a1r-kVsf
[1] Bardes, Ponce, LeCun, VICReg, ICLR 2022, https://arxiv.org/abs/2105.04906
[2] Sobal et al., Learning from reward-free offline data: a case for planning with latent
    dynamics models (PLDM), 2025, https://arxiv.org/abs/2502.14819
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from eblearn.losses import VICRegLoss
from eblearn.world.dynamics import Dynamics, check_state_action
from eblearn.world.models import mlp
from eblearn.world.transitions import Transitions


class PixelEncoder(nn.Module):
    """Three stride-2 convolutions, then a linear map: ``(B, C, P, P) → (B, D)``.

    Args:
        in_channels: Image channels C.
        pixels: Image side P (a multiple of 8).
        embedding_dim: Embedding size D.
        width: Channels of the first convolution (doubled after it).

    Example:
        >>> PixelEncoder(pixels=32, embedding_dim=8)(torch.zeros(2, 1, 32, 32)).shape
        torch.Size([2, 8])
    """

    def __init__(
        self, in_channels: int = 1, pixels: int = 32, embedding_dim: int = 16, width: int = 16
    ) -> None:
        super().__init__()
        if pixels % 8 or pixels < 8:
            raise ValueError(f"pixels must be a positive multiple of 8, got {pixels}")
        self.in_channels, self.pixels, self.embedding_dim = in_channels, pixels, embedding_dim
        self.width = width
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, width, 4, stride=2, padding=1),  # (B, w, P/2, P/2)
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),  # (B, 2w, P/4, P/4)
            nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1),  # (B, 2w, P/8, P/8)
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(2 * width * (pixels // 8) ** 2, embedding_dim),
        )

    def forward(self, images: Tensor) -> Tensor:
        """Embeddings ``(..., D)`` of images ``(..., C, P, P)``."""
        expected = (self.in_channels, self.pixels, self.pixels)
        if images.ndim < 4 or tuple(images.shape[-3:]) != expected:
            raise ValueError(
                f"the encoder takes images of shape (..., {', '.join(map(str, expected))}), "
                f"got {tuple(images.shape)}"
            )
        lead = images.shape[:-3]
        return self.layers(images.reshape(-1, *expected)).reshape(*lead, self.embedding_dim)


class LatentPredictor(Dynamics):
    """``ê' = ê + f([ê, a / scale])``: the action-conditioned predictor, a forward model on
    embeddings.

    Args:
        embedding_dim: Embedding size D (the planner's state size).
        action_dim: Action size A.
        action_scale: Actions are divided by it (the largest action) before entering ``f``.
        hidden_dims: Hidden layer sizes of ``f``.

    Example:
        >>> LatentPredictor(8, 2)(torch.zeros(3, 8), torch.zeros(3, 2)).shape
        torch.Size([3, 8])
    """

    def __init__(
        self,
        embedding_dim: int,
        action_dim: int,
        action_scale: float = 1.0,
        hidden_dims: Sequence[int] = (256, 256),
    ) -> None:
        super().__init__()
        self.state_dim, self.action_dim = embedding_dim, action_dim
        self.action_scale, self.hidden_dims = action_scale, tuple(hidden_dims)
        self.net = mlp([embedding_dim + action_dim, *hidden_dims, embedding_dim])

    def forward(self, state: Tensor, action: Tensor, z: Tensor | None = None) -> Tensor:
        check_state_action(self, state, action)
        return state + self.net(torch.cat((state, action / self.action_scale), -1))


class PixelWorldModel(nn.Module):
    """Encoder + latent predictor trained with VICReg across time (module docstring).

    Energy: ``||Pred(Enc(o[t]), a[t]) - Enc(o[t+1])||²`` (unrolled over ``T`` steps).
    Inference: none for the embeddings (computed); actions by planning in embedding space.
    Anti-collapse: regularized, VICReg's variance and covariance terms on the embeddings.

    Args:
        pixels: Image side P.
        action_dim: Action size A.
        embedding_dim: Embedding size D.
        action_scale: The largest action (actions are divided by it).
        width: Encoder width.
        hidden_dims: Predictor hidden sizes.
        loss: The VICReg loss with its weights (default: the paper's, ``VICRegLoss()``).

    Example:
        >>> model = PixelWorldModel(pixels=16, action_dim=2, embedding_dim=8)
        >>> terms = model.loss(torch.rand(4, 3, 1, 16, 16), torch.rand(4, 2, 2))
        >>> sorted(terms)
        ['covariance', 'invariance', 'loss', 'variance']
    """

    def __init__(
        self,
        pixels: int = 32,
        action_dim: int = 2,
        embedding_dim: int = 16,
        action_scale: float = 1.0,
        width: int = 16,
        hidden_dims: Sequence[int] = (256, 256),
        loss: VICRegLoss | None = None,
    ) -> None:
        super().__init__()
        self.encoder = PixelEncoder(1, pixels, embedding_dim, width)
        self.predictor = LatentPredictor(embedding_dim, action_dim, action_scale, hidden_dims)
        self.criterion = VICRegLoss() if loss is None else loss
        self._config = {
            "pixels": pixels,
            "action_dim": action_dim,
            "embedding_dim": embedding_dim,
            "action_scale": action_scale,
            "width": width,
            "hidden_dims": list(hidden_dims),
        }

    def config(self) -> dict[str, object]:
        """The constructor arguments (the loss excepted)."""
        return dict(self._config)

    def loss(self, frames: Tensor, actions: Tensor) -> dict[str, Tensor]:
        """VICReg between predicted and encoded embeddings along ``T``-step windows.

        Args:
            frames: Images ``(B, T + 1, 1, P, P)``.
            actions: Actions ``(B, T, A)``.

        Returns:
            ``loss`` and its weighted terms ``invariance``, ``variance``, ``covariance``
            (each averaged over the ``T`` steps).
        """
        if frames.ndim != 5 or actions.ndim != 3 or frames.shape[1] != actions.shape[1] + 1:
            raise ValueError(
                "frames must be (B, T + 1, 1, P, P) and actions (B, T, A), got "
                f"{tuple(frames.shape)} and {tuple(actions.shape)}"
            )
        embeddings = self.encoder(frames)  # (B, T + 1, D)
        predicted = embeddings[:, 0]
        sums: dict[str, Tensor] = {}
        steps = actions.shape[1]
        for t in range(steps):
            predicted = self.predictor(predicted, actions[:, t])
            for name, value in self.criterion.terms(predicted, embeddings[:, t + 1]).items():
                sums[name] = sums[name] + value / steps if name in sums else value / steps
        return {"loss": torch.stack(list(sums.values())).sum(), **sums}

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """The energy of a trajectory in embedding space, shape ``(B,)``.

        ``F(a, o) = Σ_t ||ê[t+1] - Enc(o[t+1])||²`` with ``ê[0] = Enc(o[0])`` and
        ``ê[t+1] = Pred(ê[t], a[t])`` unrolled as in training (the invariance term of the
        loss, per sample and summed over the steps).

        Args:
            y: The observed frames ``o[0] … o[T]``, shape ``(B, T + 1, 1, P, P)``.
            x: The actions ``a[0] … a[T-1]``, shape ``(B, T, A)`` (required).

        Raises:
            ValueError: If ``x`` is missing or the shapes do not fit together.
        """
        if x is None or y.ndim != 5 or x.ndim != 3 or y.shape[:2] != (len(x), x.shape[1] + 1):
            raise ValueError(
                "PixelWorldModel's energy takes y = frames (B, T + 1, 1, P, P) and x = actions "
                f"(B, T, A); got y {tuple(y.shape)} and x "
                f"{None if x is None else tuple(x.shape)}"
            )
        embeddings = self.encoder(y)  # (B, T + 1, D)
        predicted = embeddings[:, 0]
        energy = y.new_zeros(len(y))
        for t in range(x.shape[1]):
            predicted = self.predictor(predicted, x[:, t])
            energy = energy + (predicted - embeddings[:, t + 1]).pow(2).sum(1)
        return energy


def fit_pixel_world_model(
    model: PixelWorldModel,
    data: Transitions,
    render: Callable[[Tensor], Tensor],
    steps: int = 4,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
) -> list[dict[str, float]]:
    """Trains the pixel world model on windows of ``steps`` consecutive transitions.

    Frames are rendered on the fly from the stored states (``render(states (..., S)) ->
    images (..., 1, P, P)``), so only low-dimensional states are kept in memory.

    Args:
        model: The model (trained in place).
        data: Transitions collected in the environment.
        render: Maps states to images.
        steps: Window length T.
        epochs: Passes over the windows.
        batch_size: Windows per step.
        lr: Adam learning rate.
        seed: Seed of the shuffling.

    Returns:
        One row per epoch with the mean ``loss``, ``invariance``, ``variance``, ``covariance``.

    Raises:
        ValueError: If no window of ``steps`` transitions exists, or a count or ``lr`` is not
            positive.
    """
    if steps < 1 or epochs < 1 or batch_size < 1 or not lr > 0:
        raise ValueError(
            f"steps, epochs, batch_size and lr must be > 0, got {steps}, {epochs}, "
            f"{batch_size}, {lr}"
        )
    starts = data.windows(steps)
    if len(starts) == 0:
        raise ValueError(f"no run of {steps} consecutive transitions in one episode")
    device = next(model.parameters()).device
    offsets = torch.arange(steps)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history = []
    model.train()
    for epoch in range(epochs):
        order = starts[torch.randperm(len(starts), generator=generator)]
        sums: dict[str, float] = {}
        for first in range(0, len(order), batch_size):
            index = order[first : first + batch_size, None] + offsets  # (B, T)
            states = torch.cat((data.states[index], data.next_states[index[:, -1:]]), 1)
            frames = render(states.to(device))  # (B, T + 1, 1, P, P)
            terms = model.loss(frames, data.actions[index].to(device))
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach()) * len(index)
        history.append({"epoch": epoch, **{k: v / len(order) for k, v in sums.items()}})
    model.eval()
    return history
