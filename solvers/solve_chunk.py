"""Solve one chunk of the parameter sample and store the fields at the mesh vertices.

CLI (serial or under `mpiexec -n K`, same fields to round-off either way):

    python -m solvers.solve_chunk --spec JSON --samples results/plume/samples.npz \
        --chunk 0 --chunks 4 --out results/plume/chunks/chunk_0.npz \
        [--paraview results/plume/paraview/chunk_0.xdmf]

The spec holds the config keys scenario, parameters, mesh, solver, options and export. Chunk i
of n solves the i-th of n contiguous, near-equal blocks of sample ids. The chunk file is
written atomically by rank 0 (format: docs/contracts.md). The XDMF file holds the mesh and the
samples with id < export.paraview_samples that fall in this chunk, one ParaView time step per
sample (steady) or one time series per sample (transient).
"""

try:  # the PyPI wheel loads its MPI/PETSc first; conda-forge's dolfinx has no such module
    import dolfinx_solver  # noqa: F401
except ImportError:
    pass

# isort: split
import argparse
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import dolfinx
import dolfinx.io
import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

from solvers.adr import VertexGather
from solvers.config import check_config, parameter_ranges, scenario_module, scenario_options
from solvers.io import load_npz, parse_spec, save_npz_atomic

log = logging.getLogger(__name__)


class SolveError(RuntimeError):
    """A sample whose linear solve failed or produced non-finite values."""


def chunk_ids(n_samples: int, chunk: int, chunks: int) -> np.ndarray:
    """Sample ids of chunk `chunk` of `chunks`: contiguous blocks differing in size by <= 1."""
    if not 0 <= chunk < chunks:
        raise ValueError(f"--chunk: {chunk} not in [0, chunks={chunks})")
    if chunks > n_samples:
        raise ValueError(f"--chunks: {chunks} chunks for only {n_samples} samples")
    return np.array_split(np.arange(n_samples, dtype=np.int64), chunks)[chunk]


def _check_samples(samples: Mapping, spec: Mapping) -> None:
    expected = [p.name for p in parameter_ranges(spec)]
    names = [str(name) for name in samples["param_names"]]
    if names != expected:
        raise ValueError(
            f"--samples: parameters {names} do not match scenario {spec['scenario']!r} "
            f"parameters {expected}"
        )


class _ParaviewWriter:
    """XDMF output of selected samples (all ranks write collectively)."""

    def __init__(self, path: Path, model, transient: bool):
        self.transient = transient
        self.file = dolfinx.io.XDMFFile(model.space.mesh.comm, str(path), "w")
        self.file.write_mesh(model.space.mesh)
        self.times = model.times

    def write(self, sample_id: int, outputs: Sequence) -> None:
        for i, u in enumerate(outputs):
            if self.transient:
                u.name = f"concentration_sample_{sample_id}"
                self.file.write_function(u, float(self.times[i]))
            else:
                # Steady samples become ParaView time steps, so the slider browses samples.
                u.name = "concentration"
                self.file.write_function(u, float(sample_id))

    def close(self) -> None:
        self.file.close()


def solve_chunk(
    spec: Mapping,
    samples_path: str | Path,
    chunk: int,
    chunks: int,
    out: str | Path,
    paraview: str | Path | None = None,
    comm: MPI.Comm = MPI.COMM_WORLD,
) -> dict[str, np.ndarray] | None:
    """Solve the chunk's samples; rank 0 writes and returns the chunk arrays (None elsewhere)."""
    check_config(spec)
    module = scenario_module(spec)
    options = scenario_options(spec)
    samples = load_npz(samples_path)
    _check_samples(samples, spec)
    ids = chunk_ids(len(samples["params"]), chunk, chunks)
    names = [str(name) for name in samples["param_names"]]

    start = time.perf_counter()
    model = module.build(comm, spec["mesh"], spec["solver"], options)
    gather = VertexGather(model.space)
    n_export = spec.get("export", {}).get("paraview_samples", 0)
    writer = None
    if paraview is not None:
        Path(paraview).parent.mkdir(parents=True, exist_ok=True)
        writer = _ParaviewWriter(Path(paraview), model, module.TRANSIENT)
    if comm.rank == 0:
        log.info(
            "chunk %d/%d: %d samples of %s, %d vertices, set-up %.2f s",
            chunk,
            chunks,
            len(ids),
            spec["scenario"],
            len(gather.coords),
            time.perf_counter() - start,
        )

    fields = []
    start = time.perf_counter()
    report_every = max(1, len(ids) // 10)
    for count, sample_id in enumerate(ids, start=1):
        values = dict(zip(names, map(float, samples["params"][sample_id]), strict=True))
        try:
            outputs = model.solve(values)
        except (PETSc.Error, RuntimeError) as error:
            raise SolveError(f"sample {sample_id} with parameters {values}: {error}") from error
        field = [gather(u) for u in outputs]
        # Decided on rank 0 and broadcast, so that every rank raises together.
        finite = comm.bcast(bool(np.all(np.isfinite(field))) if comm.rank == 0 else None)
        if not finite:
            raise SolveError(f"sample {sample_id} with parameters {values}: non-finite field")
        if comm.rank == 0:
            fields.append(np.stack(field) if module.TRANSIENT else field[0])
        if writer is not None and sample_id < n_export:
            writer.write(int(sample_id), outputs)
        if comm.rank == 0 and (count % report_every == 0 or count == len(ids)):
            elapsed = time.perf_counter() - start
            log.info(
                "chunk %d: %d/%d samples solved, %.1f s, %.1f ms/sample",
                chunk,
                count,
                len(ids),
                elapsed,
                1e3 * elapsed / count,
            )
    if writer is not None:
        writer.close()
    if comm.rank != 0:
        return None
    arrays = {
        "sample_ids": ids,
        "fields": np.asarray(fields, dtype=np.float64),
        "coords": gather.coords,
        "cells": gather.cells,
    }
    if model.times is not None:
        arrays["times"] = np.asarray(model.times, dtype=np.float64)
    save_npz_atomic(out, **arrays)
    return arrays


def main(argv: Sequence[str] | None = None) -> None:
    """CLI entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="JSON: scenario, parameters, mesh, ...")
    parser.add_argument("--samples", required=True, help="samples.npz from solvers.sample")
    parser.add_argument("--chunk", type=int, required=True, help="chunk index, 0-based")
    parser.add_argument("--chunks", type=int, required=True, help="number of chunks")
    parser.add_argument("--out", required=True, help="output chunk .npz")
    parser.add_argument("--paraview", help="output .xdmf of the exported samples in the chunk")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    solve_chunk(
        parse_spec(args.spec), args.samples, args.chunk, args.chunks, args.out, args.paraview
    )


if __name__ == "__main__":
    main()
