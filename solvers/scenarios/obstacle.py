"""Steady plume around a building: a Gaussian source upstream of an obstacle in a channel.

-div(D grad c) + b.grad c + k c = f in the channel (0,3) x (0,1) minus a building (a disk or
a square, meshed with gmsh), with b = U grad(phi) the potential flow of inflow speed U
(divergence-free, slipping around the building, both in the weak sense of the P2 potential),
c = 0 on the inlet, no diffusive flux elsewhere. See solvers/channel.py for the flow problem.
"""

from solvers.parameters import Parameter
from solvers.scenarios._checks import require_positive

PARAMETERS = (
    Parameter("x_s", 0.3, 0.8, description="source centre, x (upstream of the building)"),
    Parameter("y_s", 0.3, 0.7, description="source centre, y"),
    Parameter("U", 0.5, 2.0, positive=True, description="inflow speed"),
    Parameter("D", 0.005, 0.05, log=True, positive=True, description="diffusivity"),
    Parameter("k", 0.0, 2.0, nonnegative=True, description="first-order decay rate"),
)

OPTIONS = {
    "length": 3.0,
    "height": 1.0,
    "building": "circle",
    "building_x": 1.25,
    "building_y": 0.5,
    "building_size": 0.3,
    "source_strength": 1.0,
    "source_width": 0.05,
}

TRANSIENT = False

BUILDINGS = ("circle", "square")


def check_options(options: dict) -> None:
    """Positive sizes, a known building shape, and a building strictly inside the channel."""
    if options["building"] not in BUILDINGS:
        raise ValueError(
            f"options.building: {options['building']!r} not allowed; use {' or '.join(BUILDINGS)}"
        )
    require_positive(
        options,
        ("length", "height", "building_size", "source_strength", "source_width"),
    )
    half = options["building_size"] / 2
    for name, extent in (("building_x", options["length"]), ("building_y", options["height"])):
        if not half < options[name] < extent - half:
            raise ValueError(
                f"options.{name}: {options[name]} puts the building (size "
                f"{options['building_size']}) outside the channel; need {half} < {name} < "
                f"{extent - half}"
            )


def build(comm, mesh: dict, solver: dict, options: dict):
    """The channel model (imports dolfinx and gmsh, so only when solving)."""
    from solvers.channel import ChannelModel

    return ChannelModel(comm, mesh, solver, options)
