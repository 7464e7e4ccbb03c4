"""Koopman-mode pruning of weights (Manojlovic et al., arXiv:2006.11765, Sec. 5).

The late part of a weight trajectory is decomposed into Koopman (DMD) modes. The modes whose
eigenvalues lie within `unit_radius` of 1 carry the part of each weight that persists under
further training; a weight's score is the modulus of that persistent part, and the lowest
scores are pruned. Magnitude pruning scores by the current |w| instead. Where no eigenvalue
is that close to 1 the single eigenvalue closest to 1 is used.
"""

from __future__ import annotations

import numpy as np

from surrogate.koopman.dmd import snapshot_dmd


def koopman_mode_scores(
    snapshots: np.ndarray, rank_tol: float = 1e-8, unit_radius: float = 1e-2
) -> tuple[np.ndarray, int]:
    """Per-weight score |persistent Koopman-mode part| from n x (m+1) snapshots, and op count."""
    if unit_radius <= 0.0:
        raise ValueError(f"unit_radius must be > 0, got {unit_radius}")
    result = snapshot_dmd(snapshots, rank_tol=rank_tol)
    distance = np.abs(result.eigs - 1.0)
    persistent = distance <= unit_radius
    if not persistent.any():
        persistent = distance == distance.min()
    part = result.basis @ (result.eigvecs[:, persistent] @ result.amplitudes[persistent])
    return np.abs(part), result.flops


def prune_mask(scores: np.ndarray, sparsity: float) -> np.ndarray:
    """Boolean keep-mask that drops the round(sparsity * n) lowest scores (stable order)."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    scores = np.asarray(scores).ravel()
    mask = np.ones(scores.size, dtype=bool)
    mask[np.argsort(scores, kind="stable")[: int(round(sparsity * scores.size))]] = False
    return mask


def prune(weights: np.ndarray, scores: np.ndarray, sparsity: float) -> np.ndarray:
    """Weights with the lowest-scoring fraction `sparsity` set to zero (same shape)."""
    weights = np.asarray(weights)
    if np.shape(scores) != weights.shape and np.size(scores) != weights.size:
        raise ValueError(f"scores must have {weights.size} entries, got {np.size(scores)}")
    return np.where(prune_mask(scores, sparsity).reshape(weights.shape), weights, 0.0)
