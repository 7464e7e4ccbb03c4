"""A tiny configuration of the whole workflow (solve, train, report, Koopman analyses), and
running the repository's workflow on it in a scratch directory."""

import copy
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]

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
        "optimizer": {"lr": 0.003, "batch_size": 0},
        "steps": 80,
        "eval_every": 1,
        "checkpoint_every": 40,
        "dmd": {"window": 8, "stride": 1, "horizon": 20},
        # Means of 2 steps (the default config averages over 20): an attempt every 18 steps.
        "koopman": {"window": 8, "horizon": 10, "stride": 2, "start": 10},
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


def make_workdir(path: Path, config: dict) -> Path:
    """A run directory at `path`: links to the repository's workflow, `config` as tiny.yaml."""
    path.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "config", "profiles", "environment.yml"):
        (path / name).symlink_to(REPO / name)
    (path / "tiny.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(workdir: Path, *args: str, timeout: int = 1200) -> subprocess.CompletedProcess:
    """`snakemake --cores 2 --configfile tiny.yaml ARGS` in `workdir`, output captured."""
    env = dict(os.environ)
    # Rules call `python -m ...`: the interpreter running the tests must be the one they find.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "tiny.yaml"]
        + ["--nocolor", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
