"""Command line of the Koopman analyses: `python -m surrogate.koopman {run,summary} ...`.

run: one analysis on a dataset.npz, writing its JSON summary and its figure.
summary: merge the analyses' JSON files into koopman/summary.json (with their figures).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from surrogate.data import load_dataset
from surrogate.koopman import analyses, harness, plots
from surrogate.koopman.config import ANALYSES, resolve

log = logging.getLogger("surrogate.koopman")


def load_matrices(path) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """M and K from the CSR arrays written by solvers/sobolev.py."""
    with np.load(path) as data:
        shape = tuple(data["shape"])
        return tuple(
            sp.csr_matrix(
                (data[f"{n}_data"], data[f"{n}_indices"], data[f"{n}_indptr"]), shape=shape
            )
            for n in ("mass", "stiffness")
        )


def run_analysis(name: str, dataset: str, section: dict, fem_matrices: str | None = None) -> dict:
    """Run analysis `name` with the resolved `koopman` section; returns its summary."""
    if name not in ANALYSES:
        raise ValueError(f"analysis must be one of {ANALYSES}, got {name!r}")
    cfg = resolve(section)
    torch.set_num_threads(cfg["threads"])
    net, sub, seed = cfg["network"], cfg[name], cfg["seed"]
    if name == "sobolev":
        field = mass = stiffness = None
        if sub["fem"]:
            if fem_matrices is None:
                raise ValueError("koopman.sobolev.fem is true but no --fem-matrices file given")
            data = load_dataset(dataset)
            coords, fields = data.coords, data.fields
            sample = fields[sub["fem_sample"]].reshape(-1, coords.shape[0])[-1]
            # Normalised so the noise levels mean the same as on the periodic signal.
            field = (coords, sample / np.sqrt(np.mean(sample**2)))
            mass, stiffness = load_matrices(fem_matrices)
        out = analyses.sobolev(sub, seed, field, mass, stiffness)
        out["s"] = sub["s"]
        return out
    problem = harness.load_problem(dataset, cfg["n_modes"], cfg["max_train_samples"])
    if name == "node":
        return analyses.node_koopman(problem, sub, net, seed)
    if name == "stopping":
        return {**analyses.stopping(problem, sub, net, sub["seeds"]), "radius": sub["radius"]}
    if name == "badinit":
        keys = ("max_frozen_fraction", "growth_tol", "outcome_factor")
        return {**analyses.bad_init(problem, sub, net), **{k: sub[k] for k in keys}}
    if name == "depth":
        return analyses.depth_selection(problem, sub, net, seed)
    return analyses.pruning(problem, sub, net, seed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m surrogate.koopman", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one analysis")
    run.add_argument("analysis", choices=ANALYSES)
    run.add_argument("--dataset", required=True)
    run.add_argument("--spec", default="{}", help="the koopman config section as JSON")
    run.add_argument("--fem-matrices", default=None, help="npz of M and K (solvers/sobolev.py)")
    run.add_argument("--json", required=True)
    run.add_argument("--figure", required=True)
    summary = commands.add_parser("summary", help="merge analysis JSON files")
    summary.add_argument("--inputs", nargs="+", required=True)
    summary.add_argument("--figures", nargs="+", required=True)
    summary.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    if args.command == "run":
        section = json.loads(args.spec)
        start = time.perf_counter()
        result = run_analysis(args.analysis, args.dataset, section, args.fem_matrices)
        result["wall_s"] = time.perf_counter() - start
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))
        plots.PLOTS[args.analysis](result, args.figure)
        log.info(
            "%s done in %.1f s -> %s, %s", args.analysis, result["wall_s"], args.json, args.figure
        )
        return
    merged = {}
    for path, figure in zip(args.inputs, args.figures, strict=True):
        name = Path(path).stem
        merged[name] = {**json.loads(Path(path).read_text()), "figures": [str(figure)]}
    Path(args.out).write_text(json.dumps(merged, indent=1))
    log.info("summary of %s -> %s", sorted(merged), args.out)


if __name__ == "__main__":
    main()
