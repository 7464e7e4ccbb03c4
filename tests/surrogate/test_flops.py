"""Analytic FLOP counts against torch's FlopCounterMode and against hand counts."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from surrogate.flops import linear_sizes, mlp_flops, optimizer_flops
from surrogate.networks import MLP


@pytest.mark.parametrize(("sizes", "batch"), [((5, 32, 32, 300), 17), ((7, 8, 1), 64)])
def test_mlp_training_step_matmul_flops_match_flop_counter(sizes, batch):
    torch.manual_seed(0)
    model = MLP(sizes[0], sizes[-1], sizes[1], len(sizes) - 2, "tanh", "xavier_uniform")
    assert linear_sizes(model) == list(sizes)
    x, y = torch.randn(batch, sizes[0]), torch.randn(batch, sizes[-1])
    with FlopCounterMode(display=False) as counter:
        loss = torch.mean((model(x) - y) ** 2)
    forward = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        loss.backward()
    backward = counter.get_total_flops()
    analytic = mlp_flops(sizes, batch, "tanh")
    assert analytic.forward_matmul == forward
    assert analytic.backward_matmul == backward


def test_mlp_flops_hand_count():
    # 3 -> 4 -> 2, batch 5, tanh: forward matmuls 2*5*(3*4 + 4*2) = 200; biases 5*(4 + 2);
    # tanh 5*4; backward: weight grads 200, input grad of the second layer 2*5*4*2 = 80,
    # bias grads 30, tanh derivative 3*5*4.
    f = mlp_flops([3, 4, 2], 5, "tanh")
    assert (f.forward_matmul, f.forward_other) == (200, 30 + 20)
    assert (f.backward_matmul, f.backward_other) == (280, 30 + 60)
    assert f.total == 200 + 50 + 280 + 90


def test_optimizer_flops_per_parameter():
    model = torch.nn.Linear(10, 3)  # 33 parameters
    assert optimizer_flops(torch.optim.Adam(model.parameters())) == 13 * 33
    assert optimizer_flops(torch.optim.SGD(model.parameters(), lr=0.1)) == 2 * 33
    assert optimizer_flops(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)) == 4 * 33
    with pytest.raises(ValueError, match="RMSprop"):
        optimizer_flops(torch.optim.RMSprop(model.parameters()))


def test_unknown_activation_raises():
    with pytest.raises(ValueError, match="'sine'"):
        mlp_flops([2, 3, 1], 4, "sine")
