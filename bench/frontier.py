"""Benchmark: FLOPs to reach a validation loss when the length of the schedule is tuned too.

    .venv/bin/python bench/frontier.py --dataset results/plume/dataset.npz \\
        --seeds 0 1 2 --out bench/results/frontier.json     # about 8 min per method

On a decaying schedule the loss at step s of a T-step run is not the lowest loss s steps can
reach: a run whose cosine ends at step s ends lower. bench/training.py compares both methods
on one schedule length, so its targets sit on one curve of each. Here each method (plain Adam
and the DMD method, the spec's optimizer and accelerator settings, or several DMD variants
given by ``--variants``) trains with the cosine
stretched over each of ``--budgets`` steps, every seed, and the cost of a loss level is the
lowest over all of that method's runs of the seed: the FLOPs of the first record at or below it
(the lower envelope of the curves, so a method may stop any run early). Levels: the final
validation loss of every run of every method. Speed-up = Adam's envelope FLOPs / the DMD
method's, all overheads counted (surrogate/flops.py). Each run is a separate process with one
torch thread; two run at a time. ``--merge`` trains nothing and takes the envelopes over the
runs of several earlier outputs (another learning rate, say: a baseline tuned per length);
``--variants '{}'`` trains Adam alone, e.g. longer schedules to merge with them. With
``--merge``, ``--plot PNG`` draws each method's envelope and the speed-up against the loss
level, per seed, on a grid of levels between the runs' final losses (kept as ``profile``):

    .venv/bin/python bench/frontier.py --merge bench/results/frontier_b1024_lr2e-2_patience5.json \
        bench/results/frontier_b1024_lr1e-2_patience5.json --plot frontier.png
"""

import argparse
import json
from pathlib import Path

import numpy as np
from training import (
    NOT_READ_BY_ADAM,
    _run,
    add_spec_arguments,
    cost_to,
    final_val,
    given_spec,
    jump_counts,
    machine,
    read_result,
    spread,
    thin,
    with_defaults,
    write_result,
)

from surrogate.methods import scaled_windows
from surrogate.parallel import run_jobs
from surrogate.spec import resolve_spec


def variant_settings(settings: dict, budgets: list[int]) -> dict[int, dict]:
    """train.dmd settings of a variant per schedule length: ``settings`` less its optional
    ``by_budget`` (schedule length -> settings over the rest, e.g. a stride that grows with
    the schedule). ValueError naming a length that is not one of ``budgets``."""
    if not isinstance(settings, dict):
        raise ValueError(f"settings must be a mapping, got {settings!r}")
    common = {k: v for k, v in settings.items() if k != "by_budget"}
    by_budget = settings.get("by_budget", {})
    if not isinstance(by_budget, dict):
        raise ValueError(f"by_budget must map schedule lengths to settings, got {by_budget!r}")
    try:
        by_budget = {int(b): s for b, s in by_budget.items()}
    except ValueError:
        raise ValueError(f"by_budget keys must be step counts, got {sorted(by_budget)}") from None
    unknown = sorted(set(by_budget) - set(budgets))
    if unknown:
        raise ValueError(f"by_budget names schedule length(s) {unknown}; --budgets are {budgets}")
    for b, s in by_budget.items():
        if not isinstance(s, dict):
            raise ValueError(f"by_budget[{b}] must be a mapping of settings, got {s!r}")
    return {b: common | by_budget.get(b, {}) for b in budgets}


def envelope_cost(curves: list[list[dict]], target: float) -> float | None:
    """Fewest FLOPs at which any of ``curves`` first has a validation loss <= ``target``."""
    costs = [cost_to(c, "val_loss", target)[0] for c in curves]
    reached = [c for c in costs if c is not None]
    return min(reached) if reached else None


# Spec keys plain Adam's runs here do not read, and every run's steps are its budget: an
# earlier output that differs only in these has the same Adam curves.
NOT_ADAM = (*NOT_READ_BY_ADAM, "steps")


