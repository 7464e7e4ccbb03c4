"""Node-Koopman weight jumps as a training accelerator (Dogra & Redman, NeurIPS 2020).

An add-on around any torch.optim optimizer, implementing the protocol of
`surrogate.accelerator` (``step(loss_fn)`` after every optimizer step, ``flops``,
``diagnostics``, ``state_dict``). Every ``nn.Linear`` layer's nodes (incoming weights plus
bias) are recorded after each of ``window + 1`` consecutive steps, starting at step ``start``;
then per chunk of nodes U = F' pinv(F) is fitted (surrogate.koopman.node) and the weights are
set to the prediction ``horizon`` steps ahead. With ``stride`` > 1 a snapshot is instead the
mean of the node states over the ``stride`` steps it closes (mini-batch noise averaged out, as
the POD-DMD accelerator's ``snapshots="mean"``), U advances one stride, and the jump lands
``horizon`` steps (``horizon / stride`` applications of U) after the last mean. As in
`surrogate.accelerator.DMDAccelerator`, the jump is kept only if the training loss after it is
finite and not higher than before; otherwise the weights are restored. Parameters outside
``nn.Linear`` layers are not moved.

Charged to ``flops``: the two loss evaluations of the check (``eval_flops`` each), the fits
and the predictions, and with ``stride`` > 1 the sums and divisions of the means. Not charged
(monitoring only): the roll-out U^k x_0 over the window that gives the recorded prediction
error against the true trajectory (``window_error``: relative to the distance travelled, see
surrogate.koopman.node.rollout_error) and the spectral radius of the operators, both written
to the diagnostics.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from surrogate.accelerator import Event, check_int
from surrogate.koopman.node import (
    fit_node_operators,
    predict_node_states,
    rollout_error,
    spectral_radius,
)


def node_state(layer: nn.Linear) -> torch.Tensor:
    """(out_features, in_features + 1): each node's incoming weights and its bias."""
    bias = layer.bias if layer.bias is not None else torch.zeros_like(layer.weight[:, 0])
    return torch.cat([layer.weight, bias[:, None]], dim=1)


