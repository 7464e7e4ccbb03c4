"""NodeKoopmanAccelerator on gradient descent of a linear least-squares model (affine dynamics)."""

import numpy as np
import pytest
import torch
from torch import nn

from surrogate.koopman.accelerator import NodeKoopmanAccelerator, build_accelerator
from surrogate.koopman.node import pinv_fit_flops


def _problem(seed=0):
    gen = torch.Generator().manual_seed(seed)
    # Column scales spread the eigenvalues of the GD map (about 0.5 to 0.997), so the window's
    # Krylov snapshots are well conditioned and the fit is exact to round-off.
    x = torch.randn(40, 3, generator=gen, dtype=torch.float64) * torch.tensor([0.2, 1.0, 3.0])
    y = x @ torch.randn(3, 2, generator=gen, dtype=torch.float64) + 0.3
    model = nn.Linear(3, 2).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(2, 3, generator=gen))
        model.bias.zero_()
    return model, x, y


def _train(model, x, y, steps, accelerator_options=None):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    loss_fn = lambda: ((model(x) - y) ** 2).mean()  # noqa: E731
    acc = (
        NodeKoopmanAccelerator(model, optimizer, eval_flops=7, **accelerator_options)
        if accelerator_options
        else None
    )
    events = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn().backward()
        optimizer.step()
        if acc is not None:
            event = acc.step(loss_fn)
            if event is not None:
                events.append(event)
    return acc, events


def test_jump_lands_on_the_gradient_descent_iterate():
    window, horizon = 8, 100
    reference, x, y = _problem()
    _train(reference, x, y, window + 1 + horizon)
    model, _, _ = _problem()
    acc, events = _train(model, x, y, window + 1, {"window": window, "horizon": horizon})
    assert [e.kind for e in events] == ["jump_accepted"]
    torch.testing.assert_close(model.weight, reference.weight, rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(model.bias, reference.bias, rtol=1e-7, atol=1e-9)
    assert events[0].info["window_error"] < 1e-8
    # GD map eigenvalues lie in (0.5, 1); the constant observable adds the eigenvalue 1.
    assert acc.diagnostics[0]["layers"][0]["spectral_radius"] == pytest.approx(1.0, abs=1e-8)
    # Two nodes, D = 3 weights + bias + constant = 5, m = 8; two loss checks of 7 FLOPs.
    assert acc.flops == 2 * pinv_fit_flops(5, window) + horizon * 2 * 2 * 25 + 2 * 7


def test_mean_snapshots_land_on_the_mean_of_the_gradient_descent_iterates():
    # On affine dynamics x+ = A x + b the means over consecutive strides of s steps follow
    # the affine map of s steps exactly, so U fitted to them predicts later means.
    window, stride, horizon = 8, 3, 30
    jump_step = stride * (window + 1)
    reference, x, y = _problem()
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.05)
    iterates = []
    for _ in range(jump_step + horizon):
        optimizer.zero_grad()
        ((reference(x) - y) ** 2).mean().backward()
        optimizer.step()
        iterates.append(torch.cat([reference.weight, reference.bias[:, None]], 1).detach().clone())
    # The mean over the stride of steps that ends `horizon` steps after the last snapshot.
    expected = torch.stack(iterates[jump_step + horizon - stride : jump_step + horizon]).mean(0)
    model, _, _ = _problem()
    options = {"window": window, "horizon": horizon, "stride": stride}
    acc, events = _train(model, x, y, jump_step, options)
    assert [e.kind for e in events] == ["jump_accepted"]
    torch.testing.assert_close(model.weight, expected[:, :-1], rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(model.bias, expected[:, -1], rtol=1e-7, atol=1e-9)
    # The means: stride - 1 additions and one division per entry (2 nodes x 4) per snapshot;
    # then the fit, horizon / stride applications of U and two loss checks of 7 FLOPs.
    means = (window + 1) * stride * 8
    k = horizon // stride
    assert acc.flops == means + 2 * pinv_fit_flops(5, window) + k * 2 * 2 * 25 + 2 * 7
    # A checkpoint taken mid-stride resumes the running sums.
    model, _, _ = _problem()
    acc, _ = _train(model, x, y, stride + 1, options)
    state = acc.state_dict()
    assert state["summed"] == 1 and len(state["snapshots"]) == 1
    other = NodeKoopmanAccelerator(model, torch.optim.SGD(model.parameters(), lr=0.05), **options)
    other.load_state_dict(state)
    torch.testing.assert_close(other.state_dict()["sums"][0], state["sums"][0], rtol=0, atol=0)


def test_rejected_jump_restores_weights_and_state_dict_resumes():
    model, x, y = _problem(1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    acc = NodeKoopmanAccelerator(model, optimizer, window=2, horizon=5)
    loss_fn = lambda: ((model(x) - y) ** 2).mean()  # noqa: E731
    for _ in range(2):
        optimizer.zero_grad()
        loss_fn().backward()
        optimizer.step()
        acc.step(loss_fn)
    state = acc.state_dict()
    before = model.weight.detach().clone()
    # A loss that always rises after the jump forces a rejection.
    calls = iter([0.0, 1.0])
    event = acc.step(lambda: torch.tensor(next(calls)))
    assert event.kind == "jump_rejected"
    torch.testing.assert_close(model.weight, before, rtol=0, atol=0)
    other = NodeKoopmanAccelerator(model, optimizer, window=2, horizon=5)
    other.load_state_dict(state)
    assert other.state_dict()["step"] == 2 and len(other.state_dict()["snapshots"]) == 2


def test_bad_options_raise_value_error():
    model, _, _ = _problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="horizon"):
        NodeKoopmanAccelerator(model, optimizer, horizon=0)
    message = r"horizon must be a multiple of stride \(4\) steps, got 10"
    with pytest.raises(ValueError, match=message):
        NodeKoopmanAccelerator(model, optimizer, horizon=10, stride=4)
    with pytest.raises(ValueError, match="stride"):
        NodeKoopmanAccelerator(model, optimizer, stride=0)
    with pytest.raises(ValueError, match="unknown node-Koopman option"):
        build_accelerator(model, optimizer, {"windw": 3}, 0)
    with pytest.raises(ValueError, match="nn.Linear"):
        NodeKoopmanAccelerator(nn.Tanh(), optimizer)
    assert np.isfinite(pinv_fit_flops(5, 3))


def test_train_defaults_mirror_the_accelerator_signature():
    import inspect

    from surrogate.koopman.accelerator import OPTIONS, NodeKoopmanAccelerator
    from surrogate.spec import DEFAULTS

    signature = inspect.signature(NodeKoopmanAccelerator.__init__).parameters
    assert DEFAULTS["koopman"] == {key: signature[key].default for key in OPTIONS}
