"""Proper orthogonal decomposition of snapshot matrices by the method of snapshots.

The POD step of the POD-DMD training accelerator of Tano, Portwood & Ragusa
(arXiv:2006.14371): the principal directions along which a layer's weights evolve. Snapshot
matrices of network weights are tall (n parameters x m snapshots, n >> m), so the singular
values and right singular vectors come from `eigh` of the small m x m Gram matrix in float64
(Sirovich's method of snapshots) and the left singular vectors (the modes) are only ever
applied, never formed, unless asked for: `lift(z) = X V S^-1 z` costs one n x m mat-vec.
"""

import warnings

import numpy as np
import torch

RANK_POLICIES = ("energy", "optimal", "fixed")


def check_rank_policy(policy: str, value) -> None:
    """ValueError unless (policy, value) is a valid truncation setting (see `select_rank`)."""
    if policy not in RANK_POLICIES:
        raise ValueError(f"rank policy must be one of {RANK_POLICIES}, got {policy!r}")
    is_number = isinstance(value, int | float | np.number) and not isinstance(value, bool)
    if policy == "energy" and not (is_number and 0.0 < value <= 1.0):
        raise ValueError(f"energy rank policy needs a fraction 0 < rank <= 1, got {value!r}")
    if policy == "fixed" and not (is_number and float(value) == int(value) and value >= 1):
        raise ValueError(f"fixed rank policy needs an integer rank >= 1, got {value!r}")


def select_rank(singular_values, policy: str, value: float | None = None, shape=None) -> int:
    """Number of singular values to keep; the whole truncation policy lives here.

    Args:
        singular_values: descending, non-negative singular values.
        policy: ``"energy"``: the smallest rank whose squared singular values hold at least the
            fraction ``value`` (0 < value <= 1) of the total energy; ``"optimal"``: the optimal
            hard threshold for an unknown noise level of Gavish & Donoho (IEEE Trans. Inf.
            Theory 60, 2014), tau = omega(beta) * median(s) with beta = min(shape)/max(shape);
            ``"fixed"``: the integer ``value`` (>= 1).
        value: the energy fraction or the fixed rank (unused by ``"optimal"``).
        shape: (rows, columns) of the decomposed matrix, needed by ``"optimal"``.

    Returns:
        The rank, at least 1 and at most the numerical rank (singular values above
        ``max(s) * max(shape) * eps``). A warning is emitted when the policy's answer had to be
        changed (fixed rank above the numerical rank, a threshold that keeps nothing).
    """
    check_rank_policy(policy, value)
    s = np.asarray(singular_values, dtype=np.float64).ravel()
    if s.size == 0 or s[0] <= 0.0:
        raise ValueError("cannot select a rank: all singular values are zero")
    dims = shape if shape is not None else (s.size, s.size)
    numerical = int(np.sum(s > s[0] * max(dims) * np.finfo(np.float64).eps))

    if policy == "energy":
        energy = np.cumsum(s**2) / np.sum(s**2)
        # The small tolerance keeps value = 1 from demanding round-off-level modes.
        rank = int(np.searchsorted(energy, value - 1e-12) + 1)
    elif policy == "optimal":
        if shape is None:
            raise ValueError("optimal rank policy needs the matrix shape")
        beta = min(shape) / max(shape)
        omega = 0.56 * beta**3 - 0.95 * beta**2 + 1.82 * beta + 1.43
        rank = int(np.sum(s > omega * np.median(s)))
        if rank == 0:
            warnings.warn(
                "optimal hard threshold keeps no singular value; falling back to rank 1",
                stacklevel=2,
            )
            rank = 1
    else:
        rank = int(value)
        if rank > numerical:
            warnings.warn(
                f"fixed rank {rank} exceeds the numerical rank {numerical}; using {numerical}",
                stacklevel=2,
            )
    return max(1, min(rank, numerical))