class NodeKoopmanAccelerator:
    """Per-node Koopman operators predicting the weights `horizon` steps ahead.

    Args:
        model: network with nn.Linear layers updated by ``optimizer``.
        optimizer: any torch.optim optimizer (its state is kept across a jump).
        window: snapshot intervals m per fit (window + 1 snapshots, >= 1).
        horizon: training steps predicted ahead (>= 1; a multiple of ``stride``).
        chunk_size: nodes per Koopman operator (1 = one per node, as in the paper).
        affine: add the constant observable 1 to each state.
        rcond: relative cut-off of the pseudo-inverse.
        start: training step of the first snapshot (>= 1).
        warmup: steps after a jump before snapshots resume (>= 0).
        stride: steps per snapshot (>= 1); above 1 a snapshot is the mean over its steps.
        eval_flops: FLOPs of one ``loss_fn()`` call (>= 0).
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        window: int = 20,
        horizon: int = 50,
        chunk_size: int = 1,
        affine: bool = True,
        rcond: float = 1e-10,
        start: int = 1,
        warmup: int = 0,
        stride: int = 1,
        eval_flops: int = 0,
    ):
        self.window = check_int("window", window)
        self.horizon = check_int("horizon", horizon)
        self.chunk_size = check_int("chunk_size", chunk_size)
        if not isinstance(affine, bool):
            raise ValueError(f"affine must be true or false, got {affine!r}")
        if not (isinstance(rcond, int | float) and 0.0 <= rcond < 1.0):
            raise ValueError(f"rcond must be in [0, 1), got {rcond!r}")
        self.affine, self.rcond = affine, float(rcond)
        self.start = check_int("start", start)
        self.warmup = check_int("warmup", warmup, 0)
        self.stride = check_int("stride", stride)
        if self.horizon % self.stride:
            raise ValueError(
                f"horizon must be a multiple of stride ({self.stride}) steps, got {self.horizon}"
            )
        self.eval_flops = check_int("eval_flops", eval_flops, 0)
        self.layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
        if not self.layers:
            raise ValueError(f"{type(model).__name__} has no nn.Linear layers")
        self.optimizer = optimizer
        self.flops = 0
        self.diagnostics: list[dict] = []
        self._step = 0
        # A snapshot closes the stride steps up to it: the running sums of the node states
        # over those steps so far, and how many.
        self._next_snapshot = self.start + self.stride - 1
        self._snapshots: list[list[torch.Tensor]] = []
        self._sums: list[torch.Tensor] = []
        self._summed = 0

    def step(self, loss_fn: Callable[[], torch.Tensor]) -> Event | None:
        """Record a snapshot when due; after window + 1 of them, try a jump."""
        self._step += 1
        if self._step <= self._next_snapshot - self.stride:
            return None
        with torch.no_grad():
            states = [node_state(layer).detach() for layer in self.layers]
            if self._summed:
                for total, state in zip(self._sums, states, strict=True):
                    total.add_(state)
                self.flops += sum(t.numel() for t in states)
            else:
                self._sums = [state.clone() for state in states]
            self._summed += 1
            if self._step < self._next_snapshot:
                return None
            # The mean over the stride (over one step, the copy itself: nothing to divide).
            if self._summed > 1:
                self._sums = [total / self._summed for total in self._sums]
                self.flops += sum(t.numel() for t in self._sums)
            self._snapshots.append(self._sums)
            self._sums, self._summed = [], 0
        self._next_snapshot = self._step + self.stride
        if len(self._snapshots) < self.window + 1:
            return None
        return self._jump(loss_fn)

    @torch.no_grad()
    def _jump(self, loss_fn: Callable[[], torch.Tensor]) -> Event:
        spent_before = self.flops
        loss_before = float(loss_fn())
        self.flops += self.eval_flops
        saved = [
            (layer.weight.clone(), None if layer.bias is None else layer.bias.clone())
            for layer in self.layers
        ]
        layer_info = []
        for index, layer in enumerate(self.layers):
            # One device-to-host copy per jump; the small fits run in float64 on the CPU.
            trajectory = torch.stack([snap[index] for snap in self._snapshots]).double().cpu()
            trajectory = trajectory.numpy()
            operators, fit_flops = fit_node_operators(
                trajectory, self.chunk_size, self.affine, self.rcond
            )
            predicted, predict_flops = predict_node_states(
                operators,
                trajectory[-1],
                self.horizon // self.stride,
                self.chunk_size,
                self.affine,
            )
            self.flops += fit_flops + predict_flops
            errors = rollout_error(operators, trajectory, self.chunk_size, self.affine)
            new = torch.as_tensor(predicted, dtype=layer.weight.dtype, device=layer.weight.device)
            layer.weight.copy_(new[:, :-1])
            if layer.bias is not None:
                layer.bias.copy_(new[:, -1])
            layer_info.append(
                {
                    "layer": index,
                    "window_error_last": float(errors[-1]),
                    "window_error_mean": float(errors.mean()),
                    # Monitoring only (not charged): the largest |eigenvalue| of U over chunks;
                    # above 1 the prediction grows without bound with the horizon.
                    "spectral_radius": spectral_radius(
                        trajectory, self.chunk_size, self.affine, self.rcond
                    ),
                    "fit_flops": int(fit_flops),
                    "predict_flops": int(predict_flops),
                }
            )
        finite = all(
            bool(torch.isfinite(p).all()) for layer in self.layers for p in layer.parameters()
        )
        loss_after = float(loss_fn()) if finite else float("nan")
        self.flops += self.eval_flops if finite else 0
        accepted = finite and np.isfinite(loss_after) and loss_after <= loss_before
        if not accepted:
            for layer, (weight, bias) in zip(self.layers, saved, strict=True):
                layer.weight.copy_(weight)
                if bias is not None:
                    layer.bias.copy_(bias)
        self._snapshots = []
        self._next_snapshot = self._step + self.warmup + self.stride
        kind = "jump_accepted" if accepted else "jump_rejected"
        info = {
            "horizon": self.horizon,
            "loss_before": loss_before,
            "loss_after": loss_after if np.isfinite(loss_after) else None,
            "window_error": max(layer["window_error_last"] for layer in layer_info),
            "flops": self.flops - spent_before,
        }
        self.diagnostics.append({"step": self._step, "event": kind, **info, "layers": layer_info})
        return Event(kind, info)

    def state_dict(self) -> dict:
        return {
            "step": self._step,
            "next_snapshot": self._next_snapshot,
            "flops": self.flops,
            "snapshots": [[t.clone() for t in snap] for snap in self._snapshots],
            "sums": [t.clone() for t in self._sums],
            "summed": self._summed,
            "diagnostics": [dict(d) for d in self.diagnostics],
        }

    def load_state_dict(self, state: dict) -> None:
        snapshots = state["snapshots"]
        if any(len(snap) != len(self.layers) for snap in snapshots) or any(
            t.shape != node_state(layer).shape
            for snap in snapshots
            for t, layer in zip(snap, self.layers, strict=True)
        ):
            raise ValueError("accelerator state does not match this model's nn.Linear layers")
        self._step, self._next_snapshot = int(state["step"]), int(state["next_snapshot"])
        self.flops = int(state["flops"])
        self._snapshots = [[t.clone() for t in snap] for snap in snapshots]
        self._sums = [t.clone() for t in state.get("sums", [])]
        self._summed = int(state.get("summed", 0))
        self.diagnostics = [dict(d) for d in state["diagnostics"]]


OPTIONS = ("window", "horizon", "chunk_size", "affine", "rcond", "start", "warmup", "stride")


def build_accelerator(
    model: nn.Module, optimizer: torch.optim.Optimizer, options: dict, eval_flops: int
) -> NodeKoopmanAccelerator:
    """The accelerator from a config mapping (keys OPTIONS); ValueError for unknown keys."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown node-Koopman option(s) {unknown}; allowed: {list(OPTIONS)}")
    return NodeKoopmanAccelerator(model, optimizer, eval_flops=eval_flops, **options)
