"""Analytic floating-point operation counts of training: every FLOP a method spends.

Conventions (the accounting of DESIGN.md, "Operation accounting"):

- A matrix product of (a x b) by (b x c) is 2 a b c FLOPs. These terms are exactly what
  ``torch.utils.flop_counter.FlopCounterMode`` reports for an MLP (tests/surrogate/test_flops.py
  checks the equality); it counts nothing else.
- Element-wise work is counted too, one FLOP per add, multiply, divide, square root or
  comparison, and the per-element costs of the activations listed in ``ACTIVATION_FLOPS``
  (a transcendental such as tanh or exp counts as one FLOP).
- Linear algebra of the accelerators (Gram matrices, eigendecompositions, SVDs, lifts) is
  counted where it is defined: `surrogate.pod.pod_flops`, `surrogate.dmd.dmd_flops`.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

# (forward, backward) FLOPs per element. tanh: y = tanh(x); dy/dx = 1 - y^2 times the incoming
# gradient (square, subtract, multiply). relu: compare; mask multiply. gelu (erf form): about
# 8 forward, 12 backward. silu: sigmoid (exp, add, divide) and a multiply; backward 5.
ACTIVATION_FLOPS = {"tanh": (1, 3), "relu": (1, 1), "gelu": (8, 12), "silu": (4, 5)}

# Per-parameter FLOPs of one optimizer update (torch's single-tensor implementations, no
# weight decay): Adam: lerp of the first moment (3), second moment b2 v + (1 - b2) g^2 (4),
# denominator sqrt(v) / sqrt(bc2) + eps (3), addcdiv update (3). SGD: p - lr g (2); momentum
# adds mu b + g (2). AdamW's decoupled decay adds 2.
ADAM_FLOPS_PER_PARAM = 13


@dataclass(frozen=True)
class PassFlops:
    """FLOPs of one forward and one backward pass, matmul terms apart from element-wise."""

    forward_matmul: int
    forward_other: int
    backward_matmul: int
    backward_other: int

    @property
    def forward(self) -> int:
        return self.forward_matmul + self.forward_other

    @property
    def backward(self) -> int:
        return self.backward_matmul + self.backward_other

    @property
    def matmul(self) -> int:
        return self.forward_matmul + self.backward_matmul

    @property
    def total(self) -> int:
        return self.forward + self.backward


def mlp_flops(sizes: Sequence[int], batch: int, activation: str) -> PassFlops:
    """FLOPs of an MLP with layer widths ``sizes`` (input, hidden..., output) on ``batch`` rows.

    Forward per layer (b x i) @ (i x o): 2 b i o, plus b o for the bias and, on hidden layers,
    the activation. Backward: the weight gradient 2 b i o on every layer, the input gradient
    2 b i o on all but the first layer (the network input needs no gradient), the bias
    gradient b o (a sum over rows) and the activation derivative on hidden layers.
    """
    if activation not in ACTIVATION_FLOPS:
        raise ValueError(
            f"activation must be one of {sorted(ACTIVATION_FLOPS)}, got {activation!r}"
        )
    act_fwd, act_bwd = ACTIVATION_FLOPS[activation]
    fwd_mm = fwd_other = bwd_mm = bwd_other = 0
    n_layers = len(sizes) - 1
    for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        mm = 2 * batch * n_in * n_out
        hidden = layer < n_layers - 1
        fwd_mm += mm
        fwd_other += batch * n_out + (act_fwd * batch * n_out if hidden else 0)
        bwd_mm += mm + (mm if layer > 0 else 0)
        bwd_other += batch * n_out + (act_bwd * batch * n_out if hidden else 0)
    return PassFlops(fwd_mm, fwd_other, bwd_mm, bwd_other)


def mse_flops(elements: int) -> tuple[int, int]:
    """(forward, backward) FLOPs of a mean squared error over ``elements`` values.

    Forward: subtract, square, sum, one divide (3 per element). Backward: 2 (p - y) / count
    (2 per element, the difference being reused).
    """
    return 3 * elements, 2 * elements


def optimizer_flops(optimizer: torch.optim.Optimizer) -> int:
    """FLOPs of one ``optimizer.step()`` over all its parameters (see ADAM_FLOPS_PER_PARAM)."""
    total = 0
    for group in optimizer.param_groups:
        n = sum(p.numel() for p in group["params"])
        if isinstance(optimizer, torch.optim.AdamW):
            per = ADAM_FLOPS_PER_PARAM + 2
        elif isinstance(optimizer, torch.optim.Adam):
            per = ADAM_FLOPS_PER_PARAM + (2 if group.get("weight_decay", 0) else 0)
        elif isinstance(optimizer, torch.optim.SGD):
            per = 2 + (2 if group.get("momentum", 0) else 0)
            per += 2 if group.get("weight_decay", 0) else 0
        else:
            raise ValueError(
                f"no FLOP formula for optimizer {type(optimizer).__name__}; known: Adam, AdamW, SGD"
            )
        total += per * n
    return total


def linear_sizes(model: nn.Module) -> list[int]:
    """Widths (input, hidden..., output) of the chain of nn.Linear layers in ``model``."""
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layers")
    return [layers[0].in_features] + [layer.out_features for layer in layers]
