"""Benchmark: assembly and solve time of the steady plume against the number of dofs.

Writes JSON (default bench/results/solver.json): one record per (backend, mesh) with the dof
count, set-up time (mesh, forms, sparsity), matrix assembly time, solve time (right-hand side
assembly included), iterations, and the fitted growth exponent of each backend. Run serially
(one core) or under `mpirun -n K`; not a test, no timed assertions.

    python bench/solver.py [--resolutions 32 100 224 512 720] [--out bench/results/solver.json]
"""

try:  # the PyPI wheel loads its MPI/PETSc first; conda-forge's dolfinx has no such module
    import dolfinx_solver  # noqa: F401
except ImportError:
    pass

# isort: split
import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from mpi4py import MPI

from solvers import adr
from solvers.scenarios import plume

SAMPLE = {"x_s": 0.5, "y_s": 0.5, "theta": 0.1, "D": 0.01, "k": 0.5}
BACKENDS = {
    "direct-mumps": {"backend": "direct"},
    "gmres-gamg": {"backend": "iterative", "preconditioner": "gamg"},
    "gmres-ilu": {"backend": "iterative", "preconditioner": "ilu"},
}


def time_one(comm, resolution: int, solver: dict, repeats: int) -> dict:
    """Best-of-`repeats` assembly and solve times of one plume sample at one resolution."""
    start = time.perf_counter()
    model = plume.build(
        comm,
        {"resolution": resolution, "degree": 1},
        {"stabilisation": "supg", "rtol": 1e-10, "max_iterations": 5000, **solver},
        dict(plume.OPTIONS),
    )
    for name, constant in model.values.items():
        constant.value = SAMPLE[name]
    bcs = model.inflow_bcs(SAMPLE["theta"])
    setup = time.perf_counter() - start
    assemble, solve = [], []
    for _ in range(repeats):
        comm.Barrier()
        start = time.perf_counter()
        model.solver.assemble_matrix(bcs)
        comm.Barrier()
        middle = time.perf_counter()
        # A new matrix state makes PETSc redo the factorisation / preconditioner set-up.
        model.solver.solve(bcs, assemble_matrix=False)
        comm.Barrier()
        assemble.append(middle - start)
        solve.append(time.perf_counter() - middle)
    return {
        "resolution": resolution,
        "dofs": adr.global_dofs(model.V),
        "setup_s": setup,
        "assemble_s": min(assemble),
        "solve_s": min(solve),
        "total_s": min(a + s for a, s in zip(assemble, solve, strict=True)),
        "iterations": model.solver.iterations,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolutions", type=int, nargs="+", default=[32, 100, 224, 512, 720])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=list(BACKENDS))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results/solver.json")
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    records = []
    for backend in args.backends:
        for resolution in args.resolutions:
            record = {
                "backend": backend,
                **time_one(comm, resolution, BACKENDS[backend], args.repeats),
            }
            records.append(record)
            if comm.rank == 0:
                print(json.dumps(record), flush=True)
    if comm.rank != 0:
        return
    growth = {}
    for backend in args.backends:
        rows = [r for r in records if r["backend"] == backend and r["dofs"] >= 1e4]
        if len(rows) >= 2:
            slope = np.polyfit(
                np.log([r["dofs"] for r in rows]), np.log([r["total_s"] for r in rows]), 1
            )[0]
            growth[backend] = float(slope)
    result = {
        "benchmark": "steady plume, P1 + SUPG, one sample (assembly + solve)",
        "ranks": comm.size,
        "machine": platform.processor() or platform.machine(),
        "sample": SAMPLE,
        "records": records,
        "growth_exponent_total_vs_dofs": growth,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
