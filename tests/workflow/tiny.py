"""A tiny configuration of the whole workflow (solve, train, report, Koopman analyses)."""

import copy

TINY = {
    "seed": 11,
    "sampling": {"n_samples": 16, "chunks": 2, "split": {"train": 0.5, "val": 0.25, "test": 0.25}},
    "mesh": {"resolution": 6, "degree": 1},
    "export": {"paraview_samples": 1},
    "train": {
        "methods": ["adam", "dmd", "koopman"],
        "seeds": [0],
        "device": "cpu",
        "network": {"kind": "field", "width": 16, "depth": 2},
        "optimizer": {"lr": 0.003},
        "steps": 80,
        "checkpoint_every": 40,
        "dmd": {"window": 8, "horizon": 20},
        "koopman": {"window": 8, "horizon": 10, "start": 10},
    },
    "report": {"fields": {"n_samples": 2, "max_times": 2}},
    "koopman": {
        "n_modes": 4,
        "max_train_samples": 8,
        "network": {"width": 8, "depth": 2},
        "node": {
            "start": 10,
            "window": 8,
            "horizons": [2, 5],
            "chunk_sizes": [1, 2],
            "train_steps": 60,
            "method_horizon": 5,
        },
        "stopping": {
            "seeds": [0, 1],
            "max_steps": 120,
            "window": 5,
            "stride": 5,
            "sweep_radii": [0.02],
            "val_patience": 20,
        },
        "badinit": {"n_good": 2, "n_bad": 3, "first_steps": 10, "full_steps": 40},
        "depth": {
            "candidates": [1, 2],
            "short_steps": 30,
            "full_steps": 60,
            "window": 5,
            "stride": 2,
        },
        "pruning": {"steps": 60, "window": 5, "stride": 5, "sparsities": [0.0, 0.5]},
        "sobolev": {"noise_levels": [1.0], "n_grid": 64, "steps": 40, "width": 8},
    },
}

SCENARIO_MESH = {"plume": 6, "obstacle": 4, "puff": 6}


def tiny_config(scenario: str) -> dict:
    """The tiny configuration for one scenario."""
    config = copy.deepcopy(TINY)
    config["scenario"] = scenario
    config["mesh"]["resolution"] = SCENARIO_MESH[scenario]
    if scenario == "puff":
        config["options"] = {"t_end": 0.4, "dt": 0.05, "release_end": 0.1, "n_outputs": 4}
    return config
