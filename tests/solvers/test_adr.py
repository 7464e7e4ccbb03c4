"""Convergence of the ADR discretisation against manufactured and exact solutions."""

try:  # the PyPI wheel loads its MPI/PETSc first; conda-forge's dolfinx has no such module
    import dolfinx_solver  # noqa: F401
except ImportError:
    pass

# isort: split
import dolfinx
import numpy as np
import pytest
import ufl
from mpi4py import MPI

from solvers import adr


def smooth(x, m):
    """Manufactured solution, written once for numpy (m=np) and UFL (m=ufl)."""
    return 1 + x[0] ** 2 + m.sin(m.pi * x[0]) * m.cos(m.pi * x[1])


def boundary_layer(eps):
    """Exact solution of -eps c'' + c' = 1, c(0) = c(1) = 0: a layer of width eps at x = 1."""

    def exact(x, m):
        return x[0] - (m.exp((x[0] - 1) / eps) - np.exp(-1 / eps)) / (1 - np.exp(-1 / eps))

    return exact


def solve_manufactured(n, degree, D, b, k, stabilisation, exact=smooth, dt=None, steps=1):
    """Solve on an n x n unit square with f and Dirichlet data from `exact(x, t)`.

    Steady when dt is None; otherwise `steps` backward-Euler steps from c(0) = exact at t = 0,
    with `exact` then a function of (x, t, m). Returns the solution and the L2 and H1-seminorm
    errors at the final time.
    """
    mesh = dolfinx.mesh.create_unit_square(MPI.COMM_SELF, n, n)
    V = dolfinx.fem.functionspace(mesh, ("Lagrange", degree))
    x = ufl.SpatialCoordinate(mesh)
    wind = ufl.as_vector(b)
    t = dolfinx.fem.Constant(mesh, 0.0)
    if dt is None:
        c_exact, dcdt = exact(x, ufl), 0
    else:
        time = ufl.variable(t)
        c_exact = exact(x, time, ufl)
        dcdt = ufl.diff(c_exact, time)
    f = dcdt - ufl.div(D * ufl.grad(c_exact)) + ufl.dot(wind, ufl.grad(c_exact)) + k * c_exact
    coefficients = adr.Coefficients(
        D=dolfinx.fem.Constant(mesh, D), b=wind, k=dolfinx.fem.Constant(mesh, float(k)), f=f
    )
    c_old = dolfinx.fem.Function(V)
    step = None if dt is None else dolfinx.fem.Constant(mesh, dt)
    a, L = adr.adr_forms(V, coefficients, stabilisation, step, c_old)
    solver = adr.LinearSolver(V, a, L, adr.petsc_options({"backend": "direct"}, 0))
    mesh.topology.create_connectivity(1, 2)
    dofs = adr.boundary_dofs(V, dolfinx.mesh.exterior_facet_indices(mesh.topology))
    g = dolfinx.fem.Function(V)
    bcs = [dolfinx.fem.dirichletbc(g, dofs)]
    if dt is None:
        g.interpolate(lambda p: exact(p, np))
        c = solver.solve(bcs)
    else:
        c_old.interpolate(lambda p: exact(p, 0.0, np))
        solver.assemble_matrix(bcs)
        for i in range(1, steps + 1):
            t.value = i * dt
            g.interpolate(lambda p, time=i * dt: exact(p, time, np))
            c = solver.solve(bcs, assemble_matrix=False)
            c_old.x.array[:] = c.x.array
    dx = ufl.dx(metadata={"quadrature_degree": degree + 5})
    error = c - c_exact
    l2 = dolfinx.fem.assemble_scalar(dolfinx.fem.form(error**2 * dx))
    h1 = dolfinx.fem.assemble_scalar(
        dolfinx.fem.form(ufl.inner(ufl.grad(error), ufl.grad(error)) * dx)
    )
    return c, np.sqrt(l2), np.sqrt(h1)


def observed_rates(errors):
    """log2 of successive error ratios (mesh size halved each time)."""
    errors = np.asarray(errors)
    return np.log2(errors[:-1] / errors[1:])


