"""The loss table against naive per-sample formulas, and the margin column."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from eblearn.losses import (
    CONTRASTIVE_LOSSES,
    EnergyLoss,
    GeneralMarginLoss,
    HingeLoss,
    LogLoss,
    LVQ2Loss,
    MCELoss,
    MEELoss,
    NLLLoss,
    PerceptronLoss,
    SimpleLoss,
    SquareExpLoss,
    SquareSquareLoss,
    distance_margin,
    general_margin_loss,
    hinge_loss,
    simple_loss,
    split_energies,
    square_square_pair,
)

M, SAT, BETA = 0.7, 1.3, 0.8


def naive(name: str, pos: torch.Tensor, negs: list[torch.Tensor]) -> torch.Tensor:
    """One sample's loss, written from the table with scalar operations and loops."""
    n = len(negs)
    if name == "energy":
        return pos
    if name == "perceptron":
        lowest = pos
        for e in negs:
            lowest = torch.minimum(lowest, e)
        return pos - lowest
    if name == "simple":
        return torch.clamp(pos, min=0) + sum(torch.clamp(M - e, min=0) for e in negs) / n
    if name == "hinge":
        return sum(torch.clamp(M + pos - e, min=0) for e in negs) / n
    if name == "log":
        return sum(torch.log(1 + torch.exp(pos - e)) for e in negs) / n
    if name == "lvq2":
        return sum(torch.clamp(torch.clamp(pos - e, min=0), max=SAT) for e in negs) / n
    if name == "mce":
        return sum(1 / (1 + torch.exp(-(pos - e))) for e in negs) / n
    if name == "square-square":
        return pos**2 + sum(torch.clamp(M - e, min=0) ** 2 for e in negs) / n
    if name == "square-exp":
        return pos**2 + BETA * sum(torch.exp(-e) for e in negs) / n
    partition = torch.exp(-BETA * pos) + sum(torch.exp(-BETA * e) for e in negs)
    if name == "nll":
        return pos + torch.log(partition) / BETA
    if name == "mee":
        return 1 - torch.exp(-BETA * pos) / partition
    if name == "infonce":  # temperature τ = 1/β
        return BETA * pos + torch.log(partition)
    raise AssertionError(name)


def build(name: str) -> torch.nn.Module:
    cls = CONTRASTIVE_LOSSES.get(name)
    kwargs = {
        "simple": {"margin": M},
        "hinge": {"margin": M},
        "square-square": {"margin": M},
        "lvq2": {"saturation": SAT},
        "square-exp": {"beta": BETA},
        "nll": {"beta": BETA},
        "mee": {"beta": BETA},
        "infonce": {"temperature": 1 / BETA},
    }.get(name, {})
    return cls(**kwargs)


NAMES = [
    "energy",
    "perceptron",
    "simple",
    "hinge",
    "log",
    "lvq2",
    "mce",
    "square-square",
    "square-exp",
    "nll",
    "mee",
]


def test_the_table_is_registered_with_its_margin_column() -> None:
    import eblearn.losses.group  # noqa: F401  (registers infonce)

    assert set(NAMES) | {"infonce"} == set(CONTRASTIVE_LOSSES.names())
    margins = {name: CONTRASTIVE_LOSSES.get(name).table_margin for name in NAMES}
    assert margins == {
        "energy": "0",
        "perceptron": "0",
        "simple": "m",
        "hinge": "m",
        "log": "∞",
        "lvq2": "0",
        "mce": "∞",
        "square-square": "m",
        "square-exp": "∞",
        "nll": "∞",
        "mee": "∞",
    }
    for name in NAMES:
        doc = CONTRASTIVE_LOSSES.get(name).__doc__
        assert "Margin" in doc or "margin" in doc, name


