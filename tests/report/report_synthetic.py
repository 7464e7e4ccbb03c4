"""Synthetic inputs of the report stage, in the file formats of docs/contracts.md."""

import json
from pathlib import Path

import numpy as np

PARAM_NAMES = np.array(["D", "u", "k"])


def unit_mesh(nx: int = 12, ny: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Points and triangles of a structured nx x ny split-square mesh of (0, 2) x (0, 1)."""
    x, y = np.meshgrid(np.linspace(0, 2, nx + 1), np.linspace(0, 1, ny + 1))
    coords = np.column_stack([x.ravel(), y.ravel()])
    a = (np.arange(ny)[:, None] * (nx + 1) + np.arange(nx)[None, :]).ravel()
    cells = np.concatenate(
        [np.column_stack([a, a + 1, a + nx + 2]), np.column_stack([a, a + nx + 2, a + nx + 1])]
    )
    return coords, cells.astype(np.int64)


def plume(coords: np.ndarray, params: np.ndarray, time: float = 1.0) -> np.ndarray:
    """A smooth plume-like field with parameters (D, u, k)."""
    d, u, k = params
    x, y = coords[:, 0], coords[:, 1]
    width = d + 0.05 * x * time
    return np.exp(-((y - 0.5) ** 2) / width - k * x / u) * time


def write_dataset(path: Path, n_samples: int = 10, times: np.ndarray | None = None) -> dict:
    """A dataset.npz with `n_samples` plume fields; test split = the last 4 samples."""
    rng = np.random.default_rng(0)
    coords, cells = unit_mesh()
    params = np.column_stack(
        [
            rng.uniform(0.01, 0.05, n_samples),
            rng.uniform(0.5, 2, n_samples),
            rng.uniform(0, 1, n_samples),
        ]
    )
    if times is None:
        fields = np.stack([plume(coords, p) for p in params])
    else:
        fields = np.stack([np.stack([plume(coords, p, t) for t in times]) for p in params])
    split = np.array(["train"] * (n_samples - 6) + ["val"] * 2 + ["test"] * 4)
    data = dict(
        params=params,
        param_names=PARAM_NAMES,
        coords=coords,
        cells=cells,
        fields=fields,
        split=split,
        sample_ids=np.arange(n_samples, dtype=np.int64),
        scenario=np.array("plume"),
    )
    if times is not None:
        data["times"] = np.asarray(times, dtype=float)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **data)
    return data


def history(method: str, seed: int, val_loss, train_loss=None, flops_per_step=10.0, events=None):
    """A history.json object whose step k (1-based) costs k * flops_per_step and k * 0.01 s."""
    val_loss = np.asarray(val_loss, dtype=float)
    train_loss = val_loss / 2 if train_loss is None else np.asarray(train_loss, dtype=float)
    events = events or {}
    records = [
        {
            "step": k,
            "flops": k * flops_per_step,
            "wall_s": k * 0.01,
            "train_loss": float(train_loss[k - 1]),
            "val_loss": float(val_loss[k - 1]),
            "event": events.get(k),
            "event_info": None,
        }
        for k in range(1, val_loss.size + 1)
    ]
    return {"method": method, "seed": seed, "device": "cpu", "n_params": 100, "records": records}


def diagnostics(steps, layers=("layer 0", "layer 1", "layer 2"), rank: int = 5) -> dict:
    """A diagnostics.json object: per jump and layer, decaying singular values and eigenvalues."""
    rng = np.random.default_rng(1)
    jumps = []
    for j, step in enumerate(steps):
        entries = []
        for layer in layers:
            sigma = np.sort(rng.uniform(0.1, 1, rank))[::-1] * 10.0 ** -np.arange(rank)
            eigs = rng.uniform(0.6, 1.02, rank) * np.exp(1j * rng.uniform(-0.3, 0.3, rank))
            entries.append(
                {
                    "name": layer,
                    "singular_values": sigma.tolist(),
                    "eigs_real": eigs.real.tolist(),
                    "eigs_imag": eigs.imag.tolist(),
                }
            )
        event = "jump_accepted" if j % 2 == 0 else "jump_rejected"
        jumps.append({"step": int(step), "event": event, "horizon": 50, "layers": entries})
    # A jump rejected before any DMD fit, as surrogate/accelerator.py records it.
    jumps.append({"step": 999, "event": "jump_rejected", "horizon": None, "layers": []})
    return {"method": "dmd", "seed": 0, "jumps": jumps}


def write_runs(results: Path, dataset: dict, methods=("adam", "dmd"), seeds=(0, 1)) -> None:
    """Histories, predictions and (for dmd) diagnostics of every method and seed."""
    steps = np.arange(1, 201)
    test = np.flatnonzero(dataset["split"] == "test")
    truth = dataset["fields"][test]
    rng = np.random.default_rng(2)
    for i, method in enumerate(methods):
        for seed in seeds:
            rate = 1.0 + i + 0.1 * seed
            loss = np.exp(-rate * steps / 50) + 1e-3
            events = {}
            if method == "dmd":
                events = {
                    k: "jump_accepted" if k % 40 == 0 else "jump_rejected" for k in (30, 40, 80, 90)
                }
            run_dir = results / "train" / method / f"seed_{seed}"
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "history.json").write_text(
                json.dumps(history(method, seed, loss, events=events))
            )
            pred = truth * (1 + (0.02 + 0.01 * i) * rng.standard_normal(truth.shape))
            rel = np.linalg.norm(pred - truth) / np.linalg.norm(truth)
            np.savez(
                run_dir / "predictions.npz",
                sample_ids=dataset["sample_ids"][test],
                pred=pred,
                test_rel_l2=rel,
            )
            if method == "dmd":
                (run_dir / "diagnostics.json").write_text(json.dumps(diagnostics([40, 80, 120])))
