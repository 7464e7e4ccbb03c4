"""A pollutant source in a uniform wind over a rectangle: the plume (steady) and puff (transient).

Omega = (0, length) x (0, height), wind b = U (cos theta, sin theta), Gaussian source
f = Q/(2 pi s^2) exp(-|x - x_s|^2 / (2 s^2)), first-order decay k, c = 0 where the wind
enters (b.n < 0: always the left side, the bottom for theta > 0, the top for theta < 0), no
diffusive flux elsewhere. The forms are compiled once with the sampled values as Constants.
"""

try:  # the PyPI wheel loads its MPI/PETSc first; conda-forge's dolfinx has no such module
    import dolfinx_solver  # noqa: F401
except ImportError:
    pass

# isort: split
import math
from collections.abc import Mapping

import dolfinx
import numpy as np
import ufl

from solvers import adr

# Outward unit normal of each side of the rectangle.
SIDES = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "bottom": (0.0, -1.0), "top": (0.0, 1.0)}


def gaussian_source(x, centre, strength, width):
    """Q/(2 pi s^2) exp(-|x - x_s|^2/(2 s^2)): a source of total mass rate Q (over R^2)."""
    distance2 = (x[0] - centre[0]) ** 2 + (x[1] - centre[1]) ** 2
    return strength / (2 * math.pi * width**2) * ufl.exp(-distance2 / (2 * width**2))


class BoxModel:
    """Steady or backward-Euler ADR of a Gaussian source in uniform wind on a rectangle."""

    def __init__(self, comm, mesh: Mapping, solver: Mapping, options: Mapping, transient=False):
        length, height = options["length"], options["height"]
        resolution = mesh["resolution"]
        self.mesh = dolfinx.mesh.create_rectangle(
            comm,
            [np.array([0.0, 0.0]), np.array([length, height])],
            [round(length * resolution), round(height * resolution)],
            dolfinx.mesh.CellType.triangle,
        )
        self.V = dolfinx.fem.functionspace(self.mesh, ("Lagrange", mesh["degree"]))
        self.space = adr.vertex_space(self.mesh)
        self.values = {
            name: dolfinx.fem.Constant(self.mesh, 0.0) for name in ("x_s", "y_s", "theta", "D", "k")
        }
        # Source switch: always 1 for the steady plume, the release rate or 0 in time for puff.
        self.release = dolfinx.fem.Constant(self.mesh, 1.0)
        v = self.values
        x = ufl.SpatialCoordinate(self.mesh)
        wind = options["wind_speed"] * ufl.as_vector((ufl.cos(v["theta"]), ufl.sin(v["theta"])))
        source = self.release * gaussian_source(
            x, (v["x_s"], v["y_s"]), options["source_strength"], options["source_width"]
        )
        coefficients = adr.Coefficients(D=v["D"], b=wind, k=v["k"], f=source)
        self.times = None
        self.c_old = None
        if transient:
            self._set_up_time_stepping(options)
            dt = dolfinx.fem.Constant(self.mesh, self.dt)
            self.c_old = dolfinx.fem.Function(self.V)
            a, L = adr.adr_forms(self.V, coefficients, solver["stabilisation"], dt, self.c_old)
        else:
            a, L = adr.adr_forms(self.V, coefficients, solver["stabilisation"])
        self.solver = adr.LinearSolver(
            self.V, a, L, adr.petsc_options(solver, adr.global_dofs(self.V))
        )
        fdim = self.mesh.topology.dim - 1
        self.mesh.topology.create_connectivity(fdim, fdim + 1)
        tol = 1e-10 * max(length, height)
        where = {
            "left": lambda p: np.isclose(p[0], 0.0, atol=tol),
            "right": lambda p: np.isclose(p[0], length, atol=tol),
            "bottom": lambda p: np.isclose(p[1], 0.0, atol=tol),
            "top": lambda p: np.isclose(p[1], height, atol=tol),
        }
        self._side_dofs = {
            side: adr.boundary_dofs(
                self.V, dolfinx.mesh.locate_entities_boundary(self.mesh, fdim, marker)
            )
            for side, marker in where.items()
        }
        self._bcs: dict[tuple[str, ...], list] = {}

    def _set_up_time_stepping(self, options: Mapping) -> None:
        self.dt = options["dt"]
        self.n_steps = round(options["t_end"] / self.dt)
        self.steps_per_output = self.n_steps // options["n_outputs"]
        self.times = self.dt * np.arange(
            self.steps_per_output, self.n_steps + 1, self.steps_per_output, dtype=np.float64
        )
        # Mass rate during the window, so that the released mass is source_strength exactly.
        self.release_steps = (
            round(options["release_start"] / self.dt),
            round(options["release_end"] / self.dt),
        )
        self.release_rate = 1.0 / (self.dt * (self.release_steps[1] - self.release_steps[0]))

    def inflow_bcs(self, theta: float) -> list:
        """c = 0 on the sides the wind enters through (b.n < 0), cached per set of sides."""
        wind = (math.cos(theta), math.sin(theta))
        sides = tuple(side for side, n in SIDES.items() if wind[0] * n[0] + wind[1] * n[1] < -1e-12)
        if sides not in self._bcs:
            dofs = np.unique(np.concatenate([self._side_dofs[s] for s in sides]))
            self._bcs[sides] = [adr.zero_dirichlet(self.V, dofs)]
        return self._bcs[sides]

    def _vertex_values(self, u) -> dolfinx.fem.Function:
        output = dolfinx.fem.Function(self.space)
        output.interpolate(u)
        return output

    def solve(self, values: Mapping[str, float]) -> list:
        """Concentration(s) at the vertices (P1) for one sample: [c] or [c(t_1), ..., c(t_T)]."""
        for name, constant in self.values.items():
            constant.value = values[name]
        bcs = self.inflow_bcs(values["theta"])
        if self.times is None:
            return [self._vertex_values(self.solver.solve(bcs))]
        self.c_old.x.array[:] = 0.0
        self.solver.assemble_matrix(bcs)
        outputs = []
        for step in range(1, self.n_steps + 1):
            # Backward Euler evaluates the source at the new time t_step = step * dt.
            active = self.release_steps[0] < step <= self.release_steps[1]
            self.release.value = self.release_rate if active else 0.0
            c = self.solver.solve(bcs, assemble_matrix=False)
            self.c_old.x.array[:] = c.x.array
            if step % self.steps_per_output == 0:
                outputs.append(self._vertex_values(c))
        return outputs
