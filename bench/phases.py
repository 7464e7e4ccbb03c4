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
of the mean. Trains nothing; writes ``--out`` (default: beside the input, ``*_phases.json``).
"""

import argparse
import json
from pathlib import Path

from training import cost_to, spread

FRACTIONS = tuple(round(0.1 * k, 1) for k in range(1, 11))


def levels_along(records: list[dict], fractions=FRACTIONS) -> list[float]:
    """The lowest validation loss of ``records`` up to each fraction of its last FLOP count."""
    evaluated = [r for r in records if r["val_loss"] is not None]
    if not evaluated:
        raise ValueError("the baseline's curve has no validation loss")
    total = evaluated[-1]["flops"]
    out = []
    for f in fractions:
        upto = [r["val_loss"] for r in evaluated if r["flops"] <= f * total]
        out.append(min(upto) if upto else evaluated[0]["val_loss"])
    return out


def profile(base: list[dict], method: list[dict], fractions=FRACTIONS) -> list[dict]:
    """Per fraction: the level, each curve's FLOPs to reach it and the speed-up (None where
    the method does not reach it)."""
    rows = []
    for f, level in zip(fractions, levels_along(base, fractions), strict=True):
        base_flops, _ = cost_to(base, "val_loss", level)
        flops, _ = cost_to(method, "val_loss", level)
        rows.append(
            {
                "fraction": f,
                "level": level,
                "base_flops": base_flops,
                "flops": flops,
                "speedup": base_flops / flops if flops else None,
            }
        )
    return rows


def analyse(result: dict, base: str, method: str) -> dict:
    curves = result["curves"]
    for name in (base, method):
        if name not in curves:
            raise ValueError(f"no curves named {name!r}; the file has {sorted(curves)}")
    per_seed = {
        seed: profile(curves[base][seed], curves[method][seed])
        for seed in curves[base]
        if seed in curves[method]
    }
    if not per_seed:
        raise ValueError(f"{base!r} and {method!r} share no seed")
    summary = []
    for i, f in enumerate(FRACTIONS):
        speedups = [rows[i]["speedup"] for rows in per_seed.values()]
        reached = [s for s in speedups if s is not None]
        summary.append(
            {"fraction": f, "reached": f"{len(reached)}/{len(speedups)}", **spread(reached)}
        )
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
        speed = [f"{c['speedup']:.2f}" if c["speedup"] else "-" for c in cells]
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
    out.write_text(json.dumps(analysis, indent=1))
    print(markdown(analysis))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
