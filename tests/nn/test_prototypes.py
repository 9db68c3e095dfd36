"""Prototypes: cosine scores, and the skipped normalization of embeddings already on the sphere."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from eblearn.nn.prototypes import Prototypes


def test_scores_are_cosines_against_a_loop_reference():
    torch.manual_seed(0)
    prototypes = Prototypes(dim=3, num_prototypes=4)
    z = torch.randn(5, 3, dtype=torch.float64)
    weight = prototypes.weight.detach().double()
    expected = torch.tensor(
        [[float(F.cosine_similarity(z[b], weight[k], dim=0)) for k in range(4)] for b in range(5)]
    )
    torch.testing.assert_close(prototypes.double()(z), expected.double())


def test_normalized_embeddings_give_the_same_scores_and_gradients():
    torch.manual_seed(0)
    prototypes = Prototypes(dim=6, num_prototypes=4).double()
    x = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(5, 4, dtype=torch.float64)

    def scores_and_gradients(normalized: bool) -> tuple[torch.Tensor, ...]:
        scores = prototypes(F.normalize(x, dim=1), normalized=normalized)
        return (scores, *torch.autograd.grad((scores * upstream).sum(), (x, prototypes.weight)))

    for once, twice in zip(scores_and_gradients(True), scores_and_gradients(False)):
        torch.testing.assert_close(once, twice)


def test_normalized_takes_the_embeddings_as_they_are():
    prototypes = Prototypes(dim=2, num_prototypes=2)
    prototypes.set_(torch.tensor([[2.0, 0.0], [0.0, 1.0]]))
    z = torch.tensor([[3.0, 4.0]])
    assert prototypes(z, normalized=True).tolist() == [[3.0, 4.0]]
    torch.testing.assert_close(prototypes(z), torch.tensor([[0.6, 0.8]]))
