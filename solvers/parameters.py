"""Declarations of a scenario's sampled parameters (no dolfinx, importable at workflow load)."""

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Parameter:
    """One sampled scalar parameter: its default range and what values are physical.

    `log` samples log-uniformly (needs `low > 0`); `positive` / `nonnegative` are physical
    constraints (a diffusivity must be > 0, a decay rate >= 0) checked on every range.
    """

    name: str
    low: float
    high: float
    log: bool = False
    positive: bool = False
    nonnegative: bool = False
    description: str = ""

    def with_range(self, low: float, high: float, log: bool | None = None) -> "Parameter":
        """A copy with a new range (and log flag, if given), constraints kept."""
        return replace(self, low=float(low), high=float(high), log=self.log if log is None else log)
