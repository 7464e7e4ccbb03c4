"""Koopman spectrum of training on a sliding window: the stopping rule and bad-init features.

Manojlovic et al., "Applications of Koopman Mode Analysis to Neural Networks"
(arXiv:2006.11765), observe that the Koopman eigenvalues of the training map cluster at 1
as training converges, and that the early spectrum separates good from bad initialisations.

Stopping rule (the precise definition used here). Every `stride` training steps the flattened
parameter vector is recorded. Once `window + 1` snapshots are held, exact DMD
(surrogate.koopman.dmd) is fitted to the last window + 1 of them, keeping singular values above
`rank_tol` times the largest. Its spectral distance to 1 is

    rho = max_i |lambda_i - 1|   over the retained eigenvalues lambda_i (per-snapshot eigenvalues).

The rule fires at the first snapshot where rho <= radius has held for `patience` consecutive
windows. Motion that is small relative to the weights falls below `rank_tol` and drops out, so a
trajectory that has settled keeps only the eigenvalue 1 of its mean; a trajectory still moving
keeps modes whose eigenvalues (decay, oscillation or growth) lie away from 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from surrogate.koopman.dmd import rank_from_tolerance, snapshot_dmd


def spectral_distance(eigs: np.ndarray) -> float:
    """rho = max |lambda - 1| over the eigenvalues (inf for an empty spectrum)."""
    return float(np.max(np.abs(np.asarray(eigs) - 1.0))) if len(eigs) else float("inf")


def stop_step(log: list[dict], radius: float, patience: int) -> int | None:
    """The stopping rule applied after the fact to a monitor's log (same rule as online)."""
    streak = 0
    for entry in log:
        streak = streak + 1 if entry["rho"] <= radius else 0
        if streak >= patience:
            return entry["step"]
    return None


@dataclass
class SpectrumMonitor:
    """Sliding-window DMD spectrum of a parameter trajectory with the stopping rule above."""

    window: int = 10
    stride: int = 10
    rank_tol: float = 1e-3
    radius: float = 0.05
    patience: int = 3
    snapshots: list = field(default_factory=list, repr=False)
    log: list = field(default_factory=list, repr=False)
    flops: int = 0
    stop_step: int | None = None
    _streak: int = 0

    def __post_init__(self):
        for name in ("window", "stride", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.rank_tol < 1.0:
            raise ValueError(f"rank_tol must be in (0, 1), got {self.rank_tol}")
        if self.radius <= 0.0:
            raise ValueError(f"radius must be > 0, got {self.radius}")

    def update(self, step: int, params: np.ndarray) -> bool:
        """Record the parameters after training step `step`; True once the rule has fired."""
        if step % self.stride != 0:
            return self.stop_step is not None
        self.snapshots.append(np.asarray(params, dtype=np.float64).ravel().copy())
        del self.snapshots[: -(self.window + 1)]
        if len(self.snapshots) == self.window + 1:
            result = snapshot_dmd(np.stack(self.snapshots, axis=1), rank_tol=self.rank_tol)
            self.flops += result.flops
            rho = spectral_distance(result.eigs)
            self._streak = self._streak + 1 if rho <= self.radius else 0
            self.log.append(
                {
                    "step": step,
                    "rho": rho,
                    "rank": result.rank,
                    "eigs_real": result.eigs.real.tolist(),
                    "eigs_imag": result.eigs.imag.tolist(),
                }
            )
            if self._streak >= self.patience and self.stop_step is None:
                self.stop_step = step
        return self.stop_step is not None


def node_motion_ranks(trajectory: np.ndarray, rank_tol: float) -> tuple[np.ndarray, int]:
    """Per node, the rank of its snapshot matrix (node states x time) at rank_tol, and op count.

    Rank 1 means the node's spectrum is the eigenvalue 1 of its constant state alone: the node
    does not move (dead or saturated).
    """
    trajectory = np.asarray(trajectory, dtype=np.float64)
    sing = np.linalg.svd(np.transpose(trajectory, (1, 2, 0)), compute_uv=False)
    ranks = np.array([rank_from_tolerance(s, rank_tol, None) for s in sing])
    # Singular values only: about 4 p q^2 for a p x q matrix, p >= q (Golub & Van Loan).
    p, q = (
        max(trajectory.shape[0], trajectory.shape[2]),
        min(trajectory.shape[0], trajectory.shape[2]),
    )
    return ranks, trajectory.shape[1] * 4 * p * q * q


@dataclass(frozen=True)
class BadInitDetector:
    """Flags an initialisation from the Koopman spectrum of its first training steps.

    Two spectral features (Manojlovic et al., arXiv:2006.11765, Sec. 4):
      * frozen_fraction: share of hidden nodes whose node trajectory has rank 1 at
        `node_rank_tol`, i.e. whose modes other than the constant one (eigenvalue 1) carry less
        than node_rank_tol of its amplitude: dead, saturated or too-large units that barely move;
      * spectral_radius: max |lambda| of the whole-network DMD of the first steps; a value
        above 1 + `growth_tol` is an unstable mode, the escape from a saddle that a
        too-small or too-large scale puts the weights on.
    A run is flagged bad when frozen_fraction > `max_frozen_fraction` or
    spectral_radius > 1 + `growth_tol`.
    """

    node_rank_tol: float = 0.02
    max_frozen_fraction: float = 0.25
    rank_tol: float = 1e-6
    growth_tol: float = 0.02

    def __post_init__(self):
        for name in ("node_rank_tol", "rank_tol", "max_frozen_fraction"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in (0, 1), got {getattr(self, name)}")
        if self.growth_tol < 0.0:
            raise ValueError(f"growth_tol must be >= 0, got {self.growth_tol}")

    def features(
        self, node_trajectories: list[np.ndarray], flat_trajectory: np.ndarray
    ) -> tuple[dict, int]:
        """Spectral features of the first steps, and their operation count.

        Args:
            node_trajectories: per hidden layer, (steps, nodes, inputs+1) node states.
            flat_trajectory: (n_params, steps) all parameters, snapshots as columns.
        """
        ranks, flops = [], 0
        for trajectory in node_trajectories:
            layer_ranks, layer_flops = node_motion_ranks(trajectory, self.node_rank_tol)
            ranks.append(layer_ranks)
            flops += layer_flops
        ranks = np.concatenate(ranks)
        result = snapshot_dmd(flat_trajectory, rank_tol=self.rank_tol)
        flops += result.flops
        radius = float(np.max(np.abs(result.eigs))) if result.rank else 0.0
        return {
            "frozen_fraction": float(np.mean(ranks <= 1)),
            "spectral_radius": radius,
            "eigs_real": result.eigs.real.tolist(),
            "eigs_imag": result.eigs.imag.tolist(),
        }, flops

    def is_bad(self, features: dict) -> bool:
        """The rule in the class docstring."""
        return (
            features["frozen_fraction"] > self.max_frozen_fraction
            or features["spectral_radius"] > 1.0 + self.growth_tol
        )
