"""FEM H^-1 norm: M and K from dolfinx (solvers/sobolev.py) against analytic values."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from structured_mesh import structured_triangles

from surrogate.koopman.sobolev import FEMHminus1Norm, FEMMassNorm

sobolev = pytest.importorskip("solvers.sobolev")


def _unit_square(n):
    """An n x n-cell structured triangulation of (0,1)^2."""
    return structured_triangles(n + 1, n + 1)


def test_mass_and_stiffness_in_dataset_point_order(tmp_path):
    coords, cells = _unit_square(6)
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(coords))
    inverse = np.argsort(perm)
    mass, stiffness = sobolev.assemble_mass_stiffness(coords[perm], inverse[cells])
    ones = np.ones(len(coords))
    assert ones @ mass @ ones == pytest.approx(1.0)
    assert FEMMassNorm(mass)(torch.ones(len(coords), dtype=torch.float64)).item() == pytest.approx(
        1.0
    )
    np.testing.assert_allclose(stiffness @ ones, 0.0, atol=1e-12)
    x = coords[perm, 0]
    # int |grad x|^2 = 1 and int x^2 = 1/3 up to the P1 mass error (exact for P1 functions).
    assert x @ stiffness @ x == pytest.approx(1.0)
    assert x @ mass @ x == pytest.approx(1.0 / 3.0)
    path = sobolev.save_matrices(tmp_path / "m.npz", mass, stiffness)
    with np.load(path) as data:
        loaded = sp.csr_matrix(
            (data["mass_data"], data["mass_indices"], data["mass_indptr"]), shape=data["shape"]
        )
    assert abs(loaded - mass).max() == 0.0


def test_fem_hminus1_norm_converges_to_analytic_value():
    """cos(pi x) cos(pi y) is an eigenfunction of -Laplace + 1 (Neumann), eigenvalue 1 + 2 pi^2."""
    exact = 0.25 / (1 + 2 * math.pi**2)
    errors = []
    for n in (4, 8, 16, 32):
        coords, cells = _unit_square(n)
        mass, stiffness = sobolev.assemble_mass_stiffness(coords, cells)
        u = np.cos(math.pi * coords[:, 0]) * np.cos(math.pi * coords[:, 1])
        value = FEMHminus1Norm(mass, stiffness)(torch.as_tensor(u)).item()
        errors.append(abs(value - exact) / exact)
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert errors[-1] < 1e-2, errors
    # Second order once asymptotic (measured rates 1.62, 1.91, 1.98 for n = 4..32).
    assert np.all((rates[1:] > 1.8) & (rates[1:] < 2.2)), rates


def test_fem_hminus1_gradient_and_batch():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((6, 6))
    stiffness = sp.csr_matrix(a @ a.T)
    mass = sp.csr_matrix(np.diag(rng.uniform(0.5, 1.5, 6)))
    norm = FEMHminus1Norm(mass, stiffness)
    r = torch.tensor(rng.standard_normal((3, 6)), requires_grad=True)
    dense = mass.toarray() @ np.linalg.solve((stiffness + mass).toarray(), mass.toarray())
    np.testing.assert_allclose(
        norm(r).detach().numpy(),
        np.einsum("bi,ij,bj->b", r.detach().numpy(), dense, r.detach().numpy()),
    )
    assert torch.autograd.gradcheck(norm, (r,))
    with pytest.raises(ValueError, match="nodal values"):
        norm(torch.zeros(5))
