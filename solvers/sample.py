"""Latin-hypercube sample of a scenario's parameters and its train/val/test split.

CLI: `python -m solvers.sample --spec JSON --out results/<scenario>/samples.npz`, where the
spec holds the config keys scenario, seed, sampling and parameters. Format: docs/contracts.md.
"""

import argparse
import logging
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.stats import qmc

from solvers.config import check_config, parameter_ranges, split_counts
from solvers.io import parse_spec, save_npz_atomic
from solvers.parameters import Parameter

log = logging.getLogger(__name__)


def latin_hypercube(
    parameters: Sequence[Parameter], n_samples: int, rng: np.random.Generator
) -> np.ndarray:
    """An n_samples x P Latin-hypercube design (McKay et al. 1979), log-uniform where declared."""
    unit = qmc.LatinHypercube(d=len(parameters), rng=rng).random(n_samples)
    values = np.empty_like(unit)
    for j, p in enumerate(parameters):
        if p.log:
            low, high = np.log(p.low), np.log(p.high)
            values[:, j] = np.exp(low + unit[:, j] * (high - low))
        else:
            values[:, j] = p.low + unit[:, j] * (p.high - p.low)
    return values


def assign_split(
    n_samples: int, split: Mapping[str, float], rng: np.random.Generator
) -> np.ndarray:
    """A random train/val/test label per sample with the counts of `split_counts`."""
    counts = split_counts(n_samples, split)
    order = rng.permutation(n_samples)
    labels = np.empty(n_samples, dtype="<U5")
    start = 0
    for name in ("train", "val", "test"):
        labels[order[start : start + counts[name]]] = name
        start += counts[name]
    return labels


def make_samples(config: Mapping) -> dict[str, np.ndarray]:
    """The arrays of samples.npz for a config (checked first)."""
    check_config(config)
    parameters = parameter_ranges(config)
    seed = int(config["seed"])
    sampling = config["sampling"]
    # Independent streams, so that changing the parameter count keeps the split and vice versa.
    design_rng, split_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2)
    )
    n_samples = int(sampling["n_samples"])
    return {
        "params": latin_hypercube(parameters, n_samples, design_rng),
        "param_names": np.array([p.name for p in parameters]),
        "sample_ids": np.arange(n_samples, dtype=np.int64),
        "split": assign_split(n_samples, sampling["split"], split_rng),
        "seed": np.int64(seed),
    }


def main(argv: Sequence[str] | None = None) -> None:
    """CLI entry point: check the spec, sample, write samples.npz atomically."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="JSON: scenario, seed, sampling, parameters")
    parser.add_argument("--out", required=True, help="output samples.npz")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    samples = make_samples(parse_spec(args.spec))
    save_npz_atomic(args.out, **samples)
    log.info(
        "wrote %d samples of %s to %s", len(samples["params"]), samples["param_names"], args.out
    )


if __name__ == "__main__":
    main()
