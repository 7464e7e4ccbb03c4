"""Advection-diffusion-reaction (ADR) forms with SUPG, a reusable linear solver, vertex output.

Strong form, on a domain Omega with inflow boundary Gamma_in = {x : b.n < 0}:

    dc/dt - div(D grad c) + b.grad c + k c = f   in Omega   (steady: no dc/dt),
    c = g on Gamma_in,    D grad c . n = 0 on the rest of the boundary.

Weak form (Galerkin plus streamline-upwind Petrov-Galerkin, Brooks & Hughes, CMAME 32, 1982):
find c in V_g such that for every w in V_0

    (D grad c, grad w) + (b.grad c + k c, w)
      + sum_K (tau b.grad w, -div(D grad c) + b.grad c + k c - f)_K  =  (f, w),

with the optimal one-dimensional stabilisation (Donea & Huerta, "Finite Element Methods for
Flow Problems", 2003, section 2.2.3, as in legacy DOLFIN's advection-diffusion demo)

    tau = h/(2|b|) (coth Pe - 1/Pe),   Pe = |b| h / (2 D),   h = cell diameter / degree.

The SUPG term weights the full residual, so the exact solution still satisfies the discrete
equations (consistency). Backward Euler adds c/dt to the operator and c_old/dt to f, in both
the Galerkin and the SUPG parts; its matrix is then constant in time.
"""

try:  # the PyPI wheel loads its MPI/PETSc first; conda-forge's dolfinx has no such module
    import dolfinx_solver  # noqa: F401
except ImportError:
    pass

# isort: split
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import dolfinx
import dolfinx.fem.petsc
import numpy as np
import ufl
from petsc4py import PETSc

# Below this Peclet number tau uses its series (coth x - 1/x = x/3 - x^3/45 + ...), where the
# closed form loses digits to cancellation and b = 0 would divide by zero.
PE_SERIES = 1e-2

_prefixes = itertools.count()


@dataclass(frozen=True)
class Coefficients:
    """UFL expressions (usually built from dolfinx Constants) of the ADR coefficients."""

    D: ufl.core.expr.Expr
    b: ufl.core.expr.Expr
    k: ufl.core.expr.Expr
    f: ufl.core.expr.Expr


def supg_tau(h, b, D):
    """SUPG parameter tau = h/(2|b|)(coth Pe - 1/Pe) written as h^2/(4D) g(Pe), finite at b = 0."""
    peclet = ufl.sqrt(ufl.dot(b, b)) * h / (2 * D)
    safe = ufl.max_value(peclet, PE_SERIES)
    # coth x = 1 + 2/(exp(2x) - 1) stays finite when exp overflows at large Peclet numbers.
    coth = 1 + 2 / (ufl.exp(2 * safe) - 1)
    g = ufl.conditional(ufl.lt(peclet, PE_SERIES), 1 / 3 - peclet**2 / 45, (coth - 1 / safe) / safe)
    return h * h / (4 * D) * g


def adr_forms(
    V: dolfinx.fem.FunctionSpace,
    coefficients: Coefficients,
    stabilisation: str = "supg",
    dt=None,
    c_old: dolfinx.fem.Function | None = None,
    quadrature_degree: int | None = None,
) -> tuple[dolfinx.fem.Form, dolfinx.fem.Form]:
    """Compiled bilinear and linear forms of the (SUPG-stabilised) ADR problem on V.

    With `dt` and `c_old` given, the forms of one backward-Euler step. The quadrature degree
    defaults to 2 p + 2 for degree p, enough for the Gaussian sources on the meshes used here.
    """
    if stabilisation not in ("supg", "none"):
        raise ValueError(f"solver.stabilisation: {stabilisation!r} not allowed; use supg or none")
    degree = V.ufl_element().embedded_superdegree
    D, b, k, f = coefficients.D, coefficients.b, coefficients.k, coefficients.f
    c, w = ufl.TrialFunction(V), ufl.TestFunction(V)
    dx = ufl.Measure(
        "dx", domain=V.mesh, metadata={"quadrature_degree": quadrature_degree or 2 * degree + 2}
    )
    operator = -ufl.div(D * ufl.grad(c)) + ufl.dot(b, ufl.grad(c)) + k * c
    source = f
    a = D * ufl.inner(ufl.grad(c), ufl.grad(w)) + (ufl.dot(b, ufl.grad(c)) + k * c) * w
    L = f * w
    if dt is not None:
        operator += c / dt
        source += c_old / dt
        a += c * w / dt
        L += c_old * w / dt
    if stabilisation == "supg":
        h = ufl.CellDiameter(V.mesh) / degree
        streamline = supg_tau(h, b, D) * ufl.dot(b, ufl.grad(w))
        a += streamline * operator
        L += streamline * source
    return dolfinx.fem.form(a * dx), dolfinx.fem.form(L * dx)