@pytest.mark.parametrize("name", [*NAMES, "infonce"])
def test_values_and_gradients_match_the_naive_formula(name: str) -> None:
    import eblearn.losses.group  # noqa: F401

    gen = torch.Generator().manual_seed(3)
    pos = (torch.rand(4, generator=gen, dtype=torch.float64) * 2).requires_grad_(True)
    neg = (torch.rand(4, 3, generator=gen, dtype=torch.float64) * 2).requires_grad_(True)
    got = build(name)(pos, neg)
    expected = sum(naive(name, pos[b], list(neg[b])) for b in range(4)) / 4
    torch.testing.assert_close(got, expected)
    got_grads = torch.autograd.grad(got, (pos, neg), allow_unused=True, materialize_grads=True)
    expected_grads = torch.autograd.grad(
        expected, (pos, neg), allow_unused=True, materialize_grads=True
    )
    for g, e in zip(got_grads, expected_grads):
        torch.testing.assert_close(g, e)
    # and the gradient against finite differences (no point lies on a kink here)
    module = build(name)
    assert torch.autograd.gradcheck(lambda p, n: module(p, n), (pos, neg))


def test_simple_loss_at_the_corners_of_its_two_hinges() -> None:
    # Each term is a hinge on its own energy: [F⁺]⁺ is off for F⁺ ≤ 0, [m - F⁻]⁺ for F⁻ ≥ m.
    m = 2.0
    cases = [  # (F⁺, F⁻, loss by hand)
        (-1.0, 3.0, 0.0),  # both hinges off
        (-1.0, 0.5, 1.5),  # only the push-up term
        (1.5, 3.0, 1.5),  # only the pull-down term
        (1.5, 0.5, 3.0),  # both
        (0.0, 2.0, 0.0),  # exactly on both corners
        (0.5, -1.0, 3.5),  # a negative F⁻ below the margin
    ]
    pos = torch.tensor([c[0] for c in cases])
    neg = torch.tensor([c[1] for c in cases])
    expected = [c[2] for c in cases]
    assert simple_loss(pos, neg, margin=m, reduction="none").tolist() == expected
    assert float(SimpleLoss(margin=m, reduction="sum")(pos, neg)) == sum(expected)
    # several negatives: the push-up term is their mean, the pull-down term counted once
    got = simple_loss(torch.tensor([1.0]), torch.tensor([[0.0, 1.0, 5.0]]), margin=m)
    assert float(got) == pytest.approx(1.0 + (2.0 + 1.0 + 0.0) / 3)
    # the gradient: -1 on F⁻ only below the margin, +1 on F⁺ only above 0
    pos = torch.tensor([-0.5, 0.5], requires_grad=True)
    neg = torch.tensor([2.5, 1.5], requires_grad=True)
    grads = torch.autograd.grad(simple_loss(pos, neg, margin=m, reduction="sum"), (pos, neg))
    assert grads[0].tolist() == [0.0, 1.0] and grads[1].tolist() == [0.0, -1.0]


def test_simple_loss_validates_its_margin() -> None:
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="margin must be > 0"):
            SimpleLoss(margin=bad)
    with pytest.raises(ValueError, match="the simple loss needs contrastive"):
        simple_loss(torch.zeros(2), None)  # type: ignore[arg-type]
    assert SimpleLoss().margin == 1.0


def test_one_negative_per_sample_and_reductions() -> None:
    pos, neg = torch.tensor([0.0, 1.0]), torch.tensor([0.5, 0.0])
    assert float(hinge_loss(pos, neg, margin=1.0)) == pytest.approx((0.5 + 2.0) / 2)
    assert hinge_loss(pos, neg, reduction="none").tolist() == [0.5, 2.0]
    assert float(hinge_loss(pos, neg, reduction="sum")) == pytest.approx(2.5)
    assert float(EnergyLoss(reduction="sum")(pos)) == 1.0