@pytest.mark.parametrize(
    ("degree", "sizes", "l2_rate", "h1_rate"),
    [(1, (8, 16, 32), 2.0, 1.0), (2, (4, 8, 16), 3.0, 2.0)],
)
def test_diffusion_dominated_rates(degree, sizes, l2_rate, h1_rate):
    """Pk Lagrange converges at h^(k+1) in L2 and h^k in H1 (a priori estimates)."""
    errors = [solve_manufactured(n, degree, 1.0, (1.0, 0.5), 1.0, "supg")[1:] for n in sizes]
    l2, h1 = np.array(errors).T
    assert observed_rates(l2) == pytest.approx([l2_rate, l2_rate], abs=0.1)
    assert observed_rates(h1) == pytest.approx([h1_rate, h1_rate], abs=0.1)


def test_supg_converges_at_high_peclet_and_beats_galerkin():
    """At Pe ~ 1e4 SUPG keeps the L2 order (>= 1.5 in theory, 2 here for a smooth solution)."""
    sizes = (8, 16, 32)
    supg = [solve_manufactured(n, 1, 1e-6, (1.0, 0.5), 1.0, "supg")[1] for n in sizes]
    galerkin = solve_manufactured(8, 1, 1e-6, (1.0, 0.5), 1.0, "none")[1]
    assert np.all(observed_rates(supg) > 1.9)
    assert supg[0] < 0.6 * galerkin


def test_supg_removes_boundary_layer_oscillations():
    """Cell Peclet 31: Galerkin oscillates across the domain, SUPG stays monotone and accurate."""
    exact = boundary_layer(1e-3)
    results = {}
    for stabilisation in ("supg", "none"):
        c, _, _ = solve_manufactured(16, 1, 1e-3, (1.0, 0.0), 0.0, stabilisation, exact=exact)
        points = c.function_space.tabulate_dof_coordinates()
        away = points[:, 0] < 1 - 2 / 16
        nodal_error = np.abs(c.x.array - exact(points.T, np))[away].max()
        results[stabilisation] = (nodal_error, c.x.array.min())
    assert results["supg"][0] < 0.03
    assert results["supg"][1] > -1e-10
    assert results["none"][0] > 1.0
    assert results["none"][1] < -0.5


def test_backward_euler_exact_in_time_for_linear_growth():
    """c = t phi(x): backward Euler has no time error, so large steps keep the h^2 L2 rate."""

    def growing(x, t, m):
        return t * smooth(x, m)

    errors = [
        solve_manufactured(n, 1, 1.0, (1.0, 0.5), 1.0, "supg", growing, dt=0.25, steps=4)[1]
        for n in (8, 16, 32)
    ]
    assert observed_rates(errors) == pytest.approx([2.0, 2.0], abs=0.1)


def test_backward_euler_first_order_in_time():
    """c = exp(-t) phi(x) on a fine P2 mesh: halving dt halves the error (order 1)."""

    def decaying(x, t, m):
        return m.exp(-t) * smooth(x, m)

    errors = [
        solve_manufactured(
            16, 2, 0.1, (1.0, 0.5), 0.0, "supg", decaying, dt=dt, steps=round(1 / dt)
        )[1]
        for dt in (0.2, 0.1, 0.05)
    ]
    assert observed_rates(errors) == pytest.approx([1.0, 1.0], abs=0.1)


@pytest.mark.parametrize("peclet", [0.0, 1e-4, 0.3, 1.0, 7.0, 2000.0])
def test_supg_tau_matches_closed_form(peclet):
    """tau = h/(2|b|)(coth Pe - 1/Pe); its limits h^2/(12 D) (Pe -> 0) and h/(2|b|) (Pe -> oo)."""
    mesh = dolfinx.mesh.create_unit_square(MPI.COMM_SELF, 1, 1)
    h, D = 0.1, 0.01
    speed = 2 * D * peclet / h
    b = ufl.as_vector(
        (dolfinx.fem.Constant(mesh, 0.6 * speed), dolfinx.fem.Constant(mesh, 0.8 * speed))
    )
    tau = dolfinx.fem.assemble_scalar(dolfinx.fem.form(adr.supg_tau(h, b, D) * ufl.dx(domain=mesh)))
    if peclet == 0.0:
        expected = h**2 / (12 * D)
    else:
        expected = h / (2 * speed) * (1 / np.tanh(peclet) - 1 / peclet)
    # The closed form in float64 itself loses ~1e-8 to cancellation at Pe = 1e-4.
    assert tau == pytest.approx(expected, rel=1e-7)
    if peclet == 2000.0:
        assert tau == pytest.approx(h / (2 * speed), rel=1e-3)