def petsc_options(solver: Mapping, n_dofs: int) -> dict:
    """PETSc KSP options for the `solver:` config section and the global dof count.

    direct: MUMPS LU. iterative: restarted GMRES with GAMG, or with ILU(0) (block Jacobi with
    one ILU block per rank, since PETSc's ILU is serial). auto: iterative above
    `iterative_threshold_dofs`, where the LU fill-in starts to dominate.
    """
    backend = solver.get("backend", "auto")
    if backend == "auto":
        threshold = solver.get("iterative_threshold_dofs", 1_000_000)
        backend = "iterative" if n_dofs > threshold else "direct"
    options: dict = {"ksp_error_if_not_converged": True}
    if backend == "direct":
        options |= {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"}
    elif backend == "iterative":
        options |= {
            "ksp_type": "gmres",
            "ksp_gmres_restart": 100,
            "ksp_rtol": solver.get("rtol", 1e-10),
            "ksp_max_it": solver.get("max_iterations", 1000),
        }
        preconditioner = solver.get("preconditioner", "gamg")
        if preconditioner == "gamg":
            # GAMG's default Chebyshev/Jacobi smoother assumes a symmetric positive definite
            # operator and stalls on the non-symmetric SUPG matrix; Gauss-Seidel smoothing keeps
            # the iteration count nearly independent of h (bench/solver.py).
            options |= {
                "pc_type": "gamg",
                "mg_levels_ksp_type": "richardson",
                "mg_levels_pc_type": "sor",
            }
        elif preconditioner == "ilu":
            options |= {"pc_type": "bjacobi", "sub_pc_type": "ilu"}
        else:
            raise ValueError(
                f"solver.preconditioner: {preconditioner!r} not allowed; use gamg or ilu"
            )
    else:
        raise ValueError(f"solver.backend: {backend!r} not allowed; use auto, direct or iterative")
    return options


class LinearSolver:
    """Assembles compiled forms a, L and solves with one PETSc KSP kept across solves.

    Keeping the matrix, vectors and KSP lets a parameter sweep or a time loop pay for the
    form compilation and the sparsity pattern once; `solve(..., assemble_matrix=False)` also
    reuses the factorisation (direct) or the preconditioner set-up (iterative).
    """

    def __init__(
        self,
        V: dolfinx.fem.FunctionSpace,
        a: dolfinx.fem.Form,
        L: dolfinx.fem.Form,
        options: Mapping,
    ):
        self.a, self.L = a, L
        self.A = dolfinx.fem.petsc.create_matrix(a)
        self.b = dolfinx.fem.petsc.create_vector(V)
        self.solution = dolfinx.fem.Function(V)
        self.ksp = PETSc.KSP().create(V.mesh.comm)
        self.ksp.setOperators(self.A)
        # A unique prefix keeps these options from reaching other solvers in the process. They
        # stay in the database: multigrid levels and sub-solvers read theirs at the first solve.
        prefix = f"adr{next(_prefixes)}_"
        self.ksp.setOptionsPrefix(prefix)
        database = PETSc.Options()
        for key, value in options.items():
            database[f"{prefix}{key}"] = value
        self.ksp.setFromOptions()

    def assemble_matrix(self, bcs: Sequence[dolfinx.fem.DirichletBC]) -> None:
        """Assemble A with Dirichlet rows and columns replaced by the identity."""
        self.A.zeroEntries()
        dolfinx.fem.petsc.assemble_matrix(self.A, self.a, bcs=bcs)
        self.A.assemble()

    def solve(
        self, bcs: Sequence[dolfinx.fem.DirichletBC], assemble_matrix: bool = True
    ) -> dolfinx.fem.Function:
        """Assemble (A and) b, apply the boundary conditions by lifting, solve in `solution`."""
        if assemble_matrix:
            self.assemble_matrix(bcs)
        with self.b.localForm() as local:
            local.set(0.0)
        dolfinx.fem.petsc.assemble_vector(self.b, self.L)
        dolfinx.fem.petsc.apply_lifting(self.b, [self.a], bcs=[bcs])
        self.b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        dolfinx.fem.petsc.set_bc(self.b, bcs)
        self.ksp.solve(self.b, self.solution.x.petsc_vec)
        reason = self.ksp.getConvergedReason()
        if reason < 0:
            raise RuntimeError(f"linear solver diverged (KSP converged reason {reason})")
        self.solution.x.scatter_forward()
        return self.solution

    @property
    def iterations(self) -> int:
        """Iterations of the last solve (1 for a direct solve)."""
        return self.ksp.getIterationNumber()

    def destroy(self) -> None:
        """Free the PETSc objects now rather than at garbage collection."""
        for obj in (self.ksp, self.A, self.b):
            obj.destroy()


class VertexGather:
    """Gathers a P1 field on rank 0 in the mesh's input vertex order, the same on any rank count.

    dolfinx renumbers vertices and dofs per partition; the geometry keeps each node's index in
    the input mesh, so sorting by it gives an ordering that serial and MPI runs share.
    """

    def __init__(self, V1: dolfinx.fem.FunctionSpace):
        mesh = V1.mesh
        self.comm = mesh.comm
        self.space = V1
        gdim = mesh.geometry.dim
        tdim = mesh.topology.dim
        geometry_dofmap = mesh.geometry.dofmaps[0]
        # For affine P1 both dofmaps list a cell's vertices in reference order, so they pair up.
        dofs = V1.dofmap.list
        n_local = V1.dofmap.index_map.size_local + V1.dofmap.index_map.num_ghosts
        node_of_dof = np.empty(n_local, dtype=np.int64)
        node_of_dof[dofs.ravel()] = geometry_dofmap.ravel()
        owned = node_of_dof[: V1.dofmap.index_map.size_local]
        input_index = mesh.geometry.input_global_indices
        n_cells = mesh.topology.index_map(tdim).size_local
        cell_nodes = input_index[geometry_dofmap[:n_cells]]
        self._owned_input = input_index[owned]
        gathered = self.comm.gather(
            (
                self._owned_input,
                mesh.geometry.x[owned, :gdim],
                mesh.topology.original_cell_index[:n_cells],
                cell_nodes,
            ),
            root=0,
        )
        if self.comm.rank == 0:
            indices, coords, cell_ids, cells = (
                np.concatenate(part) for part in zip(*gathered, strict=True)
            )
            self._input_sorted = np.sort(indices)
            self._positions = [np.searchsorted(self._input_sorted, part[0]) for part in gathered]
            self.coords = np.empty_like(coords)
            self.coords[np.searchsorted(self._input_sorted, indices)] = coords
            self.cells = np.searchsorted(self._input_sorted, cells[np.argsort(cell_ids)]).astype(
                np.int64
            )
        else:
            self.coords = self.cells = None

    def __call__(self, u: dolfinx.fem.Function) -> np.ndarray | None:
        """The values of P1 function `u` on rank 0 in input vertex order (None on other ranks)."""
        n_owned = self.space.dofmap.index_map.size_local
        parts = self.comm.gather(u.x.array[:n_owned].copy(), root=0)
        if self.comm.rank != 0:
            return None
        values = np.empty(len(self._input_sorted))
        for positions, part in zip(self._positions, parts, strict=True):
            values[positions] = part
        return values


def global_dofs(V: dolfinx.fem.FunctionSpace) -> int:
    """Number of degrees of freedom of V over all ranks."""
    return V.dofmap.index_map.size_global * V.dofmap.index_map_bs


def boundary_dofs(V: dolfinx.fem.FunctionSpace, facets: np.ndarray) -> np.ndarray:
    """Local dofs of V on the given boundary facets."""
    return dolfinx.fem.locate_dofs_topological(V, V.mesh.topology.dim - 1, facets)


def zero_dirichlet(V: dolfinx.fem.FunctionSpace, dofs: np.ndarray) -> dolfinx.fem.DirichletBC:
    """The boundary condition c = 0 on `dofs`."""
    return dolfinx.fem.dirichletbc(PETSc.ScalarType(0), dofs.astype(np.int32), V)


def vertex_space(mesh: dolfinx.mesh.Mesh) -> dolfinx.fem.FunctionSpace:
    """The P1 space whose dofs are the mesh vertices (the space fields are stored on)."""
    return dolfinx.fem.functionspace(mesh, ("Lagrange", 1))
