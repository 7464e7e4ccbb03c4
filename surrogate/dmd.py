"""Dynamic mode decomposition of small snapshot sequences (float64, CPU).

In the training accelerator (Tano, Portwood & Ragusa, arXiv:2006.14371) DMD runs on the
r-dimensional POD coefficients of a layer's weight trajectory, so the matrices here are tiny
and numpy's LAPACK is the right tool. Two variants:

- ``"exact"``: exact DMD of Tu et al., J. Comput. Dyn. 1 (2014): A ~ X1 X0^+ restricted to the
  rank-r POD subspace of X0, modes X1 V S^-1 W.
- ``"tls"``: total-least-squares DMD of Hemati et al., Theor. Comput. Fluid Dyn. 31 (2017):
  both X0 and X1 are projected onto the leading right singular vectors of [X0; X1] first, which
  removes the bias that noise in X0 puts on the eigenvalues (stochastic gradients make weight
  snapshots noisy).
"""

import numpy as np

from surrogate.pod import check_rank_policy, select_rank

DMD_METHODS = ("exact", "tls")


class DMD:
    """DMD estimator: ``fit(X) -> self``; ``modes``, ``eigs``, ``amplitudes``; ``predict``.

    Snapshots are the columns of X (state x time), equally spaced in time. The amplitudes
    are fitted to the first snapshot (``X[:, 0] ~ modes @ amplitudes``), so
    ``predict(k) = modes @ diag(eigs**k) @ amplitudes`` approximates ``X[:, k]``.
    """

    def __init__(self, method: str = "exact", rank_policy: str = "energy", rank=1.0):
        if method not in DMD_METHODS:
            raise ValueError(f"DMD method must be one of {DMD_METHODS}, got {method!r}")
        check_rank_policy(rank_policy, rank)
        self.method = method
        self.rank_policy = rank_policy
        self.rank_value = rank
        self._modes = None

    def fit(self, snapshots) -> "DMD":
        x = np.asarray(snapshots, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] < 2:
            raise ValueError(
                f"DMD needs a state x time matrix with at least 2 snapshots, got shape {x.shape}"
            )
        x0, x1 = x[:, :-1], x[:, 1:]
        if self.method == "tls":
            _, s, vh = np.linalg.svd(np.vstack([x0, x1]), full_matrices=False)
            r = select_rank(s, self.rank_policy, self.rank_value, (2 * x.shape[0], x0.shape[1]))
            projector = vh[:r].T @ vh[:r]
            x0, x1 = x0 @ projector, x1 @ projector
        u, s, vh = np.linalg.svd(x0, full_matrices=False)
        r = select_rank(s, self.rank_policy, self.rank_value, x0.shape)
        u, s, v = u[:, :r], s[:r], vh[:r].conj().T
        reduced = u.conj().T @ x1 @ v / s
        eigs, eigvecs = np.linalg.eig(reduced)
        self._modes = (x1 @ v / s) @ eigvecs
        self._eigs = eigs
        self._reduced = reduced
        self._amplitudes = self.project(x[:, 0])
        self._rank = r
        return self

    def _check_fitted(self):
        if self._modes is None:
            raise RuntimeError("DMD is not fitted; call fit(snapshots) first")

    @property
    def modes(self) -> np.ndarray:
        """DMD modes (state x rank, complex)."""
        self._check_fitted()
        return self._modes

    @property
    def eigs(self) -> np.ndarray:
        """DMD eigenvalues (rank, complex): the one-step multipliers."""
        self._check_fitted()
        return self._eigs

    @property
    def amplitudes(self) -> np.ndarray:
        """Amplitudes of the modes in the first snapshot."""
        self._check_fitted()
        return self._amplitudes

    @property
    def reduced_operator(self) -> np.ndarray:
        """The rank x rank operator U^T A U whose eigenvalues are ``eigs``."""
        self._check_fitted()
        return self._reduced

    @property
    def rank(self) -> int:
        self._check_fitted()
        return self._rank

    def project(self, state) -> np.ndarray:
        """Amplitudes b of a state x in the modes (least squares: modes @ b ~ x)."""
        self._check_fitted()
        return np.linalg.lstsq(self._modes, np.asarray(state, dtype=np.complex128), rcond=None)[0]

    def predict(self, steps) -> np.ndarray:
        """Real part of modes diag(eigs**k) amplitudes for k in ``steps`` (columns)."""
        self._check_fitted()
        k = np.atleast_1d(np.asarray(steps, dtype=np.float64))
        dynamics = self._eigs[:, None] ** k[None, :] * self._amplitudes[:, None]
        out = (self._modes @ dynamics).real
        return out[:, 0] if np.ndim(steps) == 0 else out


def svd_flops(rows: int, cols: int) -> int:
    """Thin SVD of a rows x cols matrix: 4 a b^2 + 8 b^3 with a = max, b = min of the sides.

    Golub & Van Loan, Matrix Computations, 4th ed., fig. 8.6.1 (R-SVD with U_1 and V).
    """
    a, b = max(rows, cols), min(rows, cols)
    return 4 * a * b * b + 8 * b**3


def eig_flops(k: int) -> int:
    """Non-symmetric eigendecomposition of k x k with eigenvectors: about 25 k^3.

    Hessenberg reduction plus Francis QR with accumulation (Golub & Van Loan, sec. 7.5.6);
    counted as real FLOPs although the eigenvectors may be complex.
    """
    return 25 * k**3


def dmd_flops(state: int, m: int, rank: int, method: str = "exact") -> int:
    """FLOPs of `DMD.fit` on state x m snapshots keeping ``rank`` modes, plus one projection.

    SVD of X0 (state x m-1); reduced operator U^T X1 V S^-1 (2 r state (m-1) + 2 r (m-1) r);
    eig (25 r^3); exact modes X1 V S^-1 W (2 state (m-1) r + 2 state r^2); amplitudes by least
    squares (an SVD of state x r); TLS adds the SVD of the 2 state x (m-1) stack and two
    (m-1) x (m-1) projections (2 state (m-1)^2 each).
    """
    n1 = m - 1
    total = svd_flops(state, n1)
    total += 2 * rank * state * n1 + 2 * rank * n1 * rank
    total += eig_flops(rank)
    total += 2 * state * n1 * rank + 2 * state * rank * rank
    total += svd_flops(state, rank)
    if method == "tls":
        total += svd_flops(2 * state, n1) + 4 * state * n1 * n1
    return total
