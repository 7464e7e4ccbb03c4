"""Exact DMD of a weight trajectory, the Koopman spectrum used by every analysis here.

Snapshots are columns (space x time). The spectrum is computed from a thin QR of the first
m snapshots and an SVD of the small triangular factor, so the only operations on the tall
matrix are the QR and one product Q^T Y (see Manojlovic et al., arXiv:2006.11765, Sec. 2,
and Schmid, J. Fluid Mech. 656, 2010, for the projected DMD operator).

Operation counts follow Golub & Van Loan, "Matrix Computations", 4th ed.: Householder QR of
n x m with Q formed explicitly about 4 n m^2; SVD of an m x m matrix with both singular-vector
sets about 12 m^3 (their table 8.6.1 rounds 4m^3 + 8m^3 for R-SVD); general eigenproblem with
eigenvectors about 25 r^3 (Francis QR); a product of n x k and k x m matrices 2 n k m.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def qr_flops(n: int, m: int) -> int:
    """Householder QR of an n x m matrix with the thin Q formed explicitly."""
    return 4 * n * m * m


def svd_flops(m: int) -> int:
    """SVD of an m x m matrix with both singular-vector sets (R-SVD count)."""
    return 12 * m**3


def eig_flops(r: int) -> int:
    """Nonsymmetric r x r eigenproblem with eigenvectors (Francis QR)."""
    return 25 * r**3


def matmul_flops(n: int, k: int, m: int) -> int:
    """Dense product of an n x k and a k x m matrix."""
    return 2 * n * k * m


@dataclass(frozen=True)
class DMDResult:
    """Rank-r exact-DMD model x_k ~ basis @ (eigvecs @ (eigs**k * amplitudes)) of snapshots."""

    eigs: np.ndarray
    amplitudes: np.ndarray
    singular_values: np.ndarray
    rank: int
    basis: np.ndarray
    eigvecs: np.ndarray
    flops: int

    def predict(self, k: float | np.ndarray) -> np.ndarray:
        """State(s) k DMD steps after the first snapshot (columns for an array of k)."""
        powers = np.power.outer(self.eigs, np.atleast_1d(np.asarray(k, dtype=float)))
        states = self.basis @ (self.eigvecs @ (self.amplitudes[:, None] * powers))
        return states.real[:, 0] if np.ndim(k) == 0 else states.real


def rank_from_tolerance(singular_values: np.ndarray, rank_tol: float, max_rank: int | None) -> int:
    """Number of singular values above rank_tol times the largest (at least 1, at most max_rank)."""
    if not 0.0 <= rank_tol < 1.0:
        raise ValueError(f"rank_tol must be in [0, 1), got {rank_tol}")
    if max_rank is not None and max_rank < 1:
        raise ValueError(f"max_rank must be >= 1 or None, got {max_rank}")
    if singular_values.size == 0 or singular_values[0] == 0.0:
        return 0
    rank = int(np.sum(singular_values > rank_tol * singular_values[0]))
    rank = max(rank, 1)
    return rank if max_rank is None else min(rank, max_rank)


def snapshot_dmd(
    snapshots: np.ndarray, rank_tol: float = 1e-10, max_rank: int | None = None
) -> DMDResult:
    """Exact DMD (projected operator) of an n x (m+1) snapshot matrix, in float64.

    Args:
        snapshots: columns are consecutive states x_0, ..., x_m.
        rank_tol: singular values of X = [x_0..x_{m-1}] below rank_tol * sigma_1 are dropped.
        max_rank: optional cap on the rank.
    """
    snapshots = np.asarray(snapshots, dtype=np.float64)
    if snapshots.ndim != 2 or snapshots.shape[1] < 2:
        raise ValueError(
            f"snapshots must be a 2-D array with at least 2 columns, got shape {snapshots.shape}"
        )
    n, m1 = snapshots.shape
    m = m1 - 1
    x, y = snapshots[:, :-1], snapshots[:, 1:]
    q, r_factor = np.linalg.qr(x)
    u_small, sing, vh = np.linalg.svd(r_factor)
    rank = rank_from_tolerance(sing, rank_tol, max_rank)
    flops = qr_flops(n, m) + svd_flops(m) + matmul_flops(m, n, m)
    if rank == 0:
        empty = np.zeros(0, dtype=complex)
        return DMDResult(empty, empty, sing, 0, np.zeros((n, 0)), np.zeros((0, 0)), flops)
    basis = q @ u_small[:, :rank]
    # A_tilde = U_r^T Y V_r S_r^{-1}, written with Q^T Y so the tall matrix is touched once.
    qty = q.T @ y
    a_tilde = (u_small[:, :rank].T @ qty @ vh[:rank].T) / sing[:rank]
    eigs, eigvecs = np.linalg.eig(a_tilde)
    # Amplitudes of x_0 in the eigenbasis of the reduced operator: x_0 = basis @ W @ b.
    coeffs0 = u_small[:, :rank].T @ r_factor[:, 0]
    amplitudes = np.linalg.solve(eigvecs, coeffs0.astype(complex))
    flops += matmul_flops(n, m, rank) + 3 * matmul_flops(rank, m, m) + eig_flops(rank)
    return DMDResult(eigs, amplitudes, sing, rank, basis, eigvecs, flops)
