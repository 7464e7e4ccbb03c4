"""Benchmark analysis: where along a run the jumps save, from curves already measured.

    .venv/bin/python bench/phases.py bench/results/training.json        # dmd against adam
    .venv/bin/python bench/phases.py bench/results/frontier_b1024_checks2048.json \\
        --base adam_T26000 --method dmd_T26000

bench/training.py and bench/frontier.py compare the methods at one or a few loss levels near
the end of training. This reads the curves they store and compares them at the losses the
baseline has reached after each tenth of its FLOPs: the level at fraction f is the lowest
validation loss of the baseline's records up to f of its FLOPs, and the speed-up there is the
FLOPs the baseline first reaches that level with, divided by the method's (both counted as
in bench/training.py, every overhead included). A level the method never reaches is left out
of the mean. It is the profile the workflow's report writes into savings.md for its own runs
(surrogate/report/savings.py), here for the curves a benchmark stored. Trains nothing; writes
``--out`` (default: beside the input, ``*_phases.json``).
"""

import argparse
import json
from pathlib import Path

from training import write_result

from surrogate.report.savings import curves_from_history, speedup_profile, summarise_profile


def analyse(result: dict, base: str, method: str) -> dict:
    """The speed-up profile (surrogate.report.savings.speedup_profile) of ``method``'s curves
    against ``base``'s, per seed, and its mean, min and max over the seeds that reach each
    level."""
    curves = result["curves"]
    for name in (base, method):
        if name not in curves:
            raise ValueError(f"no curves named {name!r}; the file has {sorted(curves)}")
    per_seed = {
        seed: speedup_profile(
            curves_from_history({"records": curves[base][seed]}),
            curves_from_history({"records": curves[method][seed]}),
        )
        for seed in curves[base]
        if seed in curves[method]
    }
    if not per_seed:
        raise ValueError(f"{base!r} and {method!r} share no seed")
    records = [
        {"loss": "val_loss", "method": method, "seed": seed, **row}
        for seed, rows in per_seed.items()
        for row in rows
    ]
    summary = [
        {
            "fraction": row["fraction"],
            "reached": f"{row['n_reached']}/{row['n_seeds']}",
            **(row["speedup"] or {"mean": None, "std": None, "min": None, "max": None}),
        }
        for row in summarise_profile(records)
    ]
    return {"base": base, "method": method, "summary": summary, "per_seed": per_seed}


def markdown(analysis: dict) -> str:
    seeds = list(analysis["per_seed"])
    lines = [
        f"| fraction of {analysis['base']}'s FLOPs | level | "
        + " | ".join(f"seed {s}" for s in seeds)
        + f" | {analysis['method']} speed-up, mean (reached) |",
        "|---" * (len(seeds) + 3) + "|",
    ]
    for i, row in enumerate(analysis["summary"]):
        cells = [analysis["per_seed"][s][i] for s in seeds]
        levels = [c["level"] for c in cells]
        speed = [f"{c['speedup']:.2f}" if c["speedup"] is not None else "-" for c in cells]
        mean = f"{row['mean']:.2f}" if row["mean"] is not None else "-"
        lines.append(
            f"| {row['fraction']:.1f} | {min(levels):.5f}-{max(levels):.5f} | "
            + " | ".join(speed)
            + f" | {mean} ({row['reached']}) |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", help="a JSON written by bench/training.py or bench/frontier.py")
    parser.add_argument("--base", default="adam", help="the baseline's curves (default adam)")
    parser.add_argument("--method", default="dmd", help="the compared curves (default dmd)")
    parser.add_argument("--out", help="default: the input's name with _phases")
    args = parser.parse_args(argv)
    path = Path(args.result)
    try:
        analysis = analyse(json.loads(path.read_text()), args.base, args.method)
    except (OSError, json.JSONDecodeError, KeyError, ValueError) as err:
        parser.error(f"{path}: {err}")
    analysis["source"] = str(path)
    out = Path(args.out) if args.out else path.with_name(f"{path.stem}_phases.json")
    write_result(out, analysis)
    print(markdown(analysis))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
