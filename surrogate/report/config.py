"""Checks of the `report:` config section that the JSON schema cannot express.

Kept free of matplotlib and pyvista imports so that the Snakefile can call it when it loads.
"""

from collections.abc import Sequence

LOSS_KEYS = ("val_loss", "train_loss")
TRANSIENT_MODES = ("strip", "gif")

DEFAULTS = {
    "baseline": "adam",
    "losses": list(LOSS_KEYS),
    "relative_fraction": 0.01,
    "seed": None,
    "diagnostics_methods": ["dmd"],
    "dpi": 120,
    "fields": {
        "n_samples": 3,
        "panel_size": [360, 220],
        "transient": "strip",
        "max_times": 4,
        "cmap": "viridis",
        "error_cmap": "inferno",
    },
}


def check_report_config(report: dict, methods: Sequence[str], seeds: Sequence[int]) -> dict:
    """Validate the `report:` section against the trained methods and seeds; fill in defaults.

    Returns a new dict with every key present and `seed` resolved (None -> the first seed).
    Raises ValueError naming the bad value and what is allowed.
    """
    unknown = set(report) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown report keys {sorted(unknown)}; allowed: {sorted(DEFAULTS)}")
    fields_in = report.get("fields", {})
    unknown = set(fields_in) - set(DEFAULTS["fields"])
    if unknown:
        raise ValueError(
            f"unknown report.fields keys {sorted(unknown)}; allowed: {sorted(DEFAULTS['fields'])}"
        )
    cfg = {**DEFAULTS, **report, "fields": {**DEFAULTS["fields"], **fields_in}}
    methods, seeds = list(methods), list(seeds)
    if not methods:
        raise ValueError("train.methods is empty; the report needs at least the baseline method")
    if not seeds:
        raise ValueError("train.seeds is empty; the report needs at least one seed")

    if cfg["baseline"] not in methods:
        raise ValueError(
            f"report.baseline {cfg['baseline']!r} is not a trained method; allowed: {methods}"
        )
    losses = cfg["losses"]
    if (
        not losses
        or any(loss not in LOSS_KEYS for loss in losses)
        or len(set(losses)) < len(losses)
    ):
        raise ValueError(
            f"report.losses must be distinct entries of {list(LOSS_KEYS)}, got {losses!r}"
        )
    fraction = cfg["relative_fraction"]
    if not 0 < fraction < 1:
        raise ValueError(f"report.relative_fraction must be in (0, 1), got {fraction!r}")
    if cfg["seed"] is None:
        cfg["seed"] = seeds[0]
    elif cfg["seed"] not in seeds:
        raise ValueError(f"report.seed {cfg['seed']!r} is not a trained seed; allowed: {seeds}")
    for method in cfg["diagnostics_methods"]:
        if method not in methods:
            raise ValueError(
                f"report.diagnostics_methods entry {method!r} is not a trained method; "
                f"allowed: {methods} (or [] for no diagnostics plots)"
            )
    if cfg["dpi"] < 30:
        raise ValueError(f"report.dpi must be >= 30, got {cfg['dpi']!r}")

    fields = cfg["fields"]
    if fields["n_samples"] < 1:
        raise ValueError(f"report.fields.n_samples must be >= 1, got {fields['n_samples']!r}")
    size = fields["panel_size"]
    if len(size) != 2 or any(s < 50 for s in size):
        raise ValueError(
            f"report.fields.panel_size must be [width, height] in pixels, each >= 50, got {size!r}"
        )
    if fields["transient"] not in TRANSIENT_MODES:
        raise ValueError(
            f"report.fields.transient must be one of {list(TRANSIENT_MODES)}, "
            f"got {fields['transient']!r}"
        )
    if fields["max_times"] < 1:
        raise ValueError(f"report.fields.max_times must be >= 1, got {fields['max_times']!r}")
    return cfg
