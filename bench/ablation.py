"""Benchmark: which settings of the POD-DMD accelerator save most on the default network.

    .venv/bin/python bench/ablation.py --dataset results/plume/dataset.npz \\
        --seeds 0 1 2 --out bench/results/ablation.json                    # about 45 min

Plain Adam and the DMD method with each variant of ``VARIANTS`` (complete accelerator
settings, so that changed defaults do not change the runs) on the default network and data,
every seed, all with Adam at a constant learning rate of 1e-3 (``--optimizer constant_lr1e-3``,
the default when the variants were chosen), or on another optimizer of ``OPTIMIZERS``: with
``cosine_lr1e-2`` (lr 1e-2 decayed by a cosine, the default when those rows were measured)
the ``default_*`` variants change one setting of the default accelerator:

    .venv/bin/python bench/ablation.py --optimizer cosine_lr1e-2 --variants \\
        mean_stride20_window15_rescale default_horizon20 default_window10 \\
        default_zero_first default_horizon3200 default_refit default_horizon3200_refit \\
        --out bench/results/ablation_cosine.json

``--optimizer default`` takes the default optimizer of the time, lr 3e-2 with a cosine. Every
run is on the 4096-point batches of those defaults (``training.BATCH4096``).

Speed-up = Adam's FLOPs to a validation-loss target / the variant's, all overheads counted,
targets from Adam's curve of the same seed (its final loss; QuACK's 1 % target), as in
bench/training.py. Each run is a separate process with one torch thread; two run at a time.
"""

import argparse
import json
from pathlib import Path

from training import (
    FRESH_WINDOWS,
    _run,
    compare,
    final_val,
    jump_counts,
    machine,
    merge,
    overhead,
    summarise,
)

from surrogate.parallel import run_jobs
from surrogate.spec import resolve_spec

# Optimizers the rows were measured on: the defaults of their time (None: BATCH4096's).
OPTIMIZERS = {
    "constant_lr1e-3": {"lr": 0.001, "schedule": "constant"},
    "cosine_lr1e-2": {"lr": 0.01, "schedule": "cosine"},
    "default": None,
}
# Snapshots of the weights every 10 steps (the accelerator before mean snapshots).
SAMPLE = {
    "snapshots": "sample",
    "stride": 10,
    "window": 20,
    "horizon": 1600,
    "max_backtracks": 5,
    "search": "longest",
    "moments": "keep",
    "apply": "at_once",
}
MEAN = SAMPLE | {"snapshots": "mean"}
VARIANTS = {
    "sample": SAMPLE,
    "mean": MEAN,
    # Jumps of 10 steps at most: what restarting from the averaged weights alone is worth.
    "mean_horizon10": MEAN | {"horizon": 10, "max_backtracks": 0},
    "mean_search_best": MEAN | {"search": "best"},
    "mean_stride5": MEAN | {"stride": 5},
    "mean_stride20": MEAN | {"stride": 20},
    "mean_window30": MEAN | {"window": 30},
    "mean_rescale": MEAN | {"moments": "rescale"},
    "mean_stride15_rescale": MEAN | {"stride": 15, "moments": "rescale"},
    "mean_stride20_rescale": MEAN | {"stride": 20, "moments": "rescale"},
    # The default of surrogate/spec.py until search "warm" (the same jumps with fewer checks,
    # default_warm below) and moments "zero_first": a jump attempt every 300 steps.
    "mean_stride20_window15_rescale": MEAN | {"stride": 20, "window": 15, "moments": "rescale"},
}
DEFAULT = VARIANTS["mean_stride20_window15_rescale"]
VARIANTS |= {
    # Jumps of one 20-step interval: restarts from the averaged weights, nearly no extrapolation.
    "default_horizon20": DEFAULT | {"horizon": 20, "max_backtracks": 0},
    "default_window10": DEFAULT | {"window": 10},
    "default_zero_first": DEFAULT | {"moments": "zero_first"},
    "default_horizon3200": DEFAULT | {"horizon": 3200, "max_backtracks": 6},
    # The output layer solved by least squares on the check pairs after each extrapolation.
    "default_refit": DEFAULT | {"landing": "refit_output"},
    "default_horizon3200_refit": DEFAULT
    | {"horizon": 3200, "max_backtracks": 6, "landing": "refit_output"},
    # The same choice of horizon as "longest", searched from the last accepted one.
    "default_warm": DEFAULT | {"search": "warm"},
}


