"""Benchmark: how far ahead POD-DMD predicts an Adam trajectory, before and after a jump.

    .venv/bin/python bench/predictability.py --dataset results/plume/dataset.npz \\
        --out bench/results/predictability.json

What limits the accelerator is how many training steps a jump is worth. This measures it
without the accelerator's acceptance logic:

1. Plain Adam (full batch, lr 1e-3, seed 0) on the field network 5-128-128-2145 (``FIELD``,
   the network of docs/acceleration.md; full-batch training makes the trajectory a
   deterministic one a window can be fitted to) for ``--steps`` steps,
   keeping every weight vector. From the window of ``--window`` snapshots ending at step t0,
   each layer's `surrogate.accelerator.LayerDMD` predicts the weights h steps ahead. The
   training loss there, L_pred, is converted to the Adam step that first reaches it: the
   jump is worth ``gain = step(L_pred) - t0`` steps (negative: the jump made things worse;
   null: better than anything Adam reached in ``--steps`` steps).
2. After the jump at ``--jump-at`` with horizon ``--jump-horizon``, Adam goes on with its
   moments kept or reset (the accelerator's ``moments`` policy), and the same prediction is
   made from windows that start k steps after the jump: how long the trajectory needs after
   a jump before it can be extrapolated again.
"""

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from surrogate.accelerator import LayerDMD, parameter_groups
from surrogate.data import load_dataset
from surrogate.methods import adam_optimizer
from surrogate.problems import make_problem
from surrogate.spec import resolve_spec

HORIZONS = (10, 25, 50, 100, 200, 400)
FIELD = {
    "network": {"kind": "field", "width": 128, "depth": 2},
    "optimizer": {"lr": 0.001, "batch_size": 0},
}


class Trajectory:
    """A model, its Adam optimizer and helpers to read, write and score flat weights."""

    def __init__(self, dataset: str, spec: dict, seed: int):
        self.problem = make_problem(load_dataset(dataset), spec, torch.device("cpu"), seed)
        torch.manual_seed(seed)
        self.model = self.problem.network(spec)
        self.optimizer = adam_optimizer(self.model, spec)
        self.generator = torch.Generator().manual_seed(seed)
        sizes = [sum(p.numel() for p in ps) for _, ps in parameter_groups(self.model)]
        self.bounds = np.cumsum([0, *sizes])

    def weights(self) -> torch.Tensor:
        return parameters_to_vector(self.model.parameters()).detach().clone()

    @torch.no_grad()
    def set_weights(self, flat: torch.Tensor) -> None:
        vector_to_parameters(flat, self.model.parameters())

    def loss(self) -> float:
        return float(self.problem.loss(self.model, "train"))

    def loss_at(self, flat: torch.Tensor) -> float:
        saved = self.weights()
        self.set_weights(flat)
        value = self.loss()
        self.set_weights(saved)
        return value

    def run(self, steps: int) -> tuple[torch.Tensor, list[float]]:
        """Adam steps; the weights before the first and after every step, and their losses."""
        path, losses = [self.weights()], [self.loss()]
        for _ in range(steps):
            self.optimizer.zero_grad(set_to_none=True)
            self.problem.train_loss(self.model, self.generator).backward()
            self.optimizer.step()
            path.append(self.weights())
            losses.append(self.loss())
        return torch.stack(path), losses

    def predict(self, window: torch.Tensor, horizon: int) -> torch.Tensor:
        """Every layer's POD-DMD extrapolation (the accelerator's defaults) of a window."""
        parts = []
        for lo, hi in zip(self.bounds[:-1], self.bounds[1:], strict=True):
            layer = window[:, lo:hi]
            increments = (layer[1:] - layer[:-1]).T
            parts.append(LayerDMD(increments, layer[-1]).extrapolate(horizon))
        return torch.cat(parts)


def equivalent_step(reference: list[float], loss: float) -> int | None:
    """First step of the reference Adam curve whose loss is <= ``loss`` (None: never)."""
    below = np.nonzero(np.asarray(reference) <= loss)[0]
    return int(below[0]) if below.size else None


def predictions(traj: Trajectory, window: torch.Tensor, t0: int, reference: list[float]) -> dict:
    out = {}
    for h in HORIZONS:
        loss = traj.loss_at(traj.predict(window, h))
        step = equivalent_step(reference, loss) if math.isfinite(loss) else None
        gain = None if step is None else step - t0
        out[str(h)] = {"loss": loss if math.isfinite(loss) else None, "gain": gain}
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="results/plume/dataset.npz")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--at", type=int, nargs="+", default=[60, 100, 200, 300, 400, 500])
    parser.add_argument("--jump-at", type=int, default=300)
    parser.add_argument("--jump-horizon", type=int, default=100)
    parser.add_argument("--after", type=int, default=80, help="Adam steps after the jump")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/results/predictability.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    spec = resolve_spec(FIELD | {"device": "cpu"})
    w = args.window

    traj = Trajectory(args.dataset, spec, args.seed)
    path, reference = traj.run(args.steps)
    plain = {
        str(t0): {"loss": reference[t0]}
        | predictions(traj, path[t0 - w + 1 : t0 + 1], t0, reference)
        for t0 in args.at
        if w - 1 <= t0 <= args.steps
    }
    print("plain Adam: steps gained by a jump from the window ending at t0")
    for t0, row in plain.items():
        print(f"  t0 {t0:>4}: " + "  ".join(f"h{h} {row[str(h)]['gain']}" for h in HORIZONS))

    after = {}
    for moments in ("keep", "reset"):
        traj = Trajectory(args.dataset, spec, args.seed)
        traj.run(args.jump_at)
        window = path[args.jump_at - w + 1 : args.jump_at + 1]
        traj.set_weights(traj.predict(window, args.jump_horizon))
        jumped = traj.loss()
        if moments == "reset":
            traj.optimizer.state.clear()
        post, post_losses = traj.run(args.after)
        rows = {}
        for start in range(0, args.after - w + 2, w):
            end = start + w - 1  # steps after the jump at the window's last snapshot
            t_eq = equivalent_step(reference, post_losses[end])
            if t_eq is None:
                continue
            rows[str(end)] = {"loss": post_losses[end], "equivalent_step": t_eq} | predictions(
                traj, post[start : end + 1], t_eq, reference
            )
        after[moments] = {
            "loss_before": reference[args.jump_at],
            "loss_after_jump": jumped,
            "jump_gain": (equivalent_step(reference, jumped) or args.steps) - args.jump_at,
            "windows_ending_k_steps_after": rows,
        }
        print(f"after a {args.jump_horizon}-step jump at {args.jump_at}, moments {moments}:")
        for k, row in rows.items():
            print(
                f"  window ending +{k:>3}: "
                + "  ".join(f"h{h} {row[str(h)]['gain']}" for h in HORIZONS)
            )

    result = {
        "dataset": args.dataset,
        "spec": spec,
        "seed": args.seed,
        "window": w,
        "horizons": list(HORIZONS),
        "reference_loss": reference,
        "plain_adam": plain,
        "after_jump": after,
        "jump": {"at": args.jump_at, "horizon": args.jump_horizon},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
