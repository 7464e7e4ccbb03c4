"""Transient puff: a Gaussian source released over a time window, carried by a uniform wind.

dc/dt - div(D grad c) + u.grad c + k c = f(t) on the box of the plume scenario, c(0) = 0,
with f switched on for release_start < t <= release_end at a rate releasing the mass
source_strength in total. Backward Euler in time (unconditionally stable, no oscillations in
time at large steps): the matrix is assembled and factorised once per sample. Fields are
stored at n_outputs equally spaced times up to t_end (dataset `times`, fields S x T x N).
"""

from solvers.scenarios import plume
from solvers.scenarios._checks import require_multiple, require_positive

PARAMETERS = plume.PARAMETERS

OPTIONS = {
    **plume.OPTIONS,
    "t_end": 1.0,
    "dt": 0.02,
    "release_start": 0.0,
    "release_end": 0.2,
    "n_outputs": 10,
}

TRANSIENT = True


def check_options(options: dict) -> None:
    """Positive sizes; the release window and t_end on the dt grid; outputs on whole steps."""
    plume.check_options(options)
    require_positive(options, ("t_end", "dt", "release_end", "n_outputs"))
    if isinstance(options["n_outputs"], float):
        raise ValueError(f"options.n_outputs: must be an integer, got {options['n_outputs']}")
    start, end = options["release_start"], options["release_end"]
    if not 0 <= start < end <= options["t_end"]:
        raise ValueError(
            f"options.release_start/release_end: need 0 <= start < end <= t_end="
            f"{options['t_end']}, got {start}, {end}"
        )
    n_steps = require_multiple(options, "t_end", options["dt"])
    require_multiple(options, "release_start", options["dt"])
    require_multiple(options, "release_end", options["dt"])
    if n_steps % options["n_outputs"]:
        raise ValueError(
            f"options.n_outputs: {options['n_outputs']} must divide the {n_steps} time steps"
        )


def build(comm, mesh: dict, solver: dict, options: dict):
    """The backward-Euler box model (imports dolfinx, so only when solving)."""
    from solvers.box import BoxModel

    return BoxModel(comm, mesh, solver, options, transient=True)
