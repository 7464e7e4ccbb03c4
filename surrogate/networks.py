"""Surrogate networks: a parameters-to-field MLP and a pointwise (coords, params) MLP.

The field network is the regression of Tano, Portwood & Ragusa (arXiv:2006.14371): the PDE
parameters in, the whole concentration field (N values) out. The pointwise network maps
(coordinates, parameters) to one value and is trained on mini-batches of points; it is the
default, being the more accurate per training FLOP on the plume data (docs/networks.md).
"""

import torch
from torch import nn

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}
INITS = ("xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "torch")
NETWORK_KINDS = ("field", "pointwise")


class MLP(nn.Sequential):
    """Fully connected network: ``depth`` hidden layers of ``width`` units, linear output."""

    def __init__(self, n_in: int, n_out: int, width: int, depth: int, activation: str, init: str):
        if width < 1 or depth < 1:
            raise ValueError(f"width and depth must be >= 1, got width={width}, depth={depth}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        sizes = [n_in] + [width] * depth + [n_out]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            if i < depth:
                layers.append(ACTIVATIONS[activation]())
        super().__init__(*layers)
        self.activation = activation
        self.sizes = sizes
        if init != "torch":
            gain = nn.init.calculate_gain("tanh" if activation == "tanh" else "relu")
            for layer in self:
                if isinstance(layer, nn.Linear):
                    if init == "xavier_uniform":
                        nn.init.xavier_uniform_(layer.weight, gain=gain)
                    elif init == "xavier_normal":
                        nn.init.xavier_normal_(layer.weight, gain=gain)
                    elif init == "kaiming_uniform":
                        nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")
                    else:
                        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                    nn.init.zeros_(layer.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer's output, to which the (linear) output layer is applied."""
        for layer in list(self)[:-1]:
            x = layer(x)
        return x


def build_network(kind: str, n_params: int, n_coords: int, n_outputs: int, spec: dict) -> MLP:
    """The network of ``spec`` (width, depth, activation, init) for a dataset's sizes.

    ``field``: n_params -> n_outputs. ``pointwise``: n_coords + n_params -> 1.
    Initialise under ``torch.manual_seed(seed)`` so every method of a seed starts alike.
    """
    if kind not in NETWORK_KINDS:
        raise ValueError(f"network kind must be one of {NETWORK_KINDS}, got {kind!r}")
    n_in, n_out = (n_params, n_outputs) if kind == "field" else (n_coords + n_params, 1)
    return MLP(n_in, n_out, spec["width"], spec["depth"], spec["activation"], spec["init"])


def pick_device(name: str) -> torch.device:
    """``auto`` (CUDA where present, else CPU), ``cpu`` or ``cuda``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' requested but no CUDA GPU is available")
        return torch.device("cuda")
    raise ValueError(f"device must be one of auto, cpu, cuda, got {name!r}")
