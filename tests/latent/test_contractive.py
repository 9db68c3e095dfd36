import pytest
import torch
from torch.autograd.functional import jacobian

from eblearn.latent import ContractiveAutoencoder, contraction_penalty, fit_model


def test_closed_form_penalty_equals_autograds_jacobian_norm():
    torch.manual_seed(0)
    model = ContractiveAutoencoder(5, 3, lam=0.1).double()
    y = torch.randn(4, 5, dtype=torch.float64)
    expected = torch.stack(
        [jacobian(lambda v: model.encode(v[None])[0], row).pow(2).sum() for row in y]
    )  # each (K, D) Jacobian's squared Frobenius norm
    torch.testing.assert_close(model.penalty(y), expected)
    torch.testing.assert_close(contraction_penalty(model.encode(y), model.encoder.weight), expected)


def test_loss_is_reconstruction_plus_lambda_penalty():
    torch.manual_seed(1)
    model = ContractiveAutoencoder(6, 4, lam=0.7)
    y = torch.randn(8, 6)
    expected = (model.energy(y) + 0.7 * model.penalty(y)).mean()
    torch.testing.assert_close(model.loss(y), expected)
    torch.testing.assert_close(model.energy(y), (y - model(y)).pow(2).sum(1))


def test_penalty_contracts_the_code_on_digits(digits_t):
    x = digits_t[:300].float()
    penalties = []
    for lam in (0.0, 1.0):
        torch.manual_seed(0)
        model = ContractiveAutoencoder(64, 16, lam=lam)
        losses = fit_model(model, model.loss, x, epochs=20, batch_size=50, lr=1e-2)
        assert losses[-1] < 0.7 * losses[0]
        with torch.no_grad():
            penalties.append(float(model.penalty(x).mean()))
    assert penalties[1] < 0.5 * penalties[0]  # the penalty shrinks the Jacobian


def test_errors_are_clear():
    with pytest.raises(ValueError, match="lam must be >= 0"):
        ContractiveAutoencoder(4, 2, lam=-0.1)
    with pytest.raises(ValueError, match="code_dim must be an integer >= 1"):
        ContractiveAutoencoder(4, 0)
