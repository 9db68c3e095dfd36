import pytest
import torch
from torch.func import functional_call

from eblearn.latent import LISTA, fista, ista, iterations_to_reach, train_lista
from eblearn.latent.sparse_coding import sparse_coding_energy

LAM = 0.1


@pytest.fixture(scope="module")
def setup(digits):
    """300 centered digits and 32 unit atoms drawn from other digits."""
    x = torch.tensor(digits[:300], dtype=torch.float32)
    x = x - x.mean(1, keepdim=True)
    atoms = torch.tensor(digits[1000:1032], dtype=torch.float32)
    atoms = torch.nn.functional.normalize(atoms - atoms.mean(1, keepdim=True), dim=1)
    return x, atoms


@pytest.mark.parametrize("layers", [1, 2, 5])
def test_at_initialization_lista_is_ista_from_zero(setup, layers):
    x, atoms = setup
    model = LISTA(atoms, LAM, n_layers=layers)
    expected = ista(x, atoms, LAM, max_iter=layers, tol=0).codes
    torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=1e-4)


def test_back_propagation_through_time_matches_finite_differences(setup):
    x, atoms = setup
    model = LISTA(atoms[:6, :10].double().contiguous(), LAM, n_layers=3).double()
    y = x[:4, :10].double()
    params = {name: p.detach().clone().requires_grad_() for name, p in model.named_parameters()}

    def energy(*values):
        return functional_call(model, dict(zip(params, values)), (y,)).abs().sum()

    assert torch.autograd.gradcheck(energy, tuple(params.values()), eps=1e-7, atol=1e-5)


@pytest.mark.parametrize("target", ["energy", "codes"])
def test_training_beats_ista_and_fista_at_the_same_depth(setup, target):
    x, atoms = setup
    model = LISTA(atoms, LAM, n_layers=3)
    with torch.no_grad():
        before = float(model.energy(x).mean())
    losses = train_lista(model, x, target=target, epochs=20, batch_size=100, lr=3e-3)
    assert losses[-1] < losses[0]
    with torch.no_grad():
        after = float(model.energy(x).mean())
    fista_3 = float(
        sparse_coding_energy(x, fista(x, atoms, LAM, max_iter=3, tol=0).codes, atoms, LAM).mean()
    )
    assert after < before  # before is ISTA's energy after 3 steps
    assert after < fista_3
    assert iterations_to_reach(x, atoms, LAM, torch.tensor([after]), max_iter=50)[0] > 3


def test_iterations_to_reach_reads_the_solver_curve(setup):
    x, atoms = setup
    history = fista(x, atoms, LAM, max_iter=50, tol=0, restart=False, record_history=True).history
    targets = torch.tensor([history[4], history[19], history[49] - 1.0])
    assert iterations_to_reach(x, atoms, LAM, targets, max_iter=50) == [5, 20, 51]
    ista_history = ista(x, atoms, LAM, max_iter=10, tol=0, record_history=True).history
    assert iterations_to_reach(x, atoms, LAM, torch.tensor([ista_history[6]]), "ista", 10) == [7]


def test_errors_are_clear(setup):
    x, atoms = setup
    with pytest.raises(ValueError, match="n_layers must be an integer >= 1"):
        LISTA(atoms, LAM, n_layers=0)
    with pytest.raises(ValueError, match="unknown target 'mse'; valid choices: codes, energy"):
        train_lista(LISTA(atoms, LAM, 2), x, target="mse")
    with pytest.raises(ValueError, match=r"optimal_codes must have shape \(300, 32\)"):
        train_lista(LISTA(atoms, LAM, 2), x, optimal_codes=torch.zeros(300, 3))
    with pytest.raises(ValueError, match="dictionary atoms have 64 features but y has 10"):
        LISTA(atoms, LAM, 2)(torch.zeros(2, 10))


def test_all_zero_dictionary_unrolls_to_zero_codes():
    """``W = 0`` (Lipschitz constant 0, once a ZeroDivisionError): the step is 1, so every
    layer is ``shrink(0, λ) = 0``, the exact codes, as ISTA gives."""
    lista = LISTA(torch.zeros(5, 4), LAM, n_layers=3)
    y = torch.randn(6, 4)
    assert torch.equal(lista(y), torch.zeros(6, 5))
    assert torch.equal(lista.threshold.detach(), torch.full((5,), LAM))