def variant_summary(runs: dict, seeds: list[int], names: list[str]) -> tuple[dict, dict, dict]:
    """Per seed and over the seeds, each variant's speed-ups on the validation loss (as
    bench/training.py computes them for its methods), final loss, test error, jumps and
    overhead against ``runs["adam"]``; and Adam's own final loss and test error."""
    table = compare(runs, seeds)
    by_target = summarise(table, names)
    targets = ("final", "quack_1pct")
    per_seed, summary = {}, {}
    for name in names:
        rows = {}
        for seed in seeds:
            run = runs[name][seed]
            records = run["records"]
            rows[str(seed)] = {
                "flops_speedup": {
                    t: table[f"val_loss/{t}"][str(seed)][name]["flops_speedup"] for t in targets
                },
                "final_val_loss": final_val(records),
                "test_rel_l2": run["test_rel_l2"],
                **jump_counts(records),
                "overhead": overhead(records, runs["adam"][seed]["records"]),
            }
        per_seed[name] = rows
        summary[name] = {t: by_target[f"val_loss/{t}"][name]["flops_speedup"] for t in targets}
    adam = {
        str(s): {
            "final_val_loss": final_val(runs["adam"][s]["records"]),
            "test_rel_l2": runs["adam"][s]["test_rel_l2"],
        }
        for s in seeds
    }
    return per_seed, summary, adam


def print_variant_table(summary: dict, per_seed: dict) -> None:
    """The markdown table of ``variant_summary``'s results."""
    print(
        "| variant | val, Adam's final | val, QuACK 1 % | final val. loss | test rel. L2 | "
        "overhead, % of the backprop replaced |\n|---|---|---|---|---|---|"
    )
    for name, by_target in summary.items():
        cells = [
            "not reached"
            if t["mean"] is None
            else f"{t['mean']:.2f} [{t['min']:.2f}-{t['max']:.2f}] ({t['reached']})"
            for t in by_target.values()
        ]
        finals = [r["final_val_loss"] for r in per_seed[name].values()]
        cells.append(" / ".join(f"{x:.5f}" for x in finals))
        errors = [r["test_rel_l2"] for r in per_seed[name].values()]
        cells.append(f"{min(errors):.3f}-{max(errors):.3f}")
        shares = [r["overhead"]["of_replaced"] for r in per_seed[name].values()]
        shares = [100 * x for x in shares if x is not None]
        cells.append(f"{min(shares):.1f}-{max(shares):.1f}" if shares else "-")
        print(f"| {name} | " + " | ".join(cells) + " |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="results/plume/dataset.npz")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="default: the spec's steps")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--optimizer",
        default="constant_lr1e-3",
        choices=list(OPTIMIZERS),
        help="Adam's rate and schedule for every run (default: constant lr 1e-3)",
    )
    parser.add_argument("--out", default="bench/results/ablation.json")
    args = parser.parse_args(argv)

    optimizer = OPTIMIZERS[args.optimizer]
    # Measured with the fresh windows of their time (the variants set their own windows).
    given = merge(FRESH_WINDOWS, {"threads": 1} | ({"optimizer": optimizer} if optimizer else {}))
    given |= {"steps": args.steps} if args.steps else {}
    spec = resolve_spec(given)
    spec["device"] = "cpu"
    jobs = [("adam", "adam", s, spec, args.dataset) for s in args.seeds]
    for name in args.variants:
        variant = spec | {"dmd": spec["dmd"] | VARIANTS[name]}
        jobs += [(name, "dmd", s, variant, args.dataset) for s in args.seeds]
    runs: dict[str, dict] = {}
    for name, seed, records, rel in run_jobs(_run, jobs, workers=args.jobs, desc="training runs"):
        runs.setdefault(name, {})[seed] = {"records": records, "test_rel_l2": rel}

    per_seed, summary, adam = variant_summary(runs, args.seeds, args.variants)
    result = {
        "dataset": args.dataset,
        "spec": spec,
        "seeds": args.seeds,
        "variants": {name: VARIANTS[name] for name in args.variants},
        "machine": machine("cpu"),
        "summary": summary,
        "per_seed": per_seed,
        "adam": adam,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print_variant_table(summary, per_seed)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
