"""The output-layer refit of a landing: exact least squares, its FLOP count, the problems."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from surrogate.data import load_dataset
from surrogate.networks import MLP
from surrogate.problems import REFIT_RIDGE, make_problem, refit_flops, refit_output_layer
from surrogate.spec import resolve_spec


def planted(n_out=3, rows=500, seed=0):
    """An MLP and data whose targets its hidden features give exactly, by known output weights."""
    torch.manual_seed(seed)
    model = MLP(4, n_out, 6, 2, "tanh", "xavier_uniform").double()
    x = torch.randn(rows, 4, dtype=torch.float64)
    weight = torch.randn(n_out, 6, dtype=torch.float64)
    bias = torch.randn(n_out, dtype=torch.float64)
    with torch.no_grad():
        y = model.features(x) @ weight.T + bias
    return model, x, y, weight, bias


def hidden_parameters(model: MLP) -> list[torch.Tensor]:
    return [p.detach().clone() for layer in list(model)[:-1] for p in layer.parameters()]


@pytest.mark.parametrize("n_out", [1, 3])
def test_refit_recovers_planted_output_weights(n_out):
    model, x, y, weight, bias = planted(n_out)
    hidden = hidden_parameters(model)
    refit_output_layer(model, x, y.squeeze(1) if n_out == 1 else y)
    # Exact up to the relative ridge of 1e-6.
    torch.testing.assert_close(model[-1].weight.detach(), weight, rtol=0, atol=1e-4)
    torch.testing.assert_close(model[-1].bias.detach(), bias, rtol=0, atol=1e-4)
    with torch.no_grad():
        assert torch.mean((model(x) - y) ** 2) < 1e-10
    for before, now in zip(hidden, hidden_parameters(model), strict=True):
        assert torch.equal(before, now)


def test_refit_is_the_least_squares_minimiser_on_noisy_targets():
    model, x, y, _, _ = planted(2)
    y = y + 0.3 * torch.randn_like(y)
    refit_output_layer(model, x, y)
    ones = torch.ones(x.shape[0], 1, dtype=x.dtype)
    features = torch.cat([model.features(x), ones], 1).detach()
    # The ridge problem as an augmented least-squares problem, solved by QR (not normal
    # equations): [F; sqrt(lam) I] w = [y; 0], lam = REFIT_RIDGE x mean diagonal of F^T F.
    k = features.shape[1]
    lam = REFIT_RIDGE * (features**2).sum() / k
    augmented = torch.cat([features, lam.sqrt() * torch.eye(k, dtype=x.dtype)])
    rhs = torch.cat([y, torch.zeros(k, y.shape[1], dtype=x.dtype)])
    solution = torch.linalg.lstsq(augmented, rhs).solution
    torch.testing.assert_close(model[-1].weight.detach(), solution[:-1].T, rtol=0, atol=1e-9)
    torch.testing.assert_close(model[-1].bias.detach(), solution[-1], rtol=0, atol=1e-9)


@pytest.mark.parametrize(("sizes", "rows"), [((7, 64, 64, 64, 1), 300), ((5, 12, 12, 45), 40)])
def test_refit_matmul_flops_match_flop_counter(sizes, rows):
    torch.manual_seed(0)
    model = MLP(sizes[0], sizes[-1], sizes[1], len(sizes) - 2, "tanh", "xavier_uniform")
    x, y = torch.randn(rows, sizes[0]), torch.randn(rows, sizes[-1])
    with FlopCounterMode(display=False) as counter:
        spent = refit_output_layer(model, x, y)
    matmul, other = refit_flops(list(sizes), rows, "tanh", sizes[-1])
    assert matmul == counter.get_total_flops()
    assert spent == matmul + other
    # Element-wise work by hand: biases and tanh of the hidden layers, the ridge, Cholesky
    # (k^3 / 3) and the two triangular solves, k = width + 1.
    k = sizes[-2] + 1
    hidden = sum(sizes[1:-1]) * rows
    assert other == 2 * hidden + 2 * k + k**3 // 3 + 2 * k * k * sizes[-1]


@pytest.mark.parametrize("kind", ["field", "pointwise"])
def test_problem_refit_uses_the_check_data(dataset, kind):
    spec = resolve_spec(
        {"network": {"kind": kind, "width": 8, "depth": 2}, "check_points": 300}
        | ({"optimizer": {"batch_size": 0}} if kind == "field" else {})
    )
    problem = make_problem(load_dataset(dataset), spec, torch.device("cpu"), seed=1)
    torch.manual_seed(0)
    model = problem.network(spec)
    before = float(problem.check_loss(model))
    spent = problem.refit(model)
    after = float(problem.check_loss(model))
    assert after < before
    # The refit is optimal on the check data: a perturbed output layer is worse there.
    with torch.no_grad():
        model[-1].bias.add_(1e-3)
    assert float(problem.check_loss(model)) > after
    rows = problem.n_check
    n_out = model.sizes[-1]
    assert spent == sum(refit_flops(model.sizes, rows, "tanh", n_out))