def reused_adam(
    path: str, dataset: str, spec: dict, budgets: list[int], seeds: list[int]
) -> tuple[dict, dict]:
    """Adam's curves and finals (as ``main`` builds them) from an earlier output of this
    bench. ValueError naming the spec key that differs, or a budget or seed it lacks."""
    earlier = read_result(path)
    if earlier["dataset"] != dataset:
        raise ValueError(f"{path} was run on {earlier['dataset']}, not {dataset}")
    theirs = {k: v for k, v in with_defaults(earlier["spec"]).items() if k not in NOT_ADAM}
    ours = {k: v for k, v in with_defaults(spec).items() if k not in NOT_ADAM}
    differ = sorted(k for k in theirs.keys() | ours.keys() if theirs.get(k) != ours.get(k))
    if differ:
        raise ValueError(f"{path} was run with another spec (keys {differ} differ)")
    curves, finals = {}, {}
    for b in budgets:
        for s in seeds:
            label = f"adam_T{b}"
            if str(s) not in earlier["curves"].get(label, {}):
                raise ValueError(f"{path} has no Adam run of {b} steps for seed {s}")
            curves.setdefault(b, {})[s] = earlier["curves"][label][str(s)]
            finals.setdefault(label, {})[str(s)] = earlier["final"][label][str(s)]
    return curves, finals


def merged_runs(paths: list[str]) -> tuple[dict, list[int]]:
    """Every run of earlier outputs of this bench (other optimizer settings, say) by method
    and by ``"{length}@{file stem}"``, so that each method's envelope spans all of them, and
    the seeds. ValueError if they were run on other datasets or seeds, or lack Adam."""
    runs: dict[str, dict[str, dict[int, list[dict]]]] = {}
    datasets, seeds = set(), None
    for path in paths:
        earlier = read_result(path)
        datasets.add(earlier["dataset"])
        if seeds is not None and sorted(earlier["seeds"]) != seeds:
            raise ValueError(f"{path} has seeds {earlier['seeds']}, the files before it {seeds}")
        seeds = sorted(earlier["seeds"])
        for label, by_seed in earlier["curves"].items():
            method, budget = label.rsplit("_T", 1)
            key = f"{budget}@{Path(path).stem}"
            runs.setdefault(method, {})[key] = {int(s): c for s, c in by_seed.items()}
    if len(datasets) > 1:
        raise ValueError(f"the files were run on different datasets: {sorted(datasets)}")
    if "adam" not in runs:
        raise ValueError("none of the files has Adam's runs")
    return runs, seeds


def levels(runs: dict, seed: int) -> dict[str, float]:
    """The loss levels of a seed: every run's final validation loss, named by method and T."""
    return {
        f"{method}_T{budget}": final_val(curve)
        for method, by_budget in runs.items()
        for budget, by_seed in by_budget.items()
        for s, curve in by_seed.items()
        if s == seed
    }


def frontier_table(runs: dict, seeds: list[int]) -> dict:
    """Per level and seed: each method's envelope FLOPs and, for every method but Adam, its
    speed-up over Adam (``speedup`` maps method -> FLOP speed-up or None)."""
    table = {}
    for seed in seeds:
        for name, target in levels(runs, seed).items():
            row = {"target": target}
            for method, by_budget in runs.items():
                row[method] = envelope_cost([c[seed] for c in by_budget.values()], target)
            base = row["adam"]
            row["speedup"] = {
                m: base / row[m] if base and row[m] else None for m in runs if m != "adam"
            }
            table.setdefault(name, {})[str(seed)] = row
    return table


def envelope_profile(runs: dict, seeds: list[int], n_levels: int = 60) -> dict:
    """Per seed, on a geometric grid of ``n_levels`` validation losses from the highest final
    loss of any run to the lowest loss any run reaches (one level if those are equal): each
    method's envelope FLOPs there (None where none of its runs gets that low)."""
    out = {}
    for seed in seeds:
        curves = {m: [c[seed] for c in by_budget.values()] for m, by_budget in runs.items()}
        every = [c for cs in curves.values() for c in cs]
        top = max(final_val(c) for c in every)
        bottom = min(r["val_loss"] for c in every for r in c if r["val_loss"] is not None)
        grid = np.geomspace(top, bottom, n_levels).tolist() if bottom < top else [top]
        out[str(seed)] = {
            "level": grid,
            **{m: [envelope_cost(cs, level) for level in grid] for m, cs in curves.items()},
        }
    return out


