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
(surrogate/report/savings.py), here for the curves a benchmark stored. It also gives the
speed-ups at bench/training.py's two targets of the baseline's curve (its final validation
loss, and QuACK's 1 % target). ``--base-from`` takes the baseline's curves from another file
(the same dataset: another one is refused; the spec keys that differ are printed and kept
in the output as ``base_spec_differs``), e.g. a constant-rate run against the cosine's Adam:

    .venv/bin/python bench/phases.py bench/results/averaging_constant3e-3.json \
        --base-from bench/results/averaging.json --method dmd_ema0.998

Trains nothing; writes ``--out`` (default: beside the input, ``*_phases.json``).
"""

import argparse
import sys
from pathlib import Path

from training import (
    NOT_READ_BY_ADAM,
    cost_to,
    read_result,
    spread,
    targets,
    with_defaults,
    write_result,
)

from surrogate.report.savings import curves_from_history, speedup_profile, summarise_profile


def target_speedups(base: dict, method: dict) -> dict:
    """Per seed and over the seeds that reach it: the FLOP speed-up of ``method``'s curves at
    bench/training.py's targets (``final``, ``quack_1pct``) of ``base``'s validation loss."""
    out = {}
    for name in ("final", "quack_1pct"):
        per_seed = {}
        for seed, records in base.items():
            if seed not in method:
                continue
            target = targets(records, "val_loss")[name]
            base_flops, _ = cost_to(records, "val_loss", target)
            flops, _ = cost_to(method[seed], "val_loss", target)
            per_seed[seed] = base_flops / flops if flops else None
        reached = [v for v in per_seed.values() if v is not None]
        out[name] = {"per_seed": per_seed, "reached": f"{len(reached)}/{len(per_seed)}"}
        out[name] |= spread(reached)
    return out


def analyse(result: dict, base: str, method: str, base_result: dict | None = None) -> dict:
    """The speed-up profile (surrogate.report.savings.speedup_profile) of ``method``'s curves
    against ``base``'s (from ``base_result`` if given, else from ``result``), per seed, and
    its mean, min and max over the seeds that reach each level; and the speed-ups at the
    baseline's targets."""
    base_file = (base_result if base_result is not None else result)["curves"]
    if base not in base_file:
        raise ValueError(f"no curves named {base!r}; the file has {sorted(base_file)}")
    if method not in result["curves"]:
        raise ValueError(f"no curves named {method!r}; the file has {sorted(result['curves'])}")
    # Kept apart: with --base-from, base and method may carry the same name.
    base_curves, method_curves = base_file[base], result["curves"][method]
    per_seed = {
        seed: speedup_profile(
            curves_from_history({"records": base_curves[seed]}),
            curves_from_history({"records": method_curves[seed]}),
        )
        for seed in base_curves
        if seed in method_curves
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
    return {
        "base": base,
        "method": method,
        "summary": summary,
        "per_seed": per_seed,
        "targets": target_speedups(base_curves, method_curves),
    }


def spec_differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    """The dotted keys (``optimizer.lr``) whose values differ between two specs."""
    out = []
    for key in sorted(a.keys() | b.keys()):
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            out += spec_differences(x, y, f"{prefix}{key}.")
        elif x != y:
            out.append(f"{prefix}{key}")
    return out


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
    for name, row in analysis["targets"].items():
        cells = [f"{v:.2f}" if v is not None else "-" for v in row["per_seed"].values()]
        mean = f"{row['mean']:.2f}" if row["mean"] is not None else "-"
        lines.append(
            f"| target {name} | | " + " | ".join(cells) + f" | {mean} ({row['reached']}) |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", help="a JSON written by bench/training.py or bench/frontier.py")
    parser.add_argument("--base", default="adam", help="the baseline's curves (default adam)")
    parser.add_argument("--method", default="dmd", help="the compared curves (default dmd)")
    parser.add_argument("--base-from", help="a file with the baseline's curves (default: RESULT)")
    parser.add_argument("--out", help="default: the input's name with _phases")
    args = parser.parse_args(argv)
    path = Path(args.result)

    def read(name: str) -> dict:
        try:
            data = read_result(name)
        except (OSError, ValueError) as err:  # JSONDecodeError is a ValueError
            parser.error(f"{name}: {err}")
        if not isinstance(data, dict) or not isinstance(data.get("curves"), dict):
            parser.error(f"{name}: not a benchmark result (no 'curves' object)")
        return data

    result = read(args.result)
    base_result = read(args.base_from) if args.base_from else None
    if base_result is not None and base_result.get("dataset") != result.get("dataset"):
        parser.error(
            f"{args.base_from} was run on {base_result.get('dataset')}, "
            f"{path} on {result.get('dataset')}: their curves do not compare"
        )
    try:
        analysis = analyse(result, args.base, args.method, base_result)
    except (KeyError, ValueError) as err:
        parser.error(f"{err} (RESULT {path}, baseline from {args.base_from or path})")
    analysis["source"] = str(path)
    if args.base_from:
        analysis["base_from"] = args.base_from
        # Another schedule for the baseline may be the point (a constant rate against the
        # tuned cosine); the keys that differ are said and kept, not refused. Specs stored
        # before a key existed have its default; an Adam baseline reads no DMD setting.
        ignored = NOT_READ_BY_ADAM if args.base.startswith("adam") else ("methods",)
        theirs, ours = (with_defaults(r.get("spec", {})) for r in (base_result, result))
        differ = [k for k in spec_differences(theirs, ours) if k.split(".")[0] not in ignored]
        analysis["base_spec_differs"] = differ
        if differ:
            print(
                f"note: the baseline's spec differs from {path}'s in {', '.join(differ)}",
                file=sys.stderr,
            )
    out = Path(args.out) if args.out else path.with_name(f"{path.stem}_phases.json")
    write_result(out, analysis)
    print(markdown(analysis))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
