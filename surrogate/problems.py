"""Regression problems on a dataset: losses, predictions and their FLOP counts.

A problem owns the normalised tensors on the device and knows, for its network, the FLOPs of
one training step (forward + backward + loss) and of one jump-check loss evaluation. Its
``refit(model)`` solves the output layer by least squares on the jump-check data (the
``refit_output`` landing of the DMD accelerator) and returns what that cost.
"""

import numpy as np
import torch
from torch import nn

from surrogate.data import Dataset, Normaliser
from surrogate.flops import ACTIVATION_FLOPS, linear_sizes, mlp_flops, mse_flops
from surrogate.networks import MLP, NETWORK_KINDS, build_network

# Rows per chunk when evaluating the pointwise network on many points (bounds memory). Measured
# on the default network's validation pass (CPU, glibc): at 65536 rows every pass page-faulted
# (a quarter of its time in the kernel) and took 1.5x longer than at 16384, which has none.
_CHUNK = 16384
# Ridge of the output-layer refit, relative to the mean diagonal of the features' Gram matrix.
REFIT_RIDGE = 1e-6


def refit_flops(sizes: list[int], rows: int, activation: str, n_out: int) -> tuple[int, int]:
    """(matrix-product, other) FLOPs of `refit_output_layer` on ``rows`` rows.

    The hidden layers' forward pass (with the last hidden activation), the Gram matrix
    F^T F (2 rows k^2 for k = width + 1 features, the bias's column of ones included) and F^T Y
    (2 rows k n_out), the ridge (trace and diagonal, 2 k), a Cholesky factorisation (k^3 / 3)
    and two triangular solves (2 k^2 n_out).
    """
    hidden = mlp_flops(sizes[:-1], rows, activation)
    k = sizes[-2] + 1
    matmul = hidden.forward_matmul + 2 * rows * k * k + 2 * rows * k * n_out
    act = ACTIVATION_FLOPS[activation][0] * rows * sizes[-2]
    other = hidden.forward_other + act + 2 * k + k**3 // 3 + 2 * k * k * n_out
    return matmul, other


@torch.no_grad()
def refit_output_layer(model: MLP, inputs: torch.Tensor, targets: torch.Tensor) -> int:
    """Solve the output layer's weight and bias by ridge least squares on (inputs, targets).

    The network is linear in its output layer, so for fixed hidden layers its best weights
    on the data are a linear least-squares problem (a variable-projection step), solved in
    float64 with a ridge of ``REFIT_RIDGE`` times the mean diagonal of the Gram matrix. Returns
    the FLOPs spent (`refit_flops`).
    """
    features = model.features(inputs).double()
    ones = torch.ones(features.shape[0], 1, dtype=features.dtype, device=features.device)
    features = torch.cat([features, ones], dim=1)
    y = targets.double().reshape(features.shape[0], -1)
    gram = features.T @ features
    k = gram.shape[0]
    gram.diagonal().add_(REFIT_RIDGE * gram.diagonal().sum() / k)
    solution = torch.cholesky_solve(features.T @ y, torch.linalg.cholesky(gram))
    output = model[-1]
    output.weight.copy_(solution[:-1].T)
    output.bias.copy_(solution[-1])
    return sum(refit_flops(model.sizes, features.shape[0], model.activation, y.shape[1]))