def plot_profile(profile: dict, path: str | Path) -> None:
    """Two panels: each method's envelope FLOPs against the loss level, per seed, and the
    FLOP speed-up of every other method over Adam at each level both reach."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    styles = ["-", "--", ":", "-."]
    for i, (seed, row) in enumerate(profile.items()):
        style = styles[i % len(styles)]
        methods = [m for m in row if m != "level"]
        for j, m in enumerate(methods):
            label = f"{m}, seed {seed}"
            pts = [(x, y) for x, y in zip(row["level"], row[m], strict=True) if y is not None]
            left.plot(*zip(*pts, strict=True), style, color=f"C{j}", label=label)
            ratio = [
                (x, a / b)
                for x, a, b in zip(row["level"], row["adam"], row[m], strict=True)
                if a and b
            ]
            if m != "adam" and ratio:
                right.plot(*zip(*ratio, strict=True), style, color=f"C{j}", label=label)

    def label_125(axis, values, fmt):
        """Label a log axis at 1, 2 and 5 times the powers of ten in the values' range (the
        default labels of a range under a decade are one or none, or overlap); matplotlib's
        own where fewer than two fall in it."""
        ticks = [
            m * 10.0**e
            for e in range(-12, 16)
            for m in (1, 2, 5)
            if min(values) <= m * 10.0**e <= max(values)
        ]
        if len(ticks) >= 2:
            axis.set_minor_formatter(NullFormatter())
            axis.set_ticks(ticks, [fmt(t) for t in ticks])

    levels = [x for row in profile.values() for x in row["level"]]
    for ax in (left, right):
        ax.set_xscale("log")
        label_125(ax.xaxis, levels, lambda t: f"{t:g}")
        ax.invert_xaxis()
        ax.set_xlabel("validation loss level (lower to the right)")
        ax.grid(True, which="both", alpha=0.3)
    left.set_yscale("log")
    flops = [
        y for row in profile.values() for m, ys in row.items() if m != "level" for y in ys if y
    ]
    label_125(left.yaxis, flops, lambda t: f"{t:.0e}".replace("e+", "e"))
    left.set_ylabel("FLOPs to reach it (cheapest run of any length)")
    right.axhline(1.0, color="k", lw=0.8)
    right.set_ylabel("FLOP speed-up over Adam")
    left.legend(fontsize=7, ncol=2)
    if right.lines[1:]:  # more than the line at 1: some method besides Adam
        right.legend(fontsize=7)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def summarise(table: dict) -> dict:
    out = {}
    for name, by_seed in table.items():
        rows = list(by_seed.values())
        methods = [m for m in rows[0] if m not in ("target", "speedup")]
        out[name] = {
            "target": [r["target"] for r in rows],
            "reached": {m: f"{sum(r[m] is not None for r in rows)}/{len(rows)}" for m in methods},
            "flops_speedup": {},
        }
        for m in rows[0]["speedup"]:
            speedups = [r["speedup"][m] for r in rows if r["speedup"][m] is not None]
            out[name]["flops_speedup"][m] = spread(speedups)
    return out


def markdown(summary: dict) -> str:
    methods = list(next(iter(summary.values()))["flops_speedup"])
    lines = [
        "| level (a run's final val loss) | loss | "
        + " | ".join(f"{m} speed-up (reached)" for m in methods)
        + " |",
        "|---|---" + "|---" * len(methods) + "|",
    ]
    for name, row in summary.items():
        cells = []
        for m in methods:
            s = row["flops_speedup"][m]
            cell = "-" if s["mean"] is None else f"{s['mean']:.2f}x [{s['min']:.2f}-{s['max']:.2f}]"
            cells.append(f"{cell} ({row['reached'][m]}; Adam {row['reached']['adam']})")
        loss = f"{min(row['target']):.5f}-{max(row['target']):.5f}"
        lines.append(f"| {name} | {loss} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="results/plume/dataset.npz")
    add_spec_arguments(parser)
    parser.add_argument("--budgets", type=int, nargs="+", default=[1625, 3250, 6500, 13000, 26000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--variants",
        default='{"dmd": {}}',
        help="JSON: method name -> train.dmd settings over the spec's, one DMD method each; "
        'a "by_budget" key maps schedule lengths to settings over those; {} trains Adam '
        "alone (for --merge with other files)",
    )
    parser.add_argument(
        "--adam-from",
        metavar="JSON",
        help="take Adam's curves from an earlier output of this bench (same spec but for the "
        "settings Adam does not use, and every budget and seed) instead of training them again",
    )
    parser.add_argument(
        "--merge",
        metavar="JSON",
        nargs="+",
        help="train nothing: the frontier over every run of these earlier outputs (each "
        "method's envelope over all its runs in them, e.g. at two learning rates); written "
        "only with --out",
    )
    parser.add_argument(
        "--plot",
        metavar="PNG",
        help="with --merge: each method's envelope FLOPs and the speed-up against the loss "
        "level, per seed",
    )
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", help="default bench/results/frontier.json (none with --merge)")
    args = parser.parse_args(argv)
    if args.plot and not args.merge:
        parser.error("--plot draws the envelopes of --merge; give it the files to merge")
    if args.merge:
        try:
            runs, seeds = merged_runs(args.merge)
        except (OSError, json.JSONDecodeError, KeyError, ValueError) as err:
            parser.error(f"--merge: {err}")
        table = frontier_table(runs, seeds)
        summary = summarise(table)
        profile = envelope_profile(runs, seeds)
        print(markdown(summary))
        if args.out:
            write_result(
                args.out,
                {
                    "merged": args.merge,
                    "seeds": seeds,
                    "summary": summary,
                    "per_seed": table,
                    "profile": profile,
                },
            )
            print(f"wrote {args.out}")
        if args.plot:
            plot_profile(profile, args.plot)
            print(f"wrote {args.plot}")
        return
    args.out = args.out or "bench/results/frontier.json"

    try:
        spec = resolve_spec(given_spec(parser, args) | {"threads": 1})
        variants = json.loads(args.variants)
    except (json.JSONDecodeError, ValueError) as err:
        parser.error(f"--spec / --variants: {err}")
    spec["device"] = "cpu"  # the timings and the JSON's machine are the CPU's
    if spec["optimizer"]["schedule"] != "cosine":
        parser.error(
            f"the spec's schedule is {spec['optimizer']['schedule']!r}; the envelope over "
            "schedule lengths is only meaningful for a decaying one ('cosine')"
        )
    bad = [b for b in args.budgets if b < 1]
    if bad:
        parser.error(f"--budgets must be >= 1 steps, got {bad}")
    if not isinstance(variants, dict) or "adam" in variants:
        parser.error(f"--variants must map names other than 'adam' to settings, got {variants!r}")
    if not variants and args.adam_from:
        parser.error(
            "--variants {} trains Adam alone, which --adam-from would reuse: nothing to run"
        )
    # Longest first, so that the slowest runs do not start last.
    budgets = sorted(set(args.budgets), reverse=True)
    # specs[name][budget] = (method, the run's spec)
    specs = {"adam": {b: ("adam", spec | {"steps": b}) for b in budgets}}
    for name, settings in variants.items():
        try:
            specs[name] = {
                b: ("dmd", resolve_spec(spec | {"steps": b, "dmd": spec["dmd"] | s}))
                for b, s in variant_settings(settings, budgets).items()
            }
        except (TypeError, ValueError) as err:
            parser.error(f"--variants {name!r}: {err}")
    runs: dict[str, dict[int, dict[int, list[dict]]]] = {name: {} for name in specs}
    finals = {}
    if args.adam_from:
        try:
            runs["adam"], finals = reused_adam(
                args.adam_from, args.dataset, spec, budgets, args.seeds
            )
        except (OSError, json.JSONDecodeError, ValueError) as err:
            parser.error(f"--adam-from: {err}")
    jobs = [
        (f"{name}_T{b}", by_budget[b][0], s, by_budget[b][1], args.dataset)
        for b in budgets
        for name, by_budget in specs.items()
        if not (name == "adam" and args.adam_from)
        for s in args.seeds
    ]
    done = run_jobs(_run, jobs, workers=args.jobs, desc="training runs")
    for (label, _, seed, run_spec, _), (_, _, records, rel) in zip(jobs, done, strict=True):
        name = label.rsplit("_T", 1)[0]
        runs[name].setdefault(run_spec["steps"], {})[seed] = records
        finals.setdefault(label, {})[str(seed)] = {
            "val_loss": final_val(records),
            "flops": records[-1]["flops"],
            "wall_s": records[-1]["wall_s"],
            "test_rel_l2": rel,
            **jump_counts(records),
        }
    table = frontier_table(runs, args.seeds)
    summary = summarise(table)
    result = {
        "dataset": args.dataset,
        "spec": spec,
        "adam_from": args.adam_from,
        "budgets": budgets,
        # The settings each run used, with stride and horizon as reference_steps scaled them.
        "variants": {
            name: {
                str(b): scaled_windows(run_spec["dmd"], b) for b, (_, run_spec) in by_budget.items()
            }
            for name, by_budget in specs.items()
            if name != "adam"
        },
        "seeds": args.seeds,
        "machine": machine("cpu"),
        "summary": summary,
        "per_seed": table,
        "final": finals,
        "curves": {
            f"{m}_T{b}": {str(s): thin(c) for s, c in by_seed.items()}
            for m, by_budget in runs.items()
            for b, by_seed in by_budget.items()
        },
    }
    write_result(args.out, result)
    print(markdown(summary))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
