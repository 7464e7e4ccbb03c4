"""Small synthetic datasets in the dataset contract (docs/contracts.md) for surrogate tests."""

import numpy as np
import pytest


def plume_fields(params: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """A smooth plume-like field of (x_s, y_s, theta, D, k): decaying Gaussian downwind."""
    x_s, y_s, theta, diff, k = (params[:, i : i + 1] for i in range(5))
    dx, dy = coords[None, :, 0] - x_s, coords[None, :, 1] - y_s
    along = dx * np.cos(theta) + dy * np.sin(theta)
    across = -dx * np.sin(theta) + dy * np.cos(theta)
    s = np.logaddexp(0.0, 8.0 * along) / 8.0 + 0.05
    return np.exp(-k * s - across**2 / (4.0 * diff * s)) / np.sqrt(s)


def write_dataset(path, n_samples: int = 40, grid: tuple[int, int] = (9, 5), seed: int = 0):
    """Write a dataset.npz with an 80/10/10 split; returns the path."""
    rng = np.random.default_rng(seed)
    low = np.array([0.1, 0.3, -0.3, 0.01, 0.1])
    high = np.array([0.4, 0.7, 0.3, 0.05, 1.0])
    params = low + (high - low) * rng.random((n_samples, 5))
    xs, ys = np.meshgrid(np.linspace(0, 2, grid[0]), np.linspace(0, 1, grid[1]))
    coords = np.column_stack([xs.ravel(), ys.ravel()])
    n_train, n_val = int(0.8 * n_samples), int(0.1 * n_samples)
    split = np.array(
        ["train"] * n_train + ["val"] * n_val + ["test"] * (n_samples - n_train - n_val)
    )
    np.savez(
        path,
        params=params,
        param_names=np.array(["x_s", "y_s", "theta", "D", "k"]),
        coords=coords,
        cells=np.zeros((0, 3), dtype=np.int64),
        fields=plume_fields(params, coords),
        split=split,
        sample_ids=np.arange(n_samples, dtype=np.int64),
        scenario="synthetic",
    )
    return path


@pytest.fixture
def dataset(tmp_path):
    return write_dataset(tmp_path / "dataset.npz")
