"""The method interface: what every self-supervised method in :data:`METHODS` provides.

A method is an ``nn.Module`` holding an ``encoder`` (the backbone that evaluation and export
use), its heads, its loss and any state (queues, momentum encoders, prototypes) as buffers or
submodules, so that checkpoints save it. The training engine calls, per step::

    out = method(views)        # dict with "loss", the logged terms, "features", "embeddings"
    out["loss"].backward(); optimizer.step()
    method.on_step_end(step, total_steps)   # momentum updates, queues

(``method(views, indices=batch_indices)`` for methods with ``uses_indices``), and, around the
steps, ``method.prepare(num_samples)`` once before training (and before a checkpoint is
restored) and ``method.on_epoch_start(epoch, total_epochs)`` at the start of every epoch.

Every method is also an energy (the protocol of :mod:`eblearn.energy`):
``method.energy(y, x)`` is the per-sample energy ``F(x, y)`` between a view ``x`` and a view
``y`` of the same images, the quantity the method's loss pushes down on positive pairs. It is
one formula, ``pair_energy(embed(x), embed_target(y))``, with three hooks that a method
overrides only where its energy differs from the default ``||z - z'||²`` between projections.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from eblearn._validate import check_same_shape
from eblearn.nn.backbones import Backbone
from eblearn.registry import Registry


class Method(nn.Module):
    """Base class of self-supervised methods.

    Subclasses state, in their docstring, the energy, the inference and the anti-collapse
    strategy, set the class attributes, and implement :meth:`forward`.

    Class attributes:
        num_views: Number of augmented views ``forward`` takes.
        min_batch_size: Smallest batch the loss is defined on (2 for batch statistics).
        batch_statistics: Whether the loss uses statistics over the batch (and so accepts
            ``gather_distributed``).
        uses_indices: Whether ``forward`` takes ``indices``, the ``(B,)`` positions of the
            batch's images in the training set (memory banks, per-sample cluster targets).
        modality: What the views are: ``"images"`` (``(B, C, H, W)`` floats) or ``"tokens"``
            (``(B, T)`` int64 windows); the engine refuses data of another modality.

    Args:
        backbone: The encoder to pretrain.
    """

    num_views: ClassVar[int] = 2
    min_batch_size: ClassVar[int] = 2
    batch_statistics: ClassVar[bool] = True
    uses_indices: bool = False
    modality: ClassVar[str] = "images"

    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        self.encoder = backbone

    @property
    def feature_dim(self) -> int:
        """Size of the encoder's features."""
        return self.encoder.feature_dim

    def check_views(self, views: Sequence[Tensor]) -> None:
        """Raises ``ValueError`` unless ``views`` are ``num_views`` batches of equal size."""
        if len(views) < self.num_views:
            raise ValueError(
                f"{type(self).__name__} takes {self.num_views} views, got {len(views)}"
            )
        sizes = {len(v) for v in views}
        if len(sizes) != 1:
            raise ValueError(f"all views must hold the same batch size, got sizes {sorted(sizes)}")
        batch = sizes.pop()
        if batch < self.min_batch_size:
            raise ValueError(
                f"{type(self).__name__} needs a batch of at least {self.min_batch_size} samples "
                f"(its loss uses batch statistics), got {batch}; use a larger batch size"
            )

    def forward(self, views: Sequence[Tensor]) -> dict[str, Tensor]:
        """Computes the loss on a list of views, each of shape ``(B, C, H, W)``.

        Returns:
            A dict with ``"loss"`` (scalar to minimize), each loss term (scalars, logged),
            ``"features"`` (detached encoder features of the first view, ``(B, F)``, for the
            online probe) and ``"embeddings"`` (detached embeddings the loss compares,
            ``(B, D)``, for the collapse metrics).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement forward(views)")

    def on_step_end(self, step: int, total_steps: int) -> None:
        """Called after each optimizer step: momentum updates, queue pushes.

        Most methods keep no state between steps, so the base class leaves this empty.
        """

    def prepare(self, num_samples: int) -> None:
        """Called once before training with the number of training samples, before any
        checkpoint is restored: size per-sample state (memory banks). Empty by default."""

    def on_epoch_start(self, epoch: int, total_epochs: int) -> None:
        """Called at the start of every epoch (0-based): per-epoch work such as DeepCluster's
        k-means. Empty by default."""

    # -- the energy view ----------------------------------------------------------------------

    def embed(self, view: Tensor) -> Tensor:
        """The online branch's embedding of a view ``(B, ...)``: what the loss compares.

        Default: the projector's output ``g(f(view))`` (the features when the method has no
        ``projector``).
        """
        features = self.encoder(view)
        projector = getattr(self, "projector", None)
        return features if projector is None else projector(features)

    def embed_target(self, view: Tensor) -> Tensor:
        """The target branch's embedding (a momentum encoder, a branch without predictor).

        Default: :meth:`embed`. No stop-gradient here: the energy is differentiable in both
        views (the stop-gradient belongs to the training strategy, not to the energy).
        """
        return self.embed(view)

    def pair_energy(self, z: Tensor, z_target: Tensor) -> Tensor:
        """The energy of each pair of embeddings ``(B, D)``, shape ``(B,)``.

        Default: ``||z - z'||²``.
        """
        return (z - z_target).pow(2).sum(1)

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """``F(x, y) = pair_energy(embed(x), embed_target(y))``, shape ``(B,)``.

        Low when ``x`` and ``y`` are views of the same image. Computed in the module's
        current mode: call ``method.eval()`` first for an energy that does not depend on the
        batch through batch normalization (and does not update its running statistics).

        Args:
            y: Views ``(B, C, H, W)``.
            x: Other views of the same shape; ``None`` (one-view methods only) means ``y``.

        Raises:
            ValueError: If ``x`` is missing for a two-view method or the shapes differ.
        """
        if x is None:
            if self.num_views > 1:
                raise ValueError(
                    f"{type(self).__name__}.energy compares two views: pass x, views of the "
                    f"same images as y (shape {tuple(y.shape)})"
                )
            x = y
        check_same_shape(x, y, "x", "y")
        return self.pair_energy(self.embed(x), self.embed_target(y))

    @classmethod
    def preferred_augmentation(cls, channels: int) -> str | None:
        """The view recipe (a name in ``eblearn.data.AUGMENTATIONS``) the method is meant to
        train with on ``channels``-channel images when none is asked for (SwAV: multi-crop),
        or ``None`` for the data set's default."""
        return None


def cosine_energy(z: Tensor, z_target: Tensor, temperature: float = 1.0) -> Tensor:
    """``-cos(z, z')/τ`` per pair of embeddings ``(B, D)``, shape ``(B,)``.

    Example:
        >>> import torch
        >>> cosine_energy(torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0]]), 0.5)
        tensor([-2.])
    """
    return -F.cosine_similarity(z, z_target, dim=1) / temperature


METHODS: Registry[type[Method]] = Registry("method")
"""Method classes by name; build one with :func:`build_method`."""


def build_method(name: str, backbone: Backbone, **hyper_parameters: object) -> Method:
    """Builds the method registered as ``name`` around ``backbone``.

    Raises:
        ValueError: On an unknown name (listing the valid ones) or an unknown hyper-parameter
            (listing the method's).
    """
    import inspect

    cls = METHODS.get(name)
    accepted = [
        p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "backbone")
    ]
    unknown = sorted(set(hyper_parameters) - set(accepted))
    if unknown:
        raise ValueError(
            f"method {name!r} has no hyper-parameter(s) {', '.join(unknown)}; "
            f"valid: {', '.join(accepted)}"
        )
    return cls(backbone, **hyper_parameters)
