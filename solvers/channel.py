"""A pollutant source upstream of a building in a channel, carried by potential flow.

Omega = (0, length) x (0, height) minus a building (a disk or a square, meshed with gmsh).
The wind is the potential flow b = U grad(phi) with

    -lap(phi) = 0,  grad(phi).n = -1 on the inlet (x = 0),  phi = 0 on the outlet (x = length),
    grad(phi).n = 0 on the walls and the building,

so b is divergence-free and slips along the walls and around the building (both weakly, for
the P2 potential; tests/solvers check the fluxes), and enters with normal speed U. phi is
linear in U, so it is solved once (U = 1) and scaled. The pollutant then solves the steady
ADR problem of solvers.adr with c = 0 on the inlet (the only boundary with b.n < 0) and no
diffusive flux elsewhere.
"""

try:  # the PyPI wheel loads its MPI/PETSc first; conda-forge's dolfinx has no such module
    import dolfinx_solver  # noqa: F401
except ImportError:
    pass

# isort: split
from collections.abc import Mapping

import dolfinx
import dolfinx.fem.petsc
import dolfinx.io.gmsh
import gmsh
import numpy as np
import ufl

from solvers import adr
from solvers.box import gaussian_source

FLUID, INLET, OUTLET, WALLS, BUILDING = 1, 2, 3, 4, 5


def channel_mesh(comm, options: Mapping, resolution: int) -> dolfinx.io.gmsh.MeshData:
    """Triangulate the channel minus the building with gmsh on rank 0 and distribute it.

    Cells near the building are half the size (resolution cells per unit length elsewhere),
    where the flow turns and the plume is split.
    """
    length, height = options["length"], options["height"]
    centre, size = (options["building_x"], options["building_y"]), options["building_size"]
    h = 1.0 / resolution
    model = None
    if comm.rank == 0:
        gmsh.initialize(interruptible=False)
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("channel")
        occ = gmsh.model.occ
        channel = occ.addRectangle(0.0, 0.0, 0.0, length, height)
        if options["building"] == "circle":
            building = occ.addDisk(centre[0], centre[1], 0.0, size / 2, size / 2)
        else:
            building = occ.addRectangle(centre[0] - size / 2, centre[1] - size / 2, 0.0, size, size)
        (fluid, *_), _ = occ.cut([(2, channel)], [(2, building)])
        occ.synchronize()
        groups = {INLET: [], OUTLET: [], WALLS: [], BUILDING: []}
        for _, curve in gmsh.model.getBoundary([fluid], oriented=False):
            x, y, _ = occ.getCenterOfMass(1, curve)
            if np.isclose(x, 0.0):
                groups[INLET].append(curve)
            elif np.isclose(x, length):
                groups[OUTLET].append(curve)
            elif np.isclose(y, 0.0) or np.isclose(y, height):
                groups[WALLS].append(curve)
            else:
                groups[BUILDING].append(curve)
        gmsh.model.addPhysicalGroup(2, [fluid[1]], FLUID, name="fluid")
        for tag, curves in groups.items():
            gmsh.model.addPhysicalGroup(1, curves, tag)
        distance = gmsh.model.mesh.field.add("Distance")
        gmsh.model.mesh.field.setNumbers(distance, "CurvesList", groups[BUILDING])
        threshold = gmsh.model.mesh.field.add("Threshold")
        gmsh.model.mesh.field.setNumber(threshold, "InField", distance)
        gmsh.model.mesh.field.setNumber(threshold, "SizeMin", h / 2)
        gmsh.model.mesh.field.setNumber(threshold, "SizeMax", h)
        gmsh.model.mesh.field.setNumber(threshold, "DistMin", 0.5 * size)
        gmsh.model.mesh.field.setNumber(threshold, "DistMax", 1.5 * size)
        gmsh.model.mesh.field.setAsBackgroundMesh(threshold)
        for option in ("MeshSizeFromPoints", "MeshSizeFromCurvature", "MeshSizeExtendFromBoundary"):
            gmsh.option.setNumber(f"Mesh.{option}", 0)
        gmsh.option.setNumber("Mesh.Algorithm", 6)
        gmsh.model.mesh.generate(2)
        model = gmsh.model
    try:
        return dolfinx.io.gmsh.model_to_mesh(model, comm, 0, gdim=2)
    finally:
        if comm.rank == 0:
            gmsh.finalize()


def potential_flow(mesh, facet_tags, degree: int = 2) -> dolfinx.fem.Function:
    """The velocity potential of unit inflow speed (see the module docstring)."""
    W = dolfinx.fem.functionspace(mesh, ("Lagrange", degree))
    phi, v = ufl.TrialFunction(W), ufl.TestFunction(W)
    ds = ufl.Measure("ds", domain=mesh, subdomain_data=facet_tags)
    outlet = dolfinx.fem.locate_dofs_topological(W, mesh.topology.dim - 1, facet_tags.find(OUTLET))
    problem = dolfinx.fem.petsc.LinearProblem(
        ufl.inner(ufl.grad(phi), ufl.grad(v)) * ufl.dx,
        -v * ds(INLET),
        bcs=[dolfinx.fem.dirichletbc(0.0, outlet, W)],
        petsc_options_prefix="potential_flow_",
        petsc_options=adr.petsc_options({"backend": "direct"}, adr.global_dofs(W)),
    )
    return problem.solve()


class ChannelModel:
    """Steady ADR around a building: mesh, potential flow and forms built once."""

    def __init__(self, comm, mesh: Mapping, solver: Mapping, options: Mapping):
        data = channel_mesh(comm, options, mesh["resolution"])
        self.mesh, facet_tags = data.mesh, data.facet_tags
        self.phi = potential_flow(self.mesh, facet_tags)
        self.V = dolfinx.fem.functionspace(self.mesh, ("Lagrange", mesh["degree"]))
        self.space = adr.vertex_space(self.mesh)
        self.times = None
        self.values = {
            name: dolfinx.fem.Constant(self.mesh, 0.0) for name in ("x_s", "y_s", "U", "D", "k")
        }
        v = self.values
        source = gaussian_source(
            ufl.SpatialCoordinate(self.mesh),
            (v["x_s"], v["y_s"]),
            options["source_strength"],
            options["source_width"],
        )
        coefficients = adr.Coefficients(D=v["D"], b=v["U"] * ufl.grad(self.phi), k=v["k"], f=source)
        a, L = adr.adr_forms(self.V, coefficients, solver["stabilisation"])
        self.solver = adr.LinearSolver(
            self.V, a, L, adr.petsc_options(solver, adr.global_dofs(self.V))
        )
        inlet = adr.boundary_dofs(self.V, facet_tags.find(INLET))
        self.bcs = [adr.zero_dirichlet(self.V, inlet)]

    def solve(self, values: Mapping[str, float]) -> list:
        """The concentration at the vertices (P1) for one sample, as a one-element list."""
        for name, constant in self.values.items():
            constant.value = values[name]
        output = dolfinx.fem.Function(self.space)
        output.interpolate(self.solver.solve(self.bcs))
        return [output]
