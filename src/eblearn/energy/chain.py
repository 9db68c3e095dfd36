"""Exact and beam inference over a chain of discrete variables.

A chain energy over a sequence ``y = (y_0, ..., y_{T-1})``, each ``y_t ∈ {0..K-1}`` (a label
sequence, or a discrete latent ``z`` such as the states of an HMM), is a sum of unary and
pairwise terms:

    ``E(y) = Σ_{t=0}^{T-1} U_t(y_t) + Σ_{t=0}^{T-2} P_t(y_t, y_{t+1})``.

There are ``K^T`` sequences, but the chain structure gives exact inference in ``O(T K²)``:

* :func:`viterbi`, the min-sum recursion (zero temperature): ``V_0(k) = U_0(k)``,
  ``V_{t+1}(k) = U_{t+1}(k) + min_j [V_t(j) + P_t(j, k)]``; ``min_y E(y) = min_k V_{T-1}(k)``
  and the argmin is read back along the minimizing ``j`` (the back-pointers);
* :func:`chain_free_energy`, the forward algorithm in log-space (temperature ``1/β``):
  ``α_0(k) = U_0(k)``,
  ``α_{t+1}(k) = U_{t+1}(k) - 1/β log Σ_j exp(-β [α_t(j) + P_t(j, k)])``, and
  ``F_β = -1/β log Σ_y exp(-β E(y)) = -1/β log Σ_k exp(-β α_{T-1}(k))``; it is the
  Viterbi minimum at ``β = ∞``, and ``∂F_β/∂U_t(k)`` is the Gibbs marginal ``P_β(y_t = k)``;
* :func:`beam_search`: keeps the ``W`` lowest partial energies at each step (approximate;
  exact once ``W ≥ K^{T-1}``, greedy at ``W = 1``).

Shapes: ``unary`` is ``(B, T, K)``; ``pairwise`` is shared ``(K, K)``, per step
``(T-1, K, K)`` or per sample and step ``(B, T-1, K, K)``, with ``P_t[j, k]`` the energy of
``y_t = j`` followed by ``y_{t+1} = k``.

[0] Viterbi, Error bounds for convolutional codes and an asymptotically optimum decoding
    algorithm, IEEE Trans. Inf. Theory, 1967.
[1] LeCun, Chopra, Hadsell, Ranzato, Huang, A Tutorial on Energy-Based Learning, 2006,
    section 6 (sequence labeling, min-sum and sum-product on a factor graph),
    http://yann.lecun.com/exdb/publis/pdf/lecun-06.pdf
"""

from __future__ import annotations

import torch
from torch import Tensor

from eblearn._validate import check_finite
from eblearn.energy.free_energy import _check_beta, soft_minimum
from eblearn.energy.result import Inference


def check_chain(unary: Tensor, pairwise: Tensor) -> Tensor:
    """Validates a chain energy; returns ``pairwise`` as ``(B | 1, T-1, K, K)`` (a view).

    Raises:
        ValueError: If ``unary`` is not ``(B, T, K)`` with ``T, K ≥ 1``, ``pairwise`` is none
            of ``(K, K)``, ``(T-1, K, K)``, ``(B, T-1, K, K)``, or a value is NaN or Inf.
    """
    if unary.ndim != 3 or unary.shape[1] < 1 or unary.shape[2] < 1:
        raise ValueError(
            f"unary energies must have shape (B, T, K) with T, K >= 1, "
            f"got shape {tuple(unary.shape)}"
        )
    batch, steps, k = unary.shape
    shapes = {2: (k, k), 3: (steps - 1, k, k), 4: (batch, steps - 1, k, k)}
    if shapes.get(pairwise.ndim) != tuple(pairwise.shape):
        raise ValueError(
            f"pairwise energies must have shape (K, K) = ({k}, {k}), (T-1, K, K) = "
            f"({steps - 1}, {k}, {k}) or (B, T-1, K, K) = ({batch}, {steps - 1}, {k}, {k}), "
            f"got shape {tuple(pairwise.shape)}"
        )
    check_finite(unary, "unary energies")
    check_finite(pairwise, "pairwise energies")
    if pairwise.ndim == 2:
        return pairwise.expand(1, max(steps - 1, 0), k, k)
    return pairwise if pairwise.ndim == 4 else pairwise.unsqueeze(0)