def _gradient_on_negative(name: str, gap: float) -> float:
    """d loss / d F⁻ at F⁺ = 0, F⁻ = gap."""
    pos = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    neg = torch.full((1, 1), gap, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(build(name)(pos, neg), neg, materialize_grads=True)
    return float(grad)


@pytest.mark.parametrize("name", ["simple", "hinge", "square-square"])
def test_a_margin_m_loss_stops_pushing_once_the_gap_reaches_m(name: str) -> None:
    assert _gradient_on_negative(name, M - 0.05) < 0  # still pushes F⁻ up
    assert _gradient_on_negative(name, M + 0.05) == 0.0
    assert _gradient_on_negative(name, 10 * M) == 0.0


@pytest.mark.parametrize("name", ["log", "mce", "square-exp", "nll", "mee", "infonce"])
def test_an_infinite_margin_loss_never_stops_pushing(name: str) -> None:
    import eblearn.losses.group  # noqa: F401

    pushes = [_gradient_on_negative(name, gap) for gap in (0.5, 2.0, 8.0, 20.0)]
    assert all(p < 0 for p in pushes), pushes
    assert all(abs(a) > abs(b) for a, b in itertools.pairwise(pushes))  # weaker, never zero


@pytest.mark.parametrize("name", ["energy", "perceptron", "lvq2"])
def test_a_zero_margin_loss_does_not_push_once_the_energies_are_equal(name: str) -> None:
    for gap in (0.0, 1e-6, 1.0):
        assert _gradient_on_negative(name, gap) == 0.0


def _train_gaps(name: str, checkpoints: tuple[int, ...] = (100, 200)) -> list[float]:
    """Train F_a,b(y) = a·y² + b from a flat (collapsed) energy, data y=0, contrastive ȳ=1.

    The energies of the data and of the contrastive point share the parameters, as in any
    real architecture; the gap F(ȳ) - F(y) = a is what the loss must open. Returns the gap
    after each number of gradient steps in ``checkpoints``.
    """
    a = torch.zeros((), dtype=torch.float64, requires_grad=True)
    b = torch.ones((), dtype=torch.float64, requires_grad=True)
    loss_fn = build(name)
    gaps = []
    for step in range(1, max(checkpoints) + 1):
        loss = loss_fn((a * 0.0 + b).reshape(1), (a * 1.0 + b).reshape(1, 1))
        grad_a, grad_b = torch.autograd.grad(loss, (a, b), materialize_grads=True)
        with torch.no_grad():
            a -= 0.1 * grad_a
            b -= 0.1 * grad_b
        if step in checkpoints:
            gaps.append(float(a.detach()))
    return gaps


def test_the_margin_column_when_training_a_shared_architecture() -> None:
    import eblearn.losses.group  # noqa: F401

    for name in ("energy", "perceptron", "lvq2"):  # zero margin: stays collapsed
        assert _train_gaps(name) == [0.0, 0.0], name
    for name in ("simple", "hinge", "square-square"):  # margin m: opens the gap to m, stops
        early, late = _train_gaps(name)
        assert M - 0.05 <= early <= late <= M + 0.1, name
        assert late - early < 1e-3, name
    for name in ("log", "nll", "square-exp", "mce", "mee", "infonce"):  # never stops
        early, late = _train_gaps(name)
        assert late > early + 0.01 > 0.01, name


def test_general_margin_loss_with_a_user_margin_matches_a_naive_loop() -> None:
    torch.manual_seed(0)
    y = torch.randn(3, 2, dtype=torch.float64)
    y_bar = torch.randn(3, 4, 2, dtype=torch.float64)
    pos = torch.rand(3, dtype=torch.float64, requires_grad=True)
    neg = (torch.rand(3, 4, dtype=torch.float64) * 3).requires_grad_(True)

    def margin(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a - b).abs().sum(-1) + 0.5

    for pair, h in ((None, "hinge"), (square_square_pair, "square-square")):
        kwargs = {} if pair is None else {"pair_loss": pair}
        got = GeneralMarginLoss(margin=margin, **kwargs)(pos, neg, y, y_bar)
        total = torch.zeros((), dtype=torch.float64)
        for b in range(3):
            for n in range(4):
                m = float((y[b] - y_bar[b, n]).abs().sum()) + 0.5
                if h == "hinge":
                    total = total + torch.clamp(pos[b] - neg[b, n] + m, min=0)
                else:
                    total = total + pos[b] ** 2 + torch.clamp(m - neg[b, n], min=0) ** 2
        expected = total / 3
        torch.testing.assert_close(got, expected)
        for g, e in zip(
            torch.autograd.grad(got, (pos, neg)), torch.autograd.grad(expected, (pos, neg))
        ):
            torch.testing.assert_close(g, e)


def test_general_margin_loss_stops_per_pair_at_its_own_margin() -> None:
    y = torch.zeros(1, 1)
    y_bar = torch.tensor([[[1.0], [3.0]]])  # margins 1 and 3 with the distance margin
    pos = torch.zeros(1)
    neg = torch.tensor([[1.5, 2.5]], requires_grad=True)  # first past its margin, second not
    loss = GeneralMarginLoss(margin=distance_margin())(pos, neg, y, y_bar)
    (grad,) = torch.autograd.grad(loss, neg)
    assert grad.tolist() == [[0.0, -1.0]]
    assert float(general_margin_loss(pos, neg.detach(), 1.0)) == 0.0


def test_split_energies_and_perceptron_over_a_candidate_set() -> None:
    energies = torch.tensor([[0.3, 0.1, 0.9], [0.5, 0.6, 0.7]])
    pos, neg = split_energies(energies, torch.tensor([0, 0]))
    assert PerceptronLoss(reduction="none")(pos, neg).tolist() == pytest.approx([0.2, 0.0])


def test_modules_hold_their_hyper_parameters() -> None:
    assert HingeLoss().margin == 1.0
    assert SquareSquareLoss().margin == 1.0
    assert LVQ2Loss().saturation == 1.0
    assert NLLLoss().beta == MEELoss().beta == SquareExpLoss().beta == 1.0
    # The infinite-margin losses hold only their reduction, which they apply.
    assert LogLoss().reduction == MCELoss().reduction == "mean"
    pos, neg = torch.tensor([0.0, 1.0]), torch.tensor([0.0, 0.0])
    assert LogLoss(reduction="sum")(pos, neg).item() == pytest.approx(
        math.log(2) + math.log(1 + math.e)
    )
    assert MCELoss(reduction="none")(pos, neg).tolist() == pytest.approx(
        [0.5, 1 / (1 + math.exp(-1))]
    )


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match=r"positive energies must have shape \(B,\)"):
        HingeLoss()(torch.zeros(2, 1), torch.zeros(2))
    with pytest.raises(ValueError, match=r"negative energies must have shape \(B,\) or \(B, N\)"):
        HingeLoss()(torch.zeros(2), torch.zeros(3))
    with pytest.raises(ValueError, match="the hinge loss needs contrastive"):
        hinge_loss(torch.zeros(2), None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NaN or Inf"):
        LogLoss()(torch.zeros(2), torch.tensor([0.0, math.nan]))
    with pytest.raises(ValueError, match="margin must be > 0"):
        HingeLoss(margin=0.0)
    with pytest.raises(ValueError, match="unknown reduction 'avg'; valid choices: mean, sum, none"):
        NLLLoss(reduction="avg")
    with pytest.raises(ValueError, match="unknown contrastive loss 'cosine'"):
        CONTRASTIVE_LOSSES.get("cosine")
    with pytest.raises(ValueError, match="needs the answers y and y_bar"):
        GeneralMarginLoss(margin=distance_margin())(torch.zeros(1), torch.zeros(1, 2))
    with pytest.raises(ValueError, match=r"target indices must lie in \[0, 2\)"):
        split_energies(torch.zeros(1, 2), torch.tensor([2]))
