"""Gather the solve chunks into the dataset file of docs/contracts.md.

CLI: `python -m solvers.dataset --scenario plume --samples results/plume/samples.npz
--chunks results/plume/chunks/chunk_0.npz ... --out results/plume/dataset.npz`.
"""

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from solvers.io import load_npz, save_npz_atomic

log = logging.getLogger(__name__)


def gather_dataset(
    scenario: str, samples_path: str | Path, chunk_paths: Sequence[str | Path]
) -> dict[str, np.ndarray]:
    """The dataset arrays, fields ordered by sample id; ValueError if the chunks disagree."""
    samples = load_npz(samples_path)
    n_samples = len(samples["sample_ids"])
    chunks = [load_npz(path) for path in chunk_paths]
    if not chunks:
        raise ValueError("--chunks: no chunk files given")
    first = chunks[0]
    shared = [key for key in ("coords", "cells", "times") if key in first]
    for path, chunk in zip(chunk_paths, chunks, strict=True):
        for key in shared:
            if key not in chunk or not np.array_equal(chunk[key], first[key]):
                raise ValueError(f"{path}: {key!r} differs from {chunk_paths[0]}")
    ids = np.concatenate([chunk["sample_ids"] for chunk in chunks])
    if len(ids) != n_samples or not np.array_equal(np.sort(ids), samples["sample_ids"]):
        missing = sorted(set(samples["sample_ids"].tolist()) - set(ids.tolist()))
        raise ValueError(
            f"--chunks: sample ids do not cover 0..{n_samples - 1} exactly once "
            f"(missing {missing[:10]}, {len(ids)} ids in {len(chunks)} chunks)"
        )
    fields = np.empty_like(np.concatenate([chunk["fields"] for chunk in chunks]))
    fields[ids] = np.concatenate([chunk["fields"] for chunk in chunks])
    dataset = {
        "params": samples["params"],
        "param_names": samples["param_names"],
        "coords": first["coords"],
        "cells": first["cells"].astype(np.int64),
        "fields": fields,
        "split": samples["split"],
        "sample_ids": samples["sample_ids"],
        "scenario": np.array(scenario),
    }
    if "times" in first:
        dataset["times"] = first["times"]
    return dataset


def main(argv: Sequence[str] | None = None) -> None:
    """CLI entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", required=True, help="scenario name stored in the dataset")
    parser.add_argument("--samples", required=True, help="samples.npz")
    parser.add_argument("--chunks", nargs="+", required=True, help="chunk .npz files")
    parser.add_argument("--out", required=True, help="output dataset.npz")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    dataset = gather_dataset(args.scenario, args.samples, args.chunks)
    save_npz_atomic(args.out, **dataset)
    log.info(
        "wrote %s: fields %s, %d vertices",
        args.out,
        dataset["fields"].shape,
        len(dataset["coords"]),
    )


if __name__ == "__main__":
    main()