def gram_matrix(snapshots: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """X^T W X in float64 for snapshots X (n x m, columns are snapshots), W = diag(weights)."""
    x = snapshots.to(torch.float64)
    weighted = x if weights is None else x * weights.to(torch.float64)[:, None]
    return x.T @ weighted


class POD:
    """POD of a tall snapshot matrix by the method of snapshots (Sirovich 1987).

    Estimator shape: settings in ``__init__``, ``fit(X) -> self``, results as read-only
    properties. With ``weights`` the modes are orthonormal in the inner product
    <a, b> = a^T diag(weights) b (e.g. an optimizer's preconditioner).
    """

    def __init__(self, rank_policy: str = "energy", rank: float | None = 0.9999):
        check_rank_policy(rank_policy, rank)
        self.rank_policy = rank_policy
        self.rank_value = rank
        self._snapshots = None

    def fit(self, snapshots: torch.Tensor, weights: torch.Tensor | None = None) -> "POD":
        """Decompose ``snapshots`` (n x m tensor, one snapshot per column)."""
        if snapshots.ndim != 2 or snapshots.shape[1] < 1:
            raise ValueError(f"snapshots must be an n x m matrix, got shape {snapshots.shape}")
        gram = gram_matrix(snapshots, weights).cpu()
        eigvals, eigvecs = torch.linalg.eigh(gram)
        order = torch.argsort(eigvals, descending=True)
        # Round-off can make the smallest Gram eigenvalues slightly negative.
        s = eigvals[order].clamp_min(0.0).sqrt()
        self._singular_values = s
        self._rank = select_rank(s.numpy(), self.rank_policy, self.rank_value, snapshots.shape)
        self._right = eigvecs[:, order[: self._rank]]
        self._snapshots = snapshots
        return self

    def _check_fitted(self):
        if self._snapshots is None:
            raise RuntimeError("POD is not fitted; call fit(snapshots) first")

    @property
    def singular_values(self) -> torch.Tensor:
        """All singular values (float64, CPU), descending."""
        self._check_fitted()
        return self._singular_values

    @property
    def rank(self) -> int:
        self._check_fitted()
        return self._rank

    @property
    def right_vectors(self) -> torch.Tensor:
        """V_r (m x r float64, CPU): the temporal structure of the retained modes."""
        self._check_fitted()
        return self._right

    @property
    def coefficients(self) -> torch.Tensor:
        """Modal coefficients U_r^T W X = S_r V_r^T (r x m float64, CPU), free of any n-cost."""
        self._check_fitted()
        return self._singular_values[: self._rank, None] * self._right.T

    def lift(self, coefficients: torch.Tensor) -> torch.Tensor:
        """U_r z for coefficients z (r or r x k) on the snapshots' device and dtype.

        Computed as X (V_r S_r^-1 z), so the n x r modes are never stored.
        """
        self._check_fitted()
        z = torch.as_tensor(coefficients, dtype=torch.float64)
        small = (self._right / self._singular_values[: self._rank]) @ z
        return self._snapshots @ small.to(self._snapshots.device, self._snapshots.dtype)

    @property
    def modes(self) -> torch.Tensor:
        """U_r (n x r), formed on request (for analysis and tests)."""
        return self.lift(torch.eye(self.rank, dtype=torch.float64))


def pod_flops(n: int, m: int, rank: int, weighted: bool = False) -> int:
    """FLOPs of `POD.fit` on an n x m snapshot matrix.

    Gram matrix X^T X: 2 n m^2 (one matmul, symmetry not exploited); a weighted inner product
    adds n m multiplications; symmetric eigendecomposition with eigenvectors: 9 m^3 (tridiagonal
    reduction plus implicit QR with accumulation, Golub & Van Loan, Matrix Computations, 4th
    ed., sec. 8.3); the square roots and the coefficients S_r V_r^T: m + m r.
    """
    return 2 * n * m * m + (n * m if weighted else 0) + 9 * m**3 + m + m * rank


def lift_flops(n: int, m: int, rank: int) -> int:
    """FLOPs of `POD.lift` of one coefficient vector: V_r S^-1 z (2 m r + m r) then X y (2 n m)."""
    return 3 * m * rank + 2 * n * m
