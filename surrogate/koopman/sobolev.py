"""Negative-Sobolev-norm losses H^{-s} (Manojlovic et al., arXiv:2006.11765, Sec. 6).

Periodic grid (spectral). On a grid of N^d points of the periodic box [0, L)^d,

    ||u||_{-s}^2 = sum_k (1 + |k|^2)^{-s} |u_k|^2,   u_k = N^{-d} sum_x u(x) exp(-i k.x),

with angular wave numbers k = 2 pi n / L. This is the usual H^{-s} norm divided by the box
volume, so s = 0 gives the mean square and u = a exp(i k.x) gives (1 + |k|^2)^{-s} |a|^2.

Finite-element mesh (s = 1). For a residual r with nodal vector r in a Lagrange space with mass
matrix M and stiffness matrix K (both assembled on the solver side, solvers/sobolev.py),

    ||r||_{-1}^2 = r^T M (K + M)^{-1} M r = sup_v (r, v)^2 / ||v||_{H^1}^2   over v in V_h,

the discrete dual norm of H^1 (natural boundary conditions). The gradient with respect to r is
2 M (K + M)^{-1} M r; one sparse LU of K + M serves every evaluation.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch


def periodic_sobolev_weights(
    shape: tuple[int, ...], s: float, length: float = 2 * math.pi
) -> torch.Tensor:
    """(1 + |k|^2)^{-s} on the FFT grid of `shape` (last axes of the signal)."""
    if length <= 0.0:
        raise ValueError(f"length must be > 0, got {length}")
    if any(n < 1 for n in shape):
        raise ValueError(f"grid shape must be positive, got {shape}")
    axes = [torch.fft.fftfreq(n, d=length / n, dtype=torch.float64) * 2 * math.pi for n in shape]
    k2 = sum(g**2 for g in torch.meshgrid(*axes, indexing="ij"))
    return (1.0 + k2) ** (-s)


def periodic_hminus_norm_sq(
    u: torch.Tensor, s: float, ndim: int = 1, length: float = 2 * math.pi
) -> torch.Tensor:
    """||u||_{-s}^2 over the last `ndim` axes of u (one value per leading index)."""
    if s < 0:
        raise ValueError(f"s must be >= 0 for a negative-Sobolev norm, got {s}")
    if ndim not in (1, 2, 3) or u.ndim < ndim:
        raise ValueError(f"ndim must be 1, 2 or 3 and <= u.ndim={u.ndim}, got {ndim}")
    dims = tuple(range(-ndim, 0))
    shape = tuple(u.shape[-ndim:])
    coeffs = torch.fft.fftn(u, dim=dims) / math.prod(shape)
    weights = periodic_sobolev_weights(shape, s, length).to(u.device, coeffs.real.dtype)
    return (weights * coeffs.abs() ** 2).sum(dim=dims)


class _Quadratic(torch.autograd.Function):
    """r^T Q r per row of r for a symmetric Q applied by a scipy callable; gradient 2 Q r."""

    @staticmethod
    def forward(ctx, residual, apply):
        r = residual.detach().cpu().double().numpy()
        qr = apply(r)
        ctx.save_for_backward(torch.as_tensor(qr).to(residual))
        return torch.as_tensor(np.einsum("bi,bi->b", r, qr)).to(residual)

    @staticmethod
    def backward(ctx, grad_out):
        (qr,) = ctx.saved_tensors
        return 2.0 * grad_out[:, None] * qr, None


class _FEMNorm:
    """Shared checks and batching; subclasses define `_apply(r)` = Q r for rows of r."""

    def __init__(self, mass: sp.spmatrix):
        self.mass = sp.csc_matrix(mass)
        if self.mass.shape[0] != self.mass.shape[1]:
            raise ValueError(f"mass matrix must be square, got shape {self.mass.shape}")

    def __call__(self, residual: torch.Tensor) -> torch.Tensor:
        """Squared norm of each row of `residual` (n_nodes or batch x n_nodes)."""
        single = residual.ndim == 1
        batch = residual[None] if single else residual
        if batch.shape[-1] != self.mass.shape[0]:
            raise ValueError(
                f"residual has {batch.shape[-1]} nodal values, the mesh has {self.mass.shape[0]}"
            )
        out = _Quadratic.apply(batch, self._apply)
        return out[0] if single else out


class FEMMassNorm(_FEMNorm):
    """||r||_0^2 = r^T M r on a finite-element mesh, differentiable in r."""

    def _apply(self, r):
        return (self.mass @ r.T).T


class FEMHminus1Norm(_FEMNorm):
    """||r||_{-1}^2 = r^T M (K + M)^{-1} M r on a finite-element mesh, differentiable in r."""

    def __init__(self, mass: sp.spmatrix, stiffness: sp.spmatrix):
        super().__init__(mass)
        stiffness = sp.csc_matrix(stiffness)
        if stiffness.shape != self.mass.shape:
            raise ValueError(
                f"mass and stiffness must be equal in shape, got {self.mass.shape} "
                f"and {stiffness.shape}"
            )
        self._solve = spla.splu(stiffness + self.mass).solve

    def _apply(self, r):
        mr = self.mass @ r.T
        return (self.mass @ self._solve(np.ascontiguousarray(mr))).T
