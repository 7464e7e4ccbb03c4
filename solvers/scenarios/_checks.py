"""Option checks shared by the scenario modules (no dolfinx import)."""

import math
from collections.abc import Iterable, Mapping


def require_positive(options: Mapping, names: Iterable[str]) -> None:
    """ValueError naming `options.<name>` unless each named option is a finite number > 0."""
    for name in names:
        value = options[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"options.{name}: must be a number, got {value!r}")
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"options.{name}: must be > 0, got {value}")


def require_multiple(options: Mapping, name: str, step: float) -> int:
    """options[name] / step as an int; ValueError unless it is (close to) a whole number."""
    ratio = options[name] / step
    if not math.isclose(ratio, round(ratio), rel_tol=0, abs_tol=1e-9 * max(1.0, ratio)):
        raise ValueError(f"options.{name}: {options[name]} must be a multiple of dt={step}")
    return round(ratio)
