"""Checks of the scenario/solve config that a JSON schema cannot express (no dolfinx import).

The schema (workflow/schemas/config.schema.yaml) catches missing, misspelled and mistyped keys;
`check_config` then checks the values against the chosen scenario: parameter names, ranges,
positivity, the split and the chunking. Every error is a ValueError naming the key.
"""

import math
from collections.abc import Mapping
from types import ModuleType

from solvers import scenarios
from solvers.parameters import Parameter

SPLITS = ("train", "val", "test")


def scenario_module(config: Mapping) -> ModuleType:
    """The scenario module named by `config["scenario"]` (default plume)."""
    return scenarios.load(config.get("scenario", "plume"))


def parameter_ranges(config: Mapping) -> tuple[Parameter, ...]:
    """The scenario's parameters with the config's `parameters:` overrides applied, checked."""
    module = scenario_module(config)
    declared = {p.name: p for p in module.PARAMETERS}
    overrides = config.get("parameters") or {}
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise ValueError(
            f"parameters: {', '.join(map(repr, unknown))} not a parameter of scenario "
            f"{module.__name__.rsplit('.', 1)[-1]!r}; allowed: {', '.join(declared)}"
        )
    resolved = []
    for name, parameter in declared.items():
        if name in overrides:
            override = overrides[name]
            missing = [key for key in ("low", "high") if key not in override]
            if missing:
                raise ValueError(f"parameters.{name}: needs keys low and high, missing {missing}")
            parameter = parameter.with_range(override["low"], override["high"], override.get("log"))
        _check_range(parameter)
        resolved.append(parameter)
    return tuple(resolved)


def _check_range(p: Parameter) -> None:
    where = f"parameters.{p.name}"
    if not (math.isfinite(p.low) and math.isfinite(p.high)):
        raise ValueError(f"{where}: range must be finite, got low={p.low}, high={p.high}")
    if p.low >= p.high:
        raise ValueError(
            f"{where}: empty or inverted range low={p.low} >= high={p.high}; need low < high"
        )
    if p.positive and p.low <= 0:
        raise ValueError(f"{where}: {p.name} must be > 0 ({p.description}), got low={p.low}")
    if p.nonnegative and p.low < 0:
        raise ValueError(f"{where}: {p.name} must be >= 0 ({p.description}), got low={p.low}")
    if p.log and p.low <= 0:
        raise ValueError(f"{where}: log-uniform sampling needs low > 0, got low={p.low}")


def scenario_options(config: Mapping) -> dict:
    """The scenario's option defaults updated with the config's `options:`, checked."""
    module = scenario_module(config)
    given = config.get("options") or {}
    unknown = sorted(set(given) - set(module.OPTIONS))
    if unknown:
        raise ValueError(
            f"options: {', '.join(map(repr, unknown))} not an option of scenario "
            f"{config.get('scenario', 'plume')!r}; allowed: {', '.join(sorted(module.OPTIONS))}"
        )
    options = {**module.OPTIONS, **given}
    module.check_options(options)
    return options


def split_counts(n_samples: int, split: Mapping[str, float]) -> dict[str, int]:
    """Number of train/val/test samples: val and test rounded, train takes the rest."""
    counts = {name: round(split.get(name, 0.0) * n_samples) for name in ("val", "test")}
    counts = {"train": n_samples - counts["val"] - counts["test"], **counts}
    if counts["train"] < 1:
        raise ValueError(
            f"sampling.split: {split} of n_samples={n_samples} leaves no training sample"
        )
    return counts


def check_config(config: Mapping) -> None:
    """Raise ValueError (naming the key and what is allowed) for an unusable config."""
    parameter_ranges(config)
    scenario_options(config)
    sampling = config.get("sampling") or {}
    n_samples = sampling.get("n_samples", 1)
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"sampling.n_samples: must be an integer >= 1, got {n_samples!r}")
    chunks = sampling.get("chunks", 1)
    if isinstance(chunks, bool) or not isinstance(chunks, int) or not 1 <= chunks <= n_samples:
        raise ValueError(
            f"sampling.chunks: must be an integer in [1, n_samples={n_samples}], got {chunks!r}"
        )
    split = sampling.get("split")
    if split is not None:
        unknown = sorted(set(split) - set(SPLITS))
        if unknown:
            raise ValueError(f"sampling.split: unknown {unknown}; allowed: {', '.join(SPLITS)}")
        bad = {k: v for k, v in split.items() if not 0 <= v <= 1}
        if bad:
            raise ValueError(f"sampling.split: fractions must lie in [0, 1], got {bad}")
        total = sum(split.values())
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ValueError(
                f"sampling.split: fractions {dict(split)} sum to {total:g}; they must sum to 1"
            )
        split_counts(n_samples, split)
    export = config.get("export") or {}
    if export.get("paraview_samples", 0) < 0:
        raise ValueError(f"export.paraview_samples: must be >= 0, got {export['paraview_samples']}")
