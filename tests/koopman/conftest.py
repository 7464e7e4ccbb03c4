"""A synthetic plume dataset following docs/contracts.md (no PDE solve), written to tmp_path."""

import numpy as np
import pytest
from structured_mesh import structured_triangles


def synthetic_plume(path, n_samples=60, nx=17, ny=9, seed=0):
    """Gaussian plumes c = a exp(-(y - y0)^2 / w - k x / u) / sqrt(w), w = 4 D x / u + 0.05."""
    rng = np.random.default_rng(seed)
    params = np.column_stack(
        [
            rng.uniform(0.01, 0.05, n_samples),  # D
            rng.uniform(0.5, 2.0, n_samples),  # u
            rng.uniform(0.3, 0.7, n_samples),  # y0
            rng.uniform(0.0, 1.0, n_samples),  # k
        ]
    )
    coords, cells = structured_triangles(nx, ny, lx=2.0)
    x, y = coords[:, 0], coords[:, 1]
    fields = []
    for diff, vel, y0, k in params:
        width = 4 * diff * x / vel + 0.05
        fields.append(np.exp(-((y - y0) ** 2) / width - k * x / vel) / np.sqrt(width))
    split = np.array(["train"] * n_samples, dtype="<U5")
    split[int(0.7 * n_samples) : int(0.85 * n_samples)] = "val"
    split[int(0.85 * n_samples) :] = "test"
    np.savez(
        path,
        params=params,
        param_names=np.array(["D", "u", "y0", "k"]),
        coords=coords,
        cells=cells.astype(np.int64),
        fields=np.array(fields),
        split=split,
        sample_ids=np.arange(n_samples, dtype=np.int64),
        scenario=np.array("synthetic"),
    )
    return path


@pytest.fixture
def plume_dataset(tmp_path):
    return synthetic_plume(tmp_path / "dataset.npz")
