"""Benchmark: settings of the node-Koopman training method against plain Adam.

    .venv/bin/python bench/koopman_method.py --dataset results/plume/dataset.npz \\
        --spec '{"check_points": 8192}' --seeds 0 1 2 \\
        --out bench/results/koopman_method.json        # 28 min on a slow 2-core CPU

(``check_points`` 8192: the checks of the stored JSON, the default until 2026-11-25.)

Plain Adam and the ``koopman`` method (Adam plus node-Koopman weight jumps,
surrogate/koopman/accelerator.py) with each of ``--variants`` (name -> complete
``train.koopman`` settings, so that changed defaults do not change the runs), on the default
network, optimizer and data (``--base`` / ``--spec`` as in bench/training.py), every seed.
The default variants: the paper's fits on consecutive steps, checked every 21 steps
(``paper``) or every 400 (``paper_every400``, ``warmup`` 380), and fits on snapshots averaged
over 20 steps with horizons of 40, 100 and 400 steps (``mean20_h*``), an attempt every 420
steps.

Speed-up = Adam's FLOPs to a validation-loss target / the variant's, all overheads counted,
targets from Adam's curve of the same seed (its final loss; QuACK's 1 % target), as in
bench/training.py. Each run is a separate process with one torch thread; two run at a time.
"""

import argparse
import json

from ablation import print_variant_table, variant_summary
from training import _run, add_spec_arguments, given_spec, machine, write_result

from surrogate.parallel import run_jobs
from surrogate.spec import resolve_spec

PAPER = {"window": 20, "horizon": 20, "chunk_size": 1, "affine": True, "rcond": 1e-10}
PAPER |= {"start": 1, "warmup": 0, "stride": 1}
VARIANTS = {
    "paper": PAPER,
    "paper_every400": PAPER | {"warmup": 380},
    "mean20_h40": PAPER | {"stride": 20, "horizon": 40},
    "mean20_h100": PAPER | {"stride": 20, "horizon": 100},
    "mean20_h400": PAPER | {"stride": 20, "horizon": 400},
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="results/plume/dataset.npz")
    add_spec_arguments(parser)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--variants",
        default=json.dumps(VARIANTS),
        help="JSON: name -> train.koopman settings over the spec's (default: VARIANTS)",
    )
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="bench/results/koopman_method.json")
    args = parser.parse_args(argv)

    try:
        spec = resolve_spec(given_spec(parser, args) | {"threads": 1, "device": "cpu"})
        variants = json.loads(args.variants)
        # Every variant resolved before any run, so that a bad one stops nothing half-done.
        specs = {
            name: resolve_spec(spec | {"koopman": spec["koopman"] | settings})
            for name, settings in variants.items()
        }
    except (json.JSONDecodeError, ValueError) as err:
        parser.error(f"--spec / --variants: {err}")
    jobs = [("adam", "adam", s, spec, args.dataset) for s in args.seeds]
    for name, variant in specs.items():
        jobs += [(name, "koopman", s, variant, args.dataset) for s in args.seeds]
    runs: dict[str, dict] = {}
    for name, seed, records, rel in run_jobs(_run, jobs, workers=args.jobs, desc="training runs"):
        runs.setdefault(name, {})[seed] = {"records": records, "test_rel_l2": rel}

    names = list(specs)
    per_seed, summary, adam = variant_summary(runs, args.seeds, names)
    write_result(
        args.out,
        {
            "dataset": args.dataset,
            "spec": spec,
            "seeds": args.seeds,
            "variants": {name: specs[name]["koopman"] for name in names},
            "machine": machine("cpu"),
            "summary": summary,
            "per_seed": per_seed,
            "adam": adam,
        },
    )
    print_variant_table(summary, per_seed)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
