"""Small regression problems and a full-batch training loop for the Koopman analyses.

The analyses train many small networks, so the field is compressed first: the centred
training fields are projected on their leading `n_modes` POD modes, and a network
(surrogate.networks.MLP) regresses the mode coefficients from the standardised parameters.
Coefficients are divided by one global scale, so the mean squared error of the coefficients
is the normalised field MSE within the POD subspace (the modes are orthonormal). Test errors
are relative L2 errors of the reconstructed physical fields, truncation included.

FLOPs per training step: forward and backward pass of the MLP on the training set, the MSE
and the Adam update (surrogate.flops). Validation evaluations count as a forward pass where a
method needs them (validation-based early stopping), otherwise they are monitoring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from surrogate.data import Normaliser, load_dataset
from surrogate.flops import mlp_flops, mse_flops, optimizer_flops
from surrogate.networks import MLP


@dataclass
class Problem:
    """Standardised inputs and scaled POD coefficients per split, and the field reconstruction."""

    inputs: dict[str, torch.Tensor]
    targets: dict[str, torch.Tensor]
    fields: dict[str, np.ndarray]
    mean_field: np.ndarray
    modes: np.ndarray
    scale: float

    @property
    def n_in(self) -> int:
        return self.inputs["train"].shape[1]

    @property
    def n_out(self) -> int:
        return self.targets["train"].shape[1]

    def reconstruct(self, coefficients: torch.Tensor) -> np.ndarray:
        """Physical fields (samples x points) from predicted scaled coefficients."""
        return self.mean_field + (coefficients.detach().double().numpy() * self.scale) @ self.modes

    def rel_l2(self, model: torch.nn.Module, split: str = "test") -> float:
        """||pred - truth|| / ||truth|| over all samples of `split`."""
        with torch.no_grad():
            pred = self.reconstruct(model(self.inputs[split]))
        truth = self.fields[split]
        return float(np.linalg.norm(pred - truth) / np.linalg.norm(truth))


def make_problem(
    params: np.ndarray, fields: np.ndarray, split: np.ndarray, n_modes: int, max_train: int = 0
) -> Problem:
    """A Problem from arrays of the dataset contract (fields flattened per sample).

    max_train > 0 keeps only the first max_train training samples (to keep the many small
    trainings of the analyses cheap); validation and test splits are kept whole.
    """
    if n_modes < 1:
        raise ValueError(f"n_modes must be >= 1, got {n_modes}")
    if max_train < 0:
        raise ValueError(f"max_train must be >= 0 (0 = all), got {max_train}")
    fields = fields.reshape(fields.shape[0], -1)
    split = np.asarray(split).astype(str).copy()
    if max_train:
        split[np.flatnonzero(split == "train")[max_train:]] = "unused"
    train = split == "train"
    if train.sum() < 2 or not (split == "val").any() or not (split == "test").any():
        raise ValueError("the dataset needs >= 2 train, >= 1 val and >= 1 test samples")
    norm = Normaliser.fit(params[train], fields[train])
    mean_field = fields[train].mean(axis=0)
    _, sing, vh = np.linalg.svd(fields[train] - mean_field, full_matrices=False)
    if n_modes > sing.size:
        raise ValueError(f"n_modes must be <= {sing.size} (training samples), got {n_modes}")
    modes = vh[:n_modes]
    scale = float(np.sqrt(np.mean(((fields[train] - mean_field) @ modes.T) ** 2)))
    inputs, targets, split_fields = {}, {}, {}
    for name in ("train", "val", "test"):
        rows = split == name
        inputs[name] = torch.as_tensor(norm.inputs(params[rows]), dtype=torch.float64)
        targets[name] = torch.as_tensor(
            (fields[rows] - mean_field) @ modes.T / scale, dtype=torch.float64
        )
        split_fields[name] = fields[rows]
    return Problem(inputs, targets, split_fields, mean_field, modes, scale)


def load_problem(path: str, n_modes: int, max_train: int = 0) -> Problem:
    """make_problem on a dataset.npz (docs/contracts.md)."""
    data = load_dataset(path)
    return make_problem(data.params, data.fields, data.split, n_modes, max_train)


def build_mlp(problem: Problem, width: int, depth: int, activation: str, seed: int) -> MLP:
    """A float64 MLP with Xavier-uniform initial weights drawn under torch.manual_seed(seed)."""
    torch.manual_seed(seed)
    return MLP(problem.n_in, problem.n_out, width, depth, activation, "xavier_uniform").double()


def step_flops(model: MLP, problem: Problem, optimizer: torch.optim.Optimizer) -> int:
    """FLOPs of one full-batch training step (pass, loss, optimizer update)."""
    batch = problem.inputs["train"].shape[0]
    passes = mlp_flops(model.sizes, batch, model.activation).total
    return passes + sum(mse_flops(batch * problem.n_out)) + optimizer_flops(optimizer)


def eval_flops(model: MLP, problem: Problem, split: str) -> int:
    """FLOPs of one forward pass and MSE on `split`."""
    batch = problem.inputs[split].shape[0]
    return (
        mlp_flops(model.sizes, batch, model.activation).forward
        + mse_flops(batch * problem.n_out)[0]
    )


def mse(model: torch.nn.Module, problem: Problem, split: str) -> float:
    """Normalised MSE of the coefficients on `split` (no gradient)."""
    with torch.no_grad():
        return float(((model(problem.inputs[split]) - problem.targets[split]) ** 2).mean())


def flat_parameters(model: torch.nn.Module) -> np.ndarray:
    """All parameters as one float64 vector (a snapshot)."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double().numpy()


def set_flat_parameters(model: torch.nn.Module, flat: np.ndarray) -> None:
    """Inverse of flat_parameters."""
    offset = 0
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.as_tensor(flat[offset : offset + p.numel()]).view_as(p))
            offset += p.numel()


def train(
    model: MLP,
    problem: Problem,
    steps: int,
    lr: float,
    callback: Callable[[int, MLP], bool | None] | None = None,
    accelerator_factory: Callable | None = None,
    monitor: bool = True,
) -> list[dict]:
    """Full-batch Adam; per step a record (step, flops, train_loss, val_loss, event).

    `callback(step, model)` runs after each step; returning True stops training. With
    monitor=False the losses after each step are not evaluated (records hold step, flops
    and event only), which makes the many runs of an analysis about three times cheaper.
    `accelerator_factory(model, optimizer, eval_flops)` builds an accelerator following the
    protocol of surrogate.accelerator; its FLOPs are added to the record.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    per_step = step_flops(model, problem, optimizer)
    x, y = problem.inputs["train"], problem.targets["train"]

    def loss_fn():
        return ((model(x) - y) ** 2).mean()

    accelerator = (
        accelerator_factory(model, optimizer, eval_flops(model, problem, "train"))
        if accelerator_factory
        else None
    )
    records, spent = [], 0
    for step in range(1, steps + 1):
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        optimizer.step()
        spent += per_step
        event = accelerator.step(loss_fn) if accelerator is not None else None
        record = {
            "step": step,
            "flops": spent + (accelerator.flops if accelerator is not None else 0),
            "event": None if event is None else event.kind,
        }
        if monitor:
            record["train_loss"] = mse(model, problem, "train")
            record["val_loss"] = mse(model, problem, "val")
        records.append(record)
        if callback is not None and callback(step, model):
            break
    return records
