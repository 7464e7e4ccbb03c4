"""Defaults and checks of the `koopman` config section (mirrors the workflow's JSON schema).

tests/koopman/test_config.py keeps these defaults equal to the schema's, so running
`python -m surrogate.koopman` by hand behaves like the workflow.
"""

from __future__ import annotations

import copy

ANALYSES = ("node", "stopping", "badinit", "depth", "pruning", "sobolev")

DEFAULTS = {
    "n_modes": 32,
    "max_train_samples": 320,
    "seed": 0,
    "threads": 1,
    "network": {"width": 32, "depth": 2, "activation": "tanh"},
    "node": {
        "lr": 0.005,
        "start": 100,
        "window": 20,
        "horizons": [5, 10, 20, 50, 100],
        "chunk_sizes": [1, 4],
        "affine": True,
        "rcond": 1.0e-4,
        "train_steps": 600,
        "method_horizon": 20,
    },
    "stopping": {
        "lr": 0.005,
        "seeds": [0, 1, 2, 3, 4],
        "max_steps": 2000,
        "window": 10,
        "stride": 10,
        "rank_tol": 0.001,
        "radius": 0.05,
        "sweep_radii": [0.02, 0.01],
        "patience": 3,
        "val_patience": 100,
        "val_min_delta": 0.0,
    },
    "badinit": {
        "lr": 0.005,
        "n_good": 20,
        "n_bad": 21,
        "bad_kinds": ["large", "small", "dead"],
        "large_scale": 8.0,
        "small_scale": 0.01,
        "dead_fraction": 0.5,
        "dead_bias": -8.0,
        "first_steps": 30,
        "full_steps": 600,
        "node_rank_tol": 0.02,
        "max_frozen_fraction": 0.25,
        "rank_tol": 1.0e-6,
        "growth_tol": 0.02,
        "outcome_factor": 2.0,
    },
    "depth": {
        "lr": 0.005,
        "candidates": [1, 2, 3, 4],
        "short_steps": 150,
        "full_steps": 1500,
        "window": 10,
        "stride": 5,
        "rank_tol": 1.0e-6,
    },
    "pruning": {
        "lr": 0.005,
        "steps": 1500,
        "window": 10,
        "stride": 10,
        "rank_tol": 1.0e-8,
        "unit_radius": 0.01,
        "sparsities": [0.0, 0.25, 0.5, 0.7, 0.8, 0.9],
    },
    "sobolev": {
        "s": 1.0,
        "noise_levels": [0.5, 1.0, 2.0, 4.0],
        "n_grid": 256,
        "steps": 500,
        "lr": 0.003,
        "width": 32,
        "fem": True,
        "fem_sample": 0,
    },
}


def _merge(defaults, given, where):
    if not isinstance(given, dict):
        raise ValueError(f"{where} must be a mapping, got {given!r}")
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {where}; allowed: {sorted(defaults)}")
    merged = copy.deepcopy(defaults)
    for key, value in given.items():
        merged[key] = (
            _merge(defaults[key], value, f"{where}.{key}")
            if isinstance(defaults[key], dict)
            else value
        )
    return merged


def resolve(section: dict) -> dict:
    """The `koopman` section with defaults filled in; ValueError for unknown keys or bad values."""
    cfg = _merge(DEFAULTS, section or {}, "koopman")
    for name in ("stopping", "badinit", "depth", "pruning", "node"):
        if cfg[name]["lr"] <= 0:
            raise ValueError(f"koopman.{name}.lr must be > 0, got {cfg[name]['lr']}")
    if len(cfg["stopping"]["seeds"]) < 1:
        raise ValueError("koopman.stopping.seeds must list at least one seed")
    bad = cfg["badinit"]
    unknown = sorted(set(bad["bad_kinds"]) - {"large", "small", "dead"})
    if unknown or not bad["bad_kinds"]:
        raise ValueError(
            f"koopman.badinit.bad_kinds must be a non-empty subset of large, small, dead, "
            f"got {bad['bad_kinds']}"
        )
    if not 0 < bad["first_steps"] < bad["full_steps"]:
        raise ValueError(
            f"koopman.badinit needs 0 < first_steps < full_steps, got {bad['first_steps']} "
            f"and {bad['full_steps']}"
        )
    depth = cfg["depth"]
    if depth["short_steps"] < depth["stride"] * (depth["window"] + 1):
        raise ValueError(
            f"koopman.depth.short_steps must be >= stride * (window + 1) = "
            f"{depth['stride'] * (depth['window'] + 1)}, got {depth['short_steps']}"
        )
    if not 0 < depth["short_steps"] <= depth["full_steps"]:
        raise ValueError("koopman.depth needs 0 < short_steps <= full_steps")
    pr = cfg["pruning"]
    if pr["steps"] < pr["stride"] * (pr["window"] + 1):
        raise ValueError(
            f"koopman.pruning.steps must be >= stride * (window + 1) = "
            f"{pr['stride'] * (pr['window'] + 1)}, got {pr['steps']}"
        )
    if any(not 0 <= s < 1 for s in pr["sparsities"]):
        raise ValueError(f"koopman.pruning.sparsities must lie in [0, 1), got {pr['sparsities']}")
    node = cfg["node"]
    if node["window"] < 1 or node["start"] < 1 or any(h < 1 for h in node["horizons"]):
        raise ValueError("koopman.node needs window >= 1, start >= 1 and horizons >= 1")
    if cfg["sobolev"]["s"] < 0:
        raise ValueError(f"koopman.sobolev.s must be >= 0, got {cfg['sobolev']['s']}")
    return cfg


# Keys every analysis reads besides its own section.
COMMON_KEYS = ("n_modes", "max_train_samples", "seed", "threads", "network")


def analysis_spec(section: dict, analysis: str) -> dict:
    """The common keys and the section of `analysis`: what a workflow job of it depends on."""
    if analysis not in ANALYSES:
        raise ValueError(f"analysis must be one of {ANALYSES}, got {analysis!r}")
    spec = {key: section[key] for key in COMMON_KEYS if key in section}
    if analysis in section:
        spec[analysis] = section[analysis]
    return spec