class FieldProblem:
    """Parameters -> whole field (flattened T x N for transient data); normalised MSE.

    The jump check uses a fixed random subset of ``check_samples`` training samples (all of
    them when 0 or more than there are), drawn once from the seed, so that an accelerator's
    loss checks cost a fraction of a forward pass over the training set.
    """

    kind = "field"

    def __init__(self, data: Dataset, spec: dict, device: torch.device, seed: int):
        train = data.indices("train")
        flat = data.fields.reshape(data.fields.shape[0], -1)
        self.data, self.device = data, device
        self.norm = Normaliser.fit(data.params[train], flat[train])
        self.x, self.y = {}, {}
        for split in ("train", "val", "test"):
            idx = data.indices(split)
            self.x[split] = self._tensor(self.norm.inputs(data.params[idx]))
            self.y[split] = self._tensor(self.norm.outputs(flat[idx]))
        self.batch_size = spec["optimizer"]["batch_size"]
        self.n_train = train.size
        wanted = spec["check_samples"]
        self.n_check = self.n_train if wanted == 0 else min(wanted, self.n_train)
        if self.n_check == self.n_train:
            self.x_check, self.y_check = self.x["train"], self.y["train"]
        else:
            picker = torch.Generator().manual_seed(seed)
            pick = torch.randperm(self.n_train, generator=picker)[: self.n_check].sort().values
            pick = pick.to(device)
            self.x_check, self.y_check = self.x["train"][pick], self.y["train"][pick]

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, dtype=torch.float32, device=self.device)

    def network(self, spec: dict) -> MLP:
        n_out = int(np.prod(self.data.field_shape))
        return build_network("field", self.data.params.shape[1], 0, n_out, spec["network"])

    def _rows(self) -> int:
        b = self.batch_size
        return self.n_train if b == 0 or b >= self.n_train else b

    def train_loss(self, model: nn.Module, generator: torch.Generator) -> torch.Tensor:
        """Loss of one step: the full training set, or a random mini-batch of samples."""
        x, y = self.x["train"], self.y["train"]
        if self._rows() < self.n_train:
            idx = torch.randint(
                0, self.n_train, (self._rows(),), generator=generator, device=self.device
            )
            x, y = x[idx], y[idx]
        return torch.mean((model(x) - y) ** 2)

    @torch.no_grad()
    def loss(self, model: nn.Module, split: str) -> torch.Tensor:
        """Normalised MSE on a whole split (no gradient)."""
        return torch.mean((model(self.x[split]) - self.y[split]) ** 2)

    @torch.no_grad()
    def check_loss(self, model: nn.Module) -> torch.Tensor:
        """The training loss (on the check subset) an accelerator compares around a jump."""
        return torch.mean((model(self.x_check) - self.y_check) ** 2)

    @torch.no_grad()
    def predict(self, model: nn.Module, split: str) -> np.ndarray:
        """Predictions in physical units, shaped like the dataset's fields of the split."""
        out = model(self.x[split]).double().cpu().numpy()
        return self.norm.physical(out).reshape((-1, *self.data.field_shape))

    def refit(self, model: MLP) -> int:
        """`refit_output_layer` on the check samples; the FLOPs spent."""
        return refit_output_layer(model, self.x_check, self.y_check)

    def step_flops(self, model: nn.Module) -> int:
        sizes = linear_sizes(model)
        rows = self._rows()
        fwd, bwd = mse_flops(rows * sizes[-1])
        return mlp_flops(sizes, rows, model.activation).total + fwd + bwd

    def eval_flops(self, model: nn.Module) -> int:
        sizes = linear_sizes(model)
        return (
            mlp_flops(sizes, self.n_check, model.activation).forward
            + mse_flops(self.n_check * sizes[-1])[0]
        )