def chain_energy(unary: Tensor, pairwise: Tensor, y: Tensor) -> Tensor:
    """``E(y) = Σ_t U_t(y_t) + Σ_t P_t(y_t, y_{t+1})`` of given sequences.

    Args:
        unary: ``U``, shape ``(B, T, K)``.
        pairwise: ``P``, shape ``(K, K)``, ``(T-1, K, K)`` or ``(B, T-1, K, K)``.
        y: Sequences, integer tensor of shape ``(B, T)`` or ``(B, S, T)`` with values in
            ``[0, K)``.

    Returns:
        Energies of shape ``(B,)`` or ``(B, S)``, differentiable in ``unary`` and
        ``pairwise``.

    Example:
        >>> unary = torch.tensor([[[0.0, 1.0], [2.0, 0.0]]])  # (B=1, T=2, K=2)
        >>> pairwise = torch.tensor([[0.0, 5.0], [5.0, 0.0]])
        >>> chain_energy(unary, pairwise, torch.tensor([[0, 1]]))  # 0 + 0 + 5
        tensor([5.])
    """
    pair = check_chain(unary, pairwise)
    batch, steps, k = unary.shape
    single = y.ndim == 2
    seqs = y.unsqueeze(1) if single else y  # (B, S, T)
    if seqs.ndim != 3 or seqs.shape[0] != batch or seqs.shape[2] != steps:
        raise ValueError(
            f"y must have shape (B, T) = ({batch}, {steps}) or (B, S, T), "
            f"got shape {tuple(y.shape)}"
        )
    if seqs.is_floating_point() or bool(((seqs < 0) | (seqs >= k)).any()):
        raise ValueError(f"y must hold integer labels in [0, K={k})")
    seqs = seqs.long()
    s = seqs.shape[1]
    u = unary.unsqueeze(1).expand(batch, s, steps, k).gather(3, seqs.unsqueeze(3))  # (B,S,T,1)
    total = u.squeeze(3).sum(2)
    if steps > 1:
        flat = pair.reshape(pair.shape[0], steps - 1, k * k)  # (B|1, T-1, K²)
        flat = flat.unsqueeze(1).expand(batch, s, steps - 1, k * k)
        index = seqs[:, :, :-1] * k + seqs[:, :, 1:]  # (B, S, T-1): flat (y_t, y_{t+1})
        total = total + flat.gather(3, index.unsqueeze(3)).squeeze(3).sum(2)
    return total.squeeze(1) if single else total


def viterbi(unary: Tensor, pairwise: Tensor) -> Inference:
    """``y̌ = argmin_y E(y)`` over all ``K^T`` sequences by dynamic programming, ``O(T K²)``.

    The min-sum recursion ``V_0(k) = U_0(k)``,
    ``V_{t+1}(k) = U_{t+1}(k) + min_j [V_t(j) + P_t(j, k)]``, with the minimizing ``j``
    stored as a back-pointer ``b_{t+1}(k)``; then ``y̌_{T-1} = argmin_k V_{T-1}(k)`` and
    ``y̌_t = b_{t+1}(y̌_{t+1})`` backwards.

    Args:
        unary: ``U``, shape ``(B, T, K)``.
        pairwise: ``P``, shape ``(K, K)``, ``(T-1, K, K)`` or ``(B, T-1, K, K)``.

    Returns:
        :class:`~eblearn.energy.Inference` with ``y`` of shape ``(B, 1, T)`` (the
        argmin; ``.best`` is ``(B, T)``) and ``energy`` ``(B, 1)``, the minimum, computed
        again at the argmin with the graph of ``unary`` and ``pairwise`` (the gradient of a
        minimum is that of the energy at its argmin), so it can feed a structured loss.

    Raises:
        ValueError: On shapes other than those above, or NaN / Inf energies.

    Example:
        >>> unary = torch.tensor([[[0.0, 1.0], [2.0, 0.0], [0.0, 0.5]]])  # (B=1, T=3, K=2)
        >>> pairwise = torch.tensor([[0.0, 3.0], [3.0, 0.0]])  # changing label costs 3
        >>> result = viterbi(unary, pairwise)
        >>> result.best, result.energy
        (tensor([[1, 1, 1]]), tensor([[1.5000]]))
    """
    pair = check_chain(unary, pairwise)
    steps = unary.shape[1]
    with torch.no_grad():
        value = unary[:, 0]  # V_0, (B, K)
        pointers = []
        for t in range(steps - 1):
            scores = value.unsqueeze(2) + pair[:, t]  # (B, K_prev, K_next)
            argbest = scores.argmin(dim=1)  # b_{t+1}, (B, K)
            pointers.append(argbest)
            value = scores.gather(1, argbest.unsqueeze(1)).squeeze(1) + unary[:, t + 1]
        label = value.argmin(dim=1)  # y̌_{T-1}, (B,)
        path = [label]
        for argbest in reversed(pointers):
            label = argbest.gather(1, label.unsqueeze(1)).squeeze(1)
            path.append(label)
        y = torch.stack(path[::-1], dim=1)  # (B, T)
    return Inference(y.unsqueeze(1), chain_energy(unary, pairwise, y).unsqueeze(1))


