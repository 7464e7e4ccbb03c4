"""P1 mass and stiffness matrices on a dataset's mesh, for the FEM H^{-1} loss of surrogate/koopman.

The negative-Sobolev loss ||r||_{-1}^2 = r^T M (K + M)^{-1} M r (Manojlovic et al.,
arXiv:2006.11765, Sec. 6; definition in surrogate/koopman/sobolev.py) needs

    M_ij = int_Omega phi_j phi_i dx,      K_ij = int_Omega grad phi_j . grad phi_i dx

for the P1 basis on the points and triangles the dataset stores. They are assembled here with
dolfinx (serial) and written to an .npz in CSR form, with rows and columns in the order of the
dataset's `coords`, so the learning side never imports dolfinx.

Run: python -m solvers.sobolev --dataset results/plume/dataset.npz \
         --out results/plume/koopman/fem_matrices.npz
"""

from __future__ import annotations

try:  # the PyPI wheel loads its MPI/PETSc first; conda-forge's dolfinx has no such module
    import dolfinx_solver  # noqa: F401
except ImportError:
    pass

# isort: split
import argparse
import logging
from pathlib import Path

import basix.ufl
import dolfinx
import numpy as np
import scipy.sparse as sp
import ufl
from mpi4py import MPI
from scipy.spatial import cKDTree

from solvers.io import load_npz, save_npz_atomic


def _mesh_from_points(coords: np.ndarray, cells: np.ndarray) -> dolfinx.mesh.Mesh:
    """A serial dolfinx mesh of straight triangles or tetrahedra on the given points."""
    gdim = coords.shape[1]
    shapes = {(2, 3): "triangle", (3, 4): "tetrahedron"}
    shape = shapes.get((gdim, cells.shape[1]))
    if shape is None:
        raise ValueError(
            f"need 2-D points with triangles or 3-D points with tetrahedra, got {gdim}-D points "
            f"and cells of {cells.shape[1]} vertices"
        )
    domain = ufl.Mesh(basix.ufl.element("Lagrange", shape, 1, shape=(gdim,)))
    return dolfinx.mesh.create_mesh(
        MPI.COMM_SELF, cells.astype(np.int64), domain, coords.astype(np.float64)
    )


def assemble_mass_stiffness(
    coords: np.ndarray, cells: np.ndarray
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """P1 mass and stiffness matrices with rows/columns in the order of `coords`."""
    coords, cells = np.asarray(coords, dtype=np.float64), np.asarray(cells)
    mesh = _mesh_from_points(coords, cells)
    space = dolfinx.fem.functionspace(mesh, ("Lagrange", 1))
    u, v = ufl.TrialFunction(space), ufl.TestFunction(space)
    mass = dolfinx.fem.assemble_matrix(dolfinx.fem.form(u * v * ufl.dx)).to_scipy()
    stiffness = dolfinx.fem.assemble_matrix(
        dolfinx.fem.form(ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx)
    ).to_scipy()
    # dolfinx reorders the points; match dofs back to the input points by position.
    dof_xyz = space.tabulate_dof_coordinates()[:, : coords.shape[1]]
    distance, point_of_dof = cKDTree(coords).query(dof_xyz)
    if distance.max() > 1e-10 * max(1.0, np.abs(coords).max()) or len(set(point_of_dof)) != len(
        coords
    ):
        raise ValueError("the mesh's dofs do not match the dataset's points one to one")
    perm = sp.csr_matrix(
        (np.ones(len(point_of_dof)), (point_of_dof, np.arange(len(point_of_dof)))),
        shape=(len(coords), len(coords)),
    )
    return (perm @ mass @ perm.T).tocsr(), (perm @ stiffness @ perm.T).tocsr()


def save_matrices(path: str | Path, mass: sp.csr_matrix, stiffness: sp.csr_matrix) -> Path:
    """Write M and K as CSR arrays: mass_data/indices/indptr, stiffness_..., shape."""
    arrays = {"shape": np.array(mass.shape, dtype=np.int64)}
    for name, matrix in (("mass", mass), ("stiffness", stiffness)):
        arrays.update(
            {
                f"{name}_data": matrix.data,
                f"{name}_indices": matrix.indices.astype(np.int64),
                f"{name}_indptr": matrix.indptr.astype(np.int64),
            }
        )
    return save_npz_atomic(path, **arrays)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, help="dataset.npz with coords and cells")
    parser.add_argument("--out", required=True, help="output .npz of M and K")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    data = load_npz(args.dataset)
    mass, stiffness = assemble_mass_stiffness(data["coords"], data["cells"])
    save_matrices(args.out, mass, stiffness)
    logging.getLogger(__name__).info(
        "M, K of %d points (%d nonzeros) -> %s", mass.shape[0], mass.nnz, args.out
    )


if __name__ == "__main__":
    main()
