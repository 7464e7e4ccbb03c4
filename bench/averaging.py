"""Benchmark: the jumps against, and on top of, an exponential average of the weights.

    .venv/bin/python bench/averaging.py --dataset results/plume/dataset.npz \\
        --seeds 0 1 2 --out bench/results/averaging.json  # 24 min on a slow 2-core CPU (+ CI)

bench/phases.py shows that on the default run the jumps reach the losses of the high
learning rate sooner and those of the cosine's decay at Adam's cost. Part of what a jump does
(landing on the mean of averaged snapshots) is what averaging the weights does, which lowers
the loss of a noisy iterate without moving it. This trains Adam and the DMD method as
surrogate.train does (the same spec, initial weights, batches and schedule: every run's
validation losses and FLOPs at the evaluated steps are the workflow's; the runs go to
train.steps, so flop_budget and stop_val_loss must be 0) and keeps, beside each run's
weights, exponential moving averages of them (decays ``--decays``), whose validation loss is
measured whenever the run's is. An average (surrogate.averaging, as train.ema keeps one) is
charged 3 FLOPs per parameter and step (subtract, scale, add) on top of the run it follows;
it is never fed back into training.

Speed-ups along the run, by bench/phases.py's analyse (surrogate.report.savings), for:
each average against plain Adam, the DMD method against Adam, and the DMD method's average
against Adam's average of the same decay (what the jumps add on top of averaging).
``--methods dmd`` trains the DMD method alone, for a comparison with Adam's curves of
another file (the same spec and seeds) by ``bench/phases.py --base-from``.
"""

import argparse
import json
import sys
from pathlib import Path

import torch
from phases import analyse
from training import machine, write_result

from surrogate.averaging import WeightAverage
from surrogate.data import load_dataset
from surrogate.parallel import run_jobs
from surrogate.report.savings import PROFILE_FRACTIONS
from surrogate.spec import resolve_spec
from surrogate.train import set_up


def train_with_averages(job: tuple) -> tuple[str, int, dict[str, list[dict]]]:
    """One run of ``method`` and its averages: curve name -> records (evaluated steps)."""
    method, seed, spec, dataset, decays = job
    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    device = torch.device(spec["device"])
    run = set_up(load_dataset(dataset), method, seed, spec, device)
    problem, model = run.problem, run.model
    averages = {d: WeightAverage(model, d) for d in decays}
    curves = {method: [], **{f"{method}_ema{d:g}": [] for d in decays}}
    flops = 0
    for step in range(1, spec["steps"] + 1):
        loss, spent, _ = run.step()
        flops += spent
        for average in averages.values():
            average.update(model)
        if step % spec["eval_every"]:
            continue
        with torch.no_grad():
            # The curves keep evaluated steps only, and no events or timings.
            record = {"step": step, "flops": flops, "wall_s": 0.0, "event": None}
            val = float(problem.loss(model, "val"))
            curves[method].append(record | {"train_loss": float(loss), "val_loss": val})
            for d, average in averages.items():
                charged = flops + average.flops_per_update * step
                val = float(problem.loss(average.model, "val"))
                curves[f"{method}_ema{d:g}"].append(
                    record | {"flops": charged, "train_loss": None, "val_loss": val}
                )
    return method, seed, curves


def comparisons(decays: list[float]) -> list[tuple[str, str]]:
    pairs = [("adam", "dmd")]
    for d in decays:
        pairs += [("adam", f"adam_ema{d:g}"), (f"adam_ema{d:g}", f"dmd_ema{d:g}")]
    return pairs


def markdown(profiles: list[dict]) -> str:
    lines = [
        "| Adam's FLOPs so far | "
        + " | ".join(f"{p['method']} vs {p['base']}" for p in profiles)
        + " |",
        "|---" * (len(profiles) + 1) + "|",
    ]
    for i, fraction in enumerate(PROFILE_FRACTIONS):
        cells = []
        for p in profiles:
            row = p["summary"][i]
            cells.append("-" if row["mean"] is None else f"{row['mean']:.2f} ({row['reached']})")
        lines.append(f"| {fraction:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="results/plume/dataset.npz")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--decays", type=float, nargs="+", default=[0.99, 0.998])
    parser.add_argument(
        "--methods", nargs="+", choices=["adam", "dmd"], default=["adam", "dmd"],
        help="the runs to train (default both); compare one with another file's curves "
        "by bench/phases.py --base-from",
    )  # fmt: skip
    parser.add_argument("--spec", default="{}", help="train spec (JSON) over the defaults")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (default 2)")
    parser.add_argument("--out", default="bench/results/averaging.json")
    args = parser.parse_args(argv)
    try:
        given = json.loads(args.spec)
        if not isinstance(given, dict):
            raise ValueError(f"must be a JSON object, got {args.spec!r}")
        spec = resolve_spec(given)
    except (json.JSONDecodeError, ValueError) as err:
        parser.error(f"--spec: {err}")
    if spec["flop_budget"] or spec["stop_val_loss"]:
        parser.error("--spec: the runs go to train.steps; flop_budget and stop_val_loss must be 0")
    if spec["ema"]:
        parser.error("--spec: train.ema must be 0; this bench keeps its own averages (--decays)")
    bad = [d for d in args.decays if not 0 < d < 1]
    if bad:
        parser.error(f"--decays must lie in (0, 1), got {bad}")
    names = [f"{d:g}" for d in args.decays]
    if len(set(names)) < len(names):
        parser.error(f"--decays must differ in their first 6 digits, got {names}")
    if not Path(args.dataset).exists():
        parser.error(f"--dataset {args.dataset} does not exist (make it with `make run`)")
    spec["device"] = "cpu"  # one torch thread per run, as bench/training.py
    methods = list(dict.fromkeys(args.methods))
    jobs = [(m, s, spec, args.dataset, args.decays) for m in methods for s in args.seeds]
    curves: dict[str, dict[str, list]] = {}
    for _, seed, by_name in run_jobs(train_with_averages, jobs, workers=args.jobs, desc="runs"):
        for name, records in by_name.items():
            curves.setdefault(name, {})[str(seed)] = records
    # The comparisons between the runs trained here (none with one method).
    pairs = [(b, r) for b, r in comparisons(args.decays) if b in curves and r in curves]
    profiles = [analyse({"curves": curves}, b, r) for b, r in pairs]
    finals = {
        name: [by_seed[str(s)][-1]["val_loss"] for s in args.seeds]
        for name, by_seed in curves.items()
    }
    result = {
        "dataset": args.dataset,
        "spec": spec,
        "seeds": args.seeds,
        "decays": args.decays,
        "methods": methods,
        "machine": machine("cpu"),
        "final_val_loss": finals,
        "profiles": profiles,
        "curves": curves,
    }
    write_result(args.out, result)
    if profiles:
        print(markdown(profiles))
    for name, values in finals.items():
        print(f"{name}: final validation loss " + " / ".join(f"{v:.5f}" for v in values))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