def chain_free_energy(unary: Tensor, pairwise: Tensor, beta: float = 1.0) -> Tensor:
    """``F_β = -1/β log Σ_y exp(-β E(y))`` over all ``K^T`` sequences, by the forward algorithm.

    In log-space (never forming ``exp(-βE)``): ``α_0(k) = U_0(k)``,
    ``α_{t+1}(k) = U_{t+1}(k) - 1/β log Σ_j exp(-β [α_t(j) + P_t(j, k)])``, and
    ``F_β = -1/β log Σ_k exp(-β α_{T-1}(k))``. At ``β = ∞`` every soft minimum is a
    minimum and ``F_∞ = min_y E(y)`` (the Viterbi value). Differentiable:
    ``∂F_β/∂U_t(k) = P_β(y_t = k)`` and ``∂F_β/∂P_t(j, k) = P_β(y_t = j, y_{t+1} = k)``,
    the marginals of the Gibbs distribution ``exp(-β E(y)) / Z``.

    Args:
        unary: ``U``, shape ``(B, T, K)``.
        pairwise: ``P``, shape ``(K, K)``, ``(T-1, K, K)`` or ``(B, T-1, K, K)``.
        beta: Inverse temperature ``β > 0``; ``math.inf`` for the minimum.

    Returns:
        Tensor of shape ``(B,)``.

    Raises:
        ValueError: On bad shapes, NaN / Inf energies or ``beta <= 0``.

    Example:
        >>> unary = torch.zeros(1, 3, 2)  # E = 0 for all 8 sequences
        >>> chain_free_energy(unary, torch.zeros(2, 2), beta=1.0)  # -log 8
        tensor([-2.0794])
    """
    _check_beta(beta)
    pair = check_chain(unary, pairwise)
    alpha = unary[:, 0]  # α_0, (B, K)
    for t in range(unary.shape[1] - 1):
        scores = alpha.unsqueeze(2) + pair[:, t]  # (B, K_prev, K_next)
        alpha = unary[:, t + 1] + soft_minimum(scores.transpose(1, 2), beta)
    return soft_minimum(alpha, beta)


def beam_search(unary: Tensor, pairwise: Tensor, width: int) -> Inference:
    """Approximate ``argmin_y E(y)``: left to right, keeping the ``W`` lowest partial energies.

    A beam is a prefix ``y_{0..t}`` with its partial energy
    ``E_t(y_{0..t}) = Σ_{s≤t} U_s(y_s) + Σ_{s<t} P_s(y_s, y_{s+1})``. Start from the ``W``
    lowest ``U_0(k)``; at each step extend every beam by every label,
    ``E_{t+1}(y_{0..t}, k) = E_t(y_{0..t}) + P_t(y_t, k) + U_{t+1}(k)``, and keep the ``W``
    lowest of the ``W·K`` extensions. ``W = 1`` is greedy decoding
    (``y_{t+1} = argmin_k P_t(y_t, k) + U_{t+1}(k)``); with ``W ≥ K^{T-1}`` nothing is ever
    pruned and the result is exact. Cost ``O(T W K)`` energy look-ups (plus the top-``W``).

    Args:
        unary: ``U``, shape ``(B, T, K)``.
        pairwise: ``P``, shape ``(K, K)``, ``(T-1, K, K)`` or ``(B, T-1, K, K)``.
        width: Beam width ``W ≥ 1``.

    Returns:
        :class:`~eblearn.energy.Inference` with the final beams ``y`` of shape
        ``(B, min(W, K^T), T)`` and their energies ``(B, min(W, K^T))`` sorted (lowest
        first; with the graph of ``unary`` and ``pairwise``).

    Raises:
        ValueError: On bad shapes, NaN / Inf energies, or ``width < 1``.

    Example:
        >>> unary = torch.tensor([[[0.0, 1.0], [2.0, 0.0], [0.0, 0.5]]])
        >>> pairwise = torch.tensor([[0.0, 3.0], [3.0, 0.0]])
        >>> beam_search(unary, pairwise, width=1).best  # greedy: y_0 = 0, then stays
        tensor([[0, 0, 0]])
        >>> beam_search(unary, pairwise, width=2).best  # the exact argmin (Viterbi's)
        tensor([[1, 1, 1]])
    """
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be an integer >= 1, got {width!r}")
    pair = check_chain(unary, pairwise)
    batch, steps, k = unary.shape
    with torch.no_grad():
        score, label = unary[:, 0].topk(min(width, k), dim=1, largest=False)  # (B, W_0)
        beams = label.unsqueeze(2)  # (B, W_0, 1)
        for t in range(steps - 1):
            w = beams.shape[1]
            last = beams[:, :, -1]  # y_t of each beam, (B, W)
            step_pair = pair[:, t].expand(batch, k, k)
            transition = step_pair.gather(1, last.unsqueeze(2).expand(batch, w, k))  # (B,W,K)
            extended = score.unsqueeze(2) + transition + unary[:, t + 1].unsqueeze(1)
            score, flat = extended.reshape(batch, w * k).topk(
                min(width, w * k), dim=1, largest=False
            )  # (B, W') with flat = beam · K + label
            parent = torch.div(flat, k, rounding_mode="floor")
            kept = beams.gather(1, parent.unsqueeze(2).expand(-1, -1, beams.shape[2]))
            beams = torch.cat([kept, (flat % k).unsqueeze(2)], dim=2)  # (B, W', t + 2)
    return Inference(beams, chain_energy(unary, pairwise, beams))
