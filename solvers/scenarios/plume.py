"""Steady pollutant plume: a Gaussian source in a uniform wind over the box (0,2) x (0,1).

-div(D grad c) + u.grad c + k c = f with u = (cos theta, sin theta),
f = Q/(2 pi s^2) exp(-|x - x_s|^2/(2 s^2)), c = 0 on the inflow boundary (u.n < 0), no
diffusive flux elsewhere: the test problem of Tano, Portwood & Ragusa (arXiv:2006.14371).
The mesh has (2r) x r cells for mesh.resolution r; fields are stored at its vertices.
"""

import math

from solvers.parameters import Parameter
from solvers.scenarios._checks import require_positive

PARAMETERS = (
    Parameter("x_s", 0.2, 0.8, description="source centre, x"),
    Parameter("y_s", 0.25, 0.75, description="source centre, y"),
    Parameter("theta", -math.pi / 8, math.pi / 8, description="wind angle from +x (rad)"),
    Parameter("D", 0.005, 0.05, log=True, positive=True, description="diffusivity"),
    Parameter("k", 0.0, 2.0, nonnegative=True, description="first-order decay rate"),
)

OPTIONS = {
    "length": 2.0,
    "height": 1.0,
    "wind_speed": 1.0,
    "source_strength": 1.0,
    "source_width": 0.05,
}

TRANSIENT = False


def check_options(options: dict) -> None:
    """All plume options are lengths, speeds or strengths: finite and > 0."""
    require_positive(options, OPTIONS)


def build(comm, mesh: dict, solver: dict, options: dict):
    """The steady box model (imports dolfinx, so only when solving)."""
    from solvers.box import BoxModel

    return BoxModel(comm, mesh, solver, options, transient=False)