class PointwiseProblem:
    """(coordinates, parameters) -> value, trained on random mini-batches of (sample, point).

    The jump check uses a fixed random subset of ``check_points`` training pairs, drawn once
    from the seed, so that it costs the same at every jump and in every resumed run.
    """

    kind = "pointwise"

    def __init__(self, data: Dataset, spec: dict, device: torch.device, seed: int):
        if data.fields.ndim != 2:
            raise ValueError(
                "network kind 'pointwise' supports steady datasets (fields S x N), got fields "
                f"of shape {data.fields.shape}"
            )
        if spec["optimizer"]["batch_size"] == 0:
            raise ValueError("network kind 'pointwise' needs train.optimizer.batch_size > 0")
        train = data.indices("train")
        self.data, self.device = data, device
        self.norm = Normaliser.fit(data.params[train], data.fields[train])
        coords = data.coords
        spread = coords.std(axis=0)
        coords_n = (coords - coords.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
        self.coords = torch.as_tensor(coords_n, dtype=torch.float32, device=device)
        self.params, self.y = {}, {}
        for split in ("train", "val", "test"):
            idx = data.indices(split)
            self.params[split] = torch.as_tensor(
                self.norm.inputs(data.params[idx]), dtype=torch.float32, device=device
            )
            self.y[split] = torch.as_tensor(
                self.norm.outputs(data.fields[idx]), dtype=torch.float32, device=device
            )
        self.n_points = coords.shape[0]
        self.n_pairs = train.size * self.n_points
        self.batch_size = spec["optimizer"]["batch_size"]
        self.n_check = min(spec["check_points"], self.n_pairs)
        picker = torch.Generator().manual_seed(seed)
        self.check_idx = torch.randperm(self.n_pairs, generator=picker)[: self.n_check].to(device)

    def network(self, spec: dict) -> MLP:
        return build_network(
            "pointwise", self.data.params.shape[1], self.coords.shape[1], 1, spec["network"]
        )

    def _pairs(self, split: str, flat_idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sample, point = flat_idx // self.n_points, flat_idx % self.n_points
        inputs = torch.cat([self.coords[point], self.params[split][sample]], dim=1)
        return inputs, self.y[split][sample, point]

    def train_loss(self, model: nn.Module, generator: torch.Generator) -> torch.Tensor:
        idx = torch.randint(
            0, self.n_pairs, (self.batch_size,), generator=generator, device=self.device
        )
        inputs, target = self._pairs("train", idx)
        return torch.mean((model(inputs).squeeze(1) - target) ** 2)

    @torch.no_grad()
    def _sq_error_sum(self, model: nn.Module, split: str, idx: torch.Tensor) -> torch.Tensor:
        total = torch.zeros((), device=self.device)
        for chunk in idx.split(_CHUNK):
            inputs, target = self._pairs(split, chunk)
            total += torch.sum((model(inputs).squeeze(1) - target) ** 2)
        return total

    @torch.no_grad()
    def loss(self, model: nn.Module, split: str) -> torch.Tensor:
        n = self.params[split].shape[0] * self.n_points
        idx = torch.arange(n, device=self.device)
        return self._sq_error_sum(model, split, idx) / n

    def check_loss(self, model: nn.Module) -> torch.Tensor:
        return self._sq_error_sum(model, "train", self.check_idx) / self.n_check

    def refit(self, model: MLP) -> int:
        """`refit_output_layer` on the check pairs; the FLOPs spent."""
        return refit_output_layer(model, *self._pairs("train", self.check_idx))

    @torch.no_grad()
    def predict(self, model: nn.Module, split: str) -> np.ndarray:
        n_samples = self.params[split].shape[0]
        idx = torch.arange(n_samples * self.n_points, device=self.device)
        out = torch.cat([model(self._pairs(split, c)[0]).squeeze(1) for c in idx.split(_CHUNK)])
        out = out.reshape(n_samples, self.n_points).double().cpu().numpy()
        return self.norm.physical(out)

    def step_flops(self, model: nn.Module) -> int:
        fwd, bwd = mse_flops(self.batch_size)
        return mlp_flops(linear_sizes(model), self.batch_size, model.activation).total + fwd + bwd

    def eval_flops(self, model: nn.Module) -> int:
        return (
            mlp_flops(linear_sizes(model), self.n_check, model.activation).forward
            + mse_flops(self.n_check)[0]
        )


def make_problem(data: Dataset, spec: dict, device: torch.device, seed: int):
    """The problem of ``spec["network"]["kind"]``."""
    kind = spec["network"]["kind"]
    if kind not in NETWORK_KINDS:
        raise ValueError(f"train.network.kind must be one of {NETWORK_KINDS}, got {kind!r}")
    cls = FieldProblem if kind == "field" else PointwiseProblem
    return cls(data, spec, device, seed)
