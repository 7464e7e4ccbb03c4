"""The `train` section of the workflow config: defaults and validation.

The defaults mirror workflow/schemas/config.schema.yaml (tests/surrogate/test_spec.py keeps the
two equal), so `python -m surrogate.train` run by hand behaves like the workflow.
"""

import copy

DEFAULTS = {
    "methods": ["adam", "dmd"],
    "seeds": [0, 1, 2],
    "device": "auto",
    "threads": 1,
    "network": {
        "kind": "pointwise",
        "width": 64,
        "depth": 3,
        "activation": "tanh",
        "init": "xavier_uniform",
    },
    "optimizer": {"lr": 0.02, "batch_size": 1024, "schedule": "cosine", "hold": 0.0},
    "steps": 26000,
    "flop_budget": 0,
    "stop_val_loss": 0.0,
    "ema": 0.0,
    "eval_every": 100,
    "checkpoint_every": 500,
    "check_points": 2048,
    "check_samples": 200,
    "dmd": {
        "stride": 20,
        "reference_steps": 6500,
        "snapshots": "mean",
        "window": 10,
        "start": 1,
        "warmup": 0,
        "every": 5,
        "retry": None,
        "restart": 1.5,
        "patience": 5,
        "rank_policy": "energy",
        "rank": 0.99999,
        "dmd": "exact",
        "horizon": 1600,
        "backtrack": 0.5,
        "max_backtracks": 5,
        "search": "warm",
        "max_climb": 1,
        "unit_tol": 0.001,
        "unstable": "clip",
        "moments": "zero_first",
        "coordinates": "raw",
        "landing": "none",
        "apply": "spread",
    },
    # Mirrors NodeKoopmanAccelerator's keyword defaults (checked in tests/koopman).
    "koopman": {
        "window": 20,
        "horizon": 50,
        "chunk_size": 1,
        "affine": True,
        "rcond": 1e-10,
        "start": 1,
        "warmup": 0,
        "stride": 1,
    },
}

SCHEDULES = ("constant", "cosine")


def _merge(defaults: dict, given: dict, where: str) -> dict:
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {where}; allowed: {sorted(defaults)}")
    merged = copy.deepcopy(defaults)
    for key, value in given.items():
        if isinstance(defaults[key], dict):
            if not isinstance(value, dict):
                raise ValueError(f"{where}.{key} must be a mapping, got {value!r}")
            merged[key] = _merge(defaults[key], value, f"{where}.{key}")
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _positive_int(spec: dict, key: str, minimum: int = 1):
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"train.{key} must be an integer >= {minimum}, got {value!r}")


def _fraction(value, where: str, note: str = "") -> None:
    """ValueError naming ``where`` unless ``value`` is a number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ValueError(f"{where} must be in [0, 1){note}, got {value!r}")


def resolve_spec(given: dict | None = None) -> dict:
    """The full train spec: ``given`` over DEFAULTS, checked; ValueError names the bad key."""
    spec = _merge(DEFAULTS, given or {}, "train")
    for key in ("steps", "eval_every", "checkpoint_every", "check_points"):
        _positive_int(spec, key)
    _positive_int(spec, "check_samples", 0)
    _positive_int(spec, "threads", 0)
    for key in ("flop_budget", "stop_val_loss"):
        if not isinstance(spec[key], int | float) or spec[key] < 0:
            raise ValueError(f"train.{key} must be >= 0 (0 disables it), got {spec[key]!r}")
    _fraction(spec["ema"], "train.ema", " (0 keeps no average)")
    lr = spec["optimizer"]["lr"]
    if not isinstance(lr, int | float) or not lr > 0:
        raise ValueError(f"train.optimizer.lr must be > 0, got {lr!r}")
    batch = spec["optimizer"]["batch_size"]
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 0:
        raise ValueError(f"train.optimizer.batch_size must be an integer >= 0, got {batch!r}")
    if spec["optimizer"]["schedule"] not in SCHEDULES:
        raise ValueError(
            f"train.optimizer.schedule must be one of {SCHEDULES}, "
            f"got {spec['optimizer']['schedule']!r}"
        )
    hold = spec["optimizer"]["hold"]
    _fraction(hold, "train.optimizer.hold")
    if hold and spec["optimizer"]["schedule"] != "cosine":
        raise ValueError(
            f"train.optimizer.hold {hold!r} holds the rate before a cosine; it needs schedule "
            f"'cosine', got {spec['optimizer']['schedule']!r} (set hold to 0)"
        )
    if not spec["methods"] or not spec["seeds"]:
        raise ValueError("train.methods and train.seeds must not be empty")
    # Imported here: the method factories need torch, the rest of this module does not.
    from surrogate.methods import check_settings

    check_settings(spec)
    return spec
